"""A run's identity names what it computes, not where its files sit: the same corpus in two folders,
or behind another cache folder, is the same run; records name no folder of the training machine;
and no id ever changes (every committed record is found again under its own)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from harness import records
from harness.config import as_dict
from tests.helpers import make_config

CORPUS = "The first novel.\n\nA second paragraph here.\n\nAnd a third one, to split on.\n"
RESULTS = Path(__file__).resolve().parents[2] / "results"


def _text_cfg(path, cache):
    return make_config(["data=text_files", f"data.paths=[{path}]", f"data.cache_dir={cache}"])


def test_run_id_ignores_the_corpus_folder_and_the_cache_folder(tmp_path):
    a, b = tmp_path / "a" / "corpus.txt", tmp_path / "b" / "corpus.txt"
    for p in (a, b):
        p.parent.mkdir()
        p.write_text(CORPUS)
    same = {records.run_id_of(_text_cfg(a, tmp_path / "c1")), records.run_id_of(_text_cfg(b, tmp_path / "c2"))}
    assert len(same) == 1
    b.write_text(CORPUS + "An edit.\n")
    assert records.run_id_of(_text_cfg(b, tmp_path / "c2")) not in same


def test_a_record_writes_the_default_cache_folder_relative_to_home(tmp_path):
    home = os.path.expanduser("~")
    d = as_dict(_text_cfg(tmp_path / "corpus.txt", os.path.join(home, ".cache", "harness")))
    assert records.portable_config(d)["data"]["cache_dir"] == os.path.join("~", ".cache", "harness")
    other = as_dict(_text_cfg(tmp_path / "corpus.txt", tmp_path / "cache"))
    assert records.portable_config(other)["data"]["cache_dir"] == str(tmp_path / "cache")


# The ids below were computed before the records were split into a package: the hash is the contract.
BASE = {"model": {"n_layer": 2, "d_model": 32, "name": "ladder_2xs"},
        "train": {"tokens": 1000, "evals_per_run": 10, "threads": 4},
        "schedule": {"name": "wsd", "decay_shape": "linear", "branches": [1, 2]},
        "out_dir": "results", "device": "cpu", "data": {"kind": "synthetic", "cache_dir": "/somewhere"}}


def _with(**changes):
    d = copy.deepcopy(BASE)
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        node = d
        for p in parents:
            node = node[p]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return d


@pytest.mark.parametrize("changes, expected", [
    ({}, "1608bdb1bbfd967f"),
    # where it writes, on what, under which name, with which cache and branches: the same run
    ({"out_dir": "elsewhere", "device": "cuda", "model__name": "x", "data__cache_dir": "/y",
      "train__threads": 1, "schedule__branches": []}, "1608bdb1bbfd967f"),
    # keys added later, absent: the id they had at their default
    ({"schedule__decay_shape": None, "train__evals_per_run": None}, "1608bdb1bbfd967f"),
    ({"schedule__decay_shape": "sqrt"}, "aaf8ba5a26fb2316"),
    ({"train__tokens": 2000}, "9954939a2281ea8e"),
])
def test_the_run_id_of_a_config_is_what_it_always_was(changes, expected):
    assert records.run_id_of(_with(**changes)) == expected


def test_every_committed_record_hashes_to_its_own_run_id():
    # Records on local text hash the files' content as well, which lives outside the repository.
    checked = 0
    for sweep in sorted(p for p in RESULTS.iterdir() if (p / "runs").is_dir()):
        for path in records.iter_record_paths(sweep):
            rec = records.read_record(path)
            if rec.config["data"].get("kind") == "text" and rec.config["data"].get("paths"):
                continue
            assert records.run_id_of(rec.config) == rec.run_id == path.stem, path
            checked += 1
    assert checked >= 150


def test_a_record_names_shared_data_by_the_folder_and_keeps_its_run_id(tmp_path, monkeypatch):
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    (shared / "corpus.txt").write_text(CORPUS)
    monkeypatch.setenv("HARNESS_SHARED_DATA", str(shared))
    d = as_dict(_text_cfg(shared / "corpus.txt", tmp_path / "cache"))
    kept = records.portable_config(d)
    assert kept["data"]["paths"] == ["$HARNESS_SHARED_DATA/corpus.txt"]
    assert d["data"]["paths"] == [str(shared / "corpus.txt")]  # the live config is left as it was
    # the recorded config finds the same file again, so the id computed from it is the run's own
    assert records.run_id_of(kept) == records.run_id_of(d)
    monkeypatch.setenv("HARNESS_SHARED_DATA", str(tmp_path / "nowhere"))
    assert records.run_id_of(kept) != records.run_id_of(d)
