"""harness-fit given run records directly (issue 22): a single record file, a sweep's runs/ folder or
several record files are read as records, where before a record was read as a CSV ("columns are:
{") and a runs/ folder as open_lm results ("not an open_lm result file")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli.fit import main
from harness.errors import FitInputError
from harness.fit.loaders import load_any, load_sweep
from harness.fit.loaders.sweepdir import record_files
from harness.fit.points import concat

DEMO = Path(__file__).resolve().parents[3] / "results" / "demo"


@pytest.fixture
def sweep(tmp_path) -> Path:
    shutil.copytree(DEMO / "runs", tmp_path / "demo" / "runs")
    return tmp_path / "demo"


def _points(pts):
    return sorted(zip(pts.labels, pts.n, pts.d, pts.c, pts.loss))


def test_a_runs_folder_is_its_sweep(sweep):
    pts = load_any(sweep / "runs")
    whole = load_sweep(sweep)
    assert len(pts) == 12 and _points(pts) == _points(whole) and pts.floor == whole.floor
    assert pts.source == str(sweep / "runs") and pts.group == whole.group


def test_one_record_file_is_one_point_and_several_are_several(sweep):
    files = sorted((sweep / "runs").glob("*.json"))
    one = load_any(files[0])
    rec = json.loads(files[0].read_text())
    assert _points(one) == [(rec["run_id"], rec["params"]["total"], rec["tokens"], rec["flops"]["6ND"],
                             rec["val_loss"])]
    # harness-fit runs/*.json: each file a point, together the sweep.
    together = concat([load_any(f) for f in files])
    assert sorted(together.loss) == sorted(load_sweep(sweep).loss)


def test_a_record_outside_a_runs_folder_and_a_folder_of_records_are_records_too(sweep, tmp_path):
    copied = tmp_path / "kept"
    shutil.copytree(sweep / "runs", copied)
    assert len(load_any(copied)) == 12
    single = tmp_path / "one.json"
    shutil.copy(sorted(copied.glob("*.json"))[0], single)
    assert len(load_any(single)) == 1


def test_what_is_not_records_is_left_to_the_other_loaders(tmp_path, sweep):
    (tmp_path / "p.csv").write_text("N,D,loss\n1e6,1e8,3\n")
    (tmp_path / "openlm").mkdir()
    (tmp_path / "openlm" / "run.json").write_text(json.dumps({"name": "run", "hyperparameters": {}, "results": []}))
    (tmp_path / "other.json").write_text("{}")
    assert [record_files(p) for p in (tmp_path / "p.csv", tmp_path / "openlm", sweep, tmp_path / "other.json",
                                      tmp_path / "nope")] == [None] * 5


@pytest.mark.parametrize("text, reason", [
    ('{"run_id": "x", "curve": [', "not valid JSON (Expecting value at line 1)"),
    (None, "flops is [], not an object"),
    ("failed", "run {rid} did not complete (failed), nothing to fit"),
    ("negative", "val_loss is -1.0; it must be positive"),
])
def test_a_record_file_given_alone_that_cannot_be_fitted_is_its_own_one_line(sweep, text, reason):
    bad = sorted((sweep / "runs").glob("*.json"))[0]
    d = json.loads(bad.read_text())
    changes = {None: {"flops": []}, "failed": {"status": "failed"}, "negative": {"val_loss": -1.0}}
    bad.write_text(json.dumps({**d, **changes[text]}) if text in changes else text)
    with pytest.raises(FitInputError) as e:
        load_any(bad)
    assert str(e.value) == f"{bad}: {reason.format(rid=d['run_id'])}"


def test_harness_fit_on_a_runs_folder_fits_the_sweep(sweep, capsys):
    assert main([str(sweep / "runs"), "--law", "kaplan", "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fit of 12 points") and "kaplan:" in out


def test_harness_fit_on_one_record_says_in_one_line_that_one_point_is_too_few(sweep, capsys):
    one = sorted((sweep / "runs").glob("*.json"))[0]
    assert main([str(one), "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "columns are" not in err
    assert err.startswith("harness-fit: error: no law could be fitted: ") and "got 1" in err
