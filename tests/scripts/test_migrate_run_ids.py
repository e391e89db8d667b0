"""scripts/migrate_run_ids.py: a record made under an older run identity gets today's id only when
its data is provably the same; one whose corpus has changed keeps its old name."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from harness import files, records
from harness.run.train import run
from tests.helpers import TINY, make_config

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "migrate_run_ids.py"
pytestmark = pytest.mark.slow  # each trains a tiny text run (about 3 s)

CORPUS = "".join(f"Paragraph {i} of a tiny corpus, with some words in it.\n\n" for i in range(200))


def _script():
    spec = importlib.util.spec_from_file_location("migrate_run_ids", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _old_style(tmp_path):
    """A real record of a tiny text run, renamed to an id the current identity does not give."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS)
    cfg = make_config(["data=text_files", f"data.paths=[{corpus}]", "data.vocab_size=300",
                       f"data.cache_dir={tmp_path / 'cache'}", "data.val_fraction=0.2", *TINY, "data.val_sequences=8"], tmp_path)
    rec = run(cfg)
    assert rec.status == "completed"
    path = records.record_path(tmp_path, "default", rec.run_id)
    old = records.record_path(tmp_path, "default", "0123456789abcdef")
    files.atomic_write_text(old, records.record_json(dataclasses.replace(rec, run_id="0123456789abcdef")))
    path.unlink()
    return corpus, rec.run_id, old


def test_a_record_on_unchanged_data_moves_to_its_current_id(tmp_path, capsys):
    _, true_id, old = _old_style(tmp_path)
    mig = _script()
    assert mig.main([str(tmp_path / "default")]) == 0  # a dry run moves nothing
    assert old.exists() and "would move 0123456789abcdef.json -> " + true_id in capsys.readouterr().out
    assert mig.main([str(tmp_path / "default"), "--write"]) == 0
    assert not old.exists()
    moved = records.read_record(records.record_path(tmp_path, "default", true_id))
    assert moved.run_id == true_id and moved.status == "completed"


def test_a_record_whose_corpus_changed_keeps_its_name(tmp_path, capsys):
    corpus, _, old = _old_style(tmp_path)
    corpus.write_text(CORPUS + "One more paragraph, so the data is no longer what trained.\n")
    assert _script().main([str(tmp_path / "default"), "--write"]) == 0
    assert old.exists()
    assert "data changed since it trained" in capsys.readouterr().out
