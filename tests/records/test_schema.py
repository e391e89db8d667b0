"""A record's fields are read as the types they are declared with (issue 22): a field of the wrong
type is a one-line RecordError naming the file and the field, so a reader skips the file and a
sweep moves it aside, where before it passed and ended in a traceback wherever it was first used;
nothing a run writes is refused, and a good record is never touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import records

RESULTS = Path(__file__).resolve().parents[2] / "results"
GOOD = next(records.iter_record_paths(RESULTS / "demo"))


def _with(change) -> dict:
    d = json.loads(GOOD.read_text())
    change(d)
    return d


@pytest.mark.parametrize("change, reason", [
    (lambda d: d.update(tokens="abc"), "tokens is 'abc', not an integer"),
    (lambda d: d.update(curve=5), "curve is 5, not a list"),
    (lambda d: d["curve"][1].update(val_loss="x"), "curve point 1: val_loss is 'x', not a number"),
    (lambda d: d.update(flops=[]), "flops is [], not an object"),
    (lambda d: d["flops"].update({"6ND": "many"}), "flops.6ND is 'many', not a number"),
    (lambda d: d["params"].update(total=1.5), "params.total is 1.5, not an integer"),
    (lambda d: d.update(tokens=True), "tokens is True, not an integer"),  # JSON's true is not 1
    (lambda d: d.update(val_loss=False), "val_loss is False, not a number"),
    (lambda d: d.update(steps=10 ** 30), "steps is 1000000000000000000000000000000, beyond a 64-bit integer"),
    (lambda d: d.update(wall_seconds=10 ** 400), f"wall_seconds is {str(10 ** 400)[:37]}..., too large for a number"),
    (lambda d: d["curve"][0].update(lr=float("nan")), "curve point 0: lr is nan, not a finite number"),
    (lambda d: d.update(run_id=5), "run_id is 5, not a string"),
    (lambda d: d.update(config="x"), "config is 'x', not an object"),
    (lambda d: d["curve"].__setitem__(0, [1, 2]), "curve point 0: [1, 2] is not an object"),
    (lambda d: d["curve"][0].pop("lr"), "curve point 0: missing key(s) lr"),
    (lambda d: d["curve"][0].update(loss=1.0), "curve point 0: unknown key(s) loss"),
    (lambda d: d.update(status="done"), "status 'done' is not one of completed, diverged, failed"),
])
def test_a_field_of_the_wrong_type_is_one_line_naming_the_file_and_the_field(tmp_path, change, reason):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_with(change)))
    with pytest.raises(records.RecordError) as e:
        records.read_record(path)
    assert str(e.value) == f"{path}: {reason}"


def test_numbers_that_are_not_finite_read_as_null_where_null_is_allowed(tmp_path):
    # A NaN or Infinity literal (not strict JSON, but Python writes it) or 1e999 is what the writer
    # would have written as null.
    text = json.dumps(_with(lambda d: d.update(val_loss=float("nan"), mfu=float("inf"), bayes_loss="big")))
    assert "NaN" in text and "Infinity" in text
    path = tmp_path / "r.json"
    path.write_text(text.replace('"big"', "1e999"))
    rec = records.read_record(path)
    assert (rec.val_loss, rec.mfu, rec.bayes_loss) == (None, None, None)
    assert rec.tokens == records.read_record(GOOD).tokens


def test_every_committed_record_reads():
    # What the runs wrote (some records predate fields added since) is never refused.
    paths = sorted(RESULTS.glob("**/runs/*.json"))
    assert len(paths) > 300
    assert all(records.read_record(p).run_id == p.stem for p in paths)


def test_a_restarted_sweep_moves_a_mistyped_record_aside_and_leaves_the_good_ones_byte_for_byte(tmp_path):
    runs = tmp_path / "demo" / "runs"
    runs.mkdir(parents=True)
    committed = list(records.iter_record_paths(RESULTS / "demo"))[:3]
    for p in committed:
        (runs / p.name).write_bytes(p.read_bytes())
    bad = runs / committed[0].name
    bad.write_text(json.dumps(_with(lambda d: d.update(flops=[]))))
    # A reader that only looks names it and leaves it in place ...
    good, skipped = records.scan_sweep(tmp_path / "demo")
    assert [r.run_id for r in good] == [p.stem for p in committed[1:]]
    assert skipped == [(bad, "flops is [], not an object")]
    # ... the sweep's restart moves it aside (the run counts as not done) ...
    assert records.find_record(tmp_path, "demo", committed[0].stem) is None
    assert not bad.exists() and (runs / (bad.name + ".corrupt")).read_text() == json.dumps(_with(lambda d: d.update(flops=[])))
    # ... and every good record is as it was.
    for p in committed[1:]:
        assert (runs / p.name).read_bytes() == p.read_bytes()
        assert records.find_record(tmp_path, "demo", p.stem) == records.read_record(p)


def test_a_fallback_record_of_the_wrong_type_is_not_adopted(tmp_path):
    rec = records.read_record(GOOD)
    kept = records.fallback_record_paths(tmp_path, rec.sweep_name, rec.run_id)[0]
    kept.parent.mkdir(parents=True)
    kept.write_text(json.dumps(_with(lambda d: d.update(curve=5))))
    assert records.adopt_fallback_record(tmp_path, rec.sweep_name, rec.run_id) is None
    assert kept.exists() and not records.record_path(tmp_path, rec.sweep_name, rec.run_id).exists()
