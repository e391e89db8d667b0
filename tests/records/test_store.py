"""The results store: a record is written back byte for byte as committed, read through one
check, and an unwritable results folder is said before a run starts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness import records

RESULTS = Path(__file__).resolve().parents[2] / "results"


def test_a_committed_record_is_written_back_byte_for_byte(tmp_path):
    for committed in list(records.iter_record_paths(RESULTS / "demo"))[:3]:
        rec = records.read_record(committed)
        written = records.write_record(rec, tmp_path)
        assert written == records.record_path(tmp_path, "demo", rec.run_id)
        assert written.read_bytes() == committed.read_bytes()


def test_a_diverged_run_s_infinite_losses_are_written_as_null_and_read_as_none(tmp_path):
    rec = records.read_record(next(records.iter_record_paths(RESULTS / "demo")))
    rec = dataclasses.replace(rec, status="diverged", val_loss=float("inf"),
                              curve=[dataclasses.replace(rec.curve[0], train_loss=float("nan"))])
    path = records.write_record(rec, tmp_path)
    assert '"val_loss": null' in path.read_text() and "NaN" not in path.read_text()
    back = records.read_record(path)
    assert (back.status, back.val_loss, back.curve[0].train_loss) == ("diverged", None, None)


@pytest.mark.parametrize("raw, reason", [
    (b'{"run_id": ', "not valid JSON (Expecting value at line 1)"),
    (b"\xff\xfe", "not valid JSON (not UTF-8 text)"),
    (b"[1, 2]", "a run record must be a JSON object"),
    (b'{"run_id": "x"}', "run record is missing key(s) bayes_loss"),
])
def test_an_unreadable_record_is_one_line_naming_the_file(tmp_path, raw, reason):
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    with pytest.raises(records.RecordError) as exc:
        records.read_record(path)
    assert str(exc.value).startswith(f"{path}: {reason}") and "\n" not in str(exc.value)


def test_a_writable_results_folder_passes_and_gets_no_folders_from_the_check(tmp_path):
    records.check_writable(tmp_path / "out", "s")
    assert list(tmp_path.iterdir()) == []


def test_a_file_where_the_locks_folder_should_be_stops_the_run(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "locks").write_text("")
    with pytest.raises(records.ResultsNotWritable) as exc:
        records.check_writable(tmp_path, "s")
    locks = tmp_path / "s" / "locks"
    assert str(exc.value) == f"cannot write to {locks}: {locks} is not a folder"
