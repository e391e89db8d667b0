"""A run's identity names what it computes, not where its files sit: the same corpus in two folders,
or behind another cache folder, is the same run; records name no folder of the training machine."""

from __future__ import annotations

import os

from harness import records
from harness.config import as_dict
from tests.helpers import make_config

CORPUS = "The first novel.\n\nA second paragraph here.\n\nAnd a third one, to split on.\n"


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
