"""A sweep's records as points (issue 22): a record the fitter should not take at face value (a
field of the wrong type, an N, D or C that is not positive, a loss that is not a positive finite
number, a boolean or a huge integer where a number goes) is skipped with a note naming its file,
and the other runs are fitted, where before the fit ended in a traceback or stopped on the first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli.fit import main
from harness.errors import FitInputError
from harness.fit.loaders import load_sweep

DEMO = Path(__file__).resolve().parents[3] / "results" / "demo"


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A copy of the committed demo sweep's 12 records."""
    shutil.copytree(DEMO / "runs", tmp_path / "demo" / "runs")
    return tmp_path / "demo"


def _edit(path: Path, change) -> None:
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))


@pytest.mark.parametrize("change, reason", [
    # Wrong types, each a traceback before.
    (lambda d: d["curve"][1].update(val_loss="x"), "curve point 1: val_loss is 'x', not a number"),
    (lambda d: d.update(flops=[]), "flops is [], not an object"),
    (lambda d: d.update(steps="x"), "steps is 'x', not an integer"),
    (lambda d: d.update(tokens=10 ** 400), f"tokens is {str(10 ** 400)[:37]}..., beyond a 64-bit integer"),
    (lambda d: d.update(data_fingerprint=5), "data_fingerprint is 5, not a string"),
    (lambda d: d.update(tokens=True), "tokens is True, not an integer"),  # was read as 1 token
    (lambda d: d["config"]["optim"].update(lr="x"), "config.optim.lr 'x' is not a number"),
    (lambda d: d["config"]["schedule"].update(warmup_fraction="5%"),
     "config.schedule.warmup_fraction is '5%', not a number >= 0"),
    (lambda d: d["config"]["train"].update(eval_sequences=True), "config.train.eval_sequences is True, not a whole "
                                                                 "number >= 0"),
    (lambda d: d["extra"].update(warmup_steps=2.5), "extra.warmup_steps is 2.5, not a whole number >= 0"),
    (lambda d: d["config"].update(data=5), "config.data is 5, not an object"),
    # Values no run writes, each stopping the whole fit before.
    (lambda d: d.update(tokens="abc"), "tokens is 'abc', not an integer"),
    (lambda d: d["params"].update(total=-5), "params.total is -5; it must be positive"),
    (lambda d: d["flops"].update({"6ND": 0}), "flops.6ND is 0; it must be positive"),
    (lambda d: d.update(val_loss=float("nan")), "val_loss is missing"),  # NaN reads as null
    (lambda d: d.update(val_loss=-1.0), "val_loss is -1.0; it must be positive"),
    (lambda d: d["curve"][2].update(train_loss=-2.0), "curve point 2: train_loss is -2.0; it must be positive"),
    (lambda d: d.update(bayes_loss=0.0), "bayes_loss is 0.0; it must be positive"),
])
def test_a_record_the_fitter_cannot_use_is_skipped_naming_its_file(sweep, change, reason):
    bad = sorted((sweep / "runs").glob("*.json"))[0]
    _edit(bad, change)
    pts = load_sweep(sweep)
    assert len(pts) == 11 and bad.stem not in pts.labels
    assert [n for n in pts.notes if n.startswith("skipped")] == [f"skipped {bad}: {reason}"]


def test_a_status_that_is_none_of_the_known_ones_is_skipped(sweep):
    bad = sorted((sweep / "runs").glob("*.json"))[3]
    _edit(bad, lambda d: d.update(status="done"))
    pts = load_sweep(sweep)
    assert len(pts) == 11
    assert f"skipped {bad}: status 'done' is not one of completed, diverged, failed" in pts.notes


@pytest.mark.slow  # a fit with its report and plots: a few seconds
def test_harness_fit_fits_the_rest_and_names_the_file(sweep, tmp_path, capsys):
    bad = sorted((sweep / "runs").glob("*.json"))[0]
    _edit(bad, lambda d: d.update(flops=[]))
    assert main([str(sweep), "--law", "approach2", "--bootstrap", "0", "--json", str(tmp_path / "fit.json")]) == 0
    out, err = capsys.readouterr()
    assert "fit of 11 points" in out and f"note: skipped {bad}: flops is [], not an object" in out
    assert "Traceback" not in err
    assert json.loads((tmp_path / "fit.json").read_text())["n_points"] == 11


def test_when_no_completed_record_can_be_fitted_it_is_one_line(sweep):
    for p in (sweep / "runs").glob("*.json"):
        _edit(p, lambda d: d.update(val_loss=-1.0))
    with pytest.raises(FitInputError) as e:
        load_sweep(sweep)
    msg = str(e.value)
    assert msg.startswith(f"{sweep}: none of the 12 completed runs can be fitted (skipped {sweep / 'runs'}/")
    assert msg.endswith("val_loss is -1.0; it must be positive)") and "\n" not in msg


def test_the_files_are_left_as_they_were(sweep):
    # The fitter only looks: a skipped record stays where it is, byte for byte.
    bad = sorted((sweep / "runs").glob("*.json"))[0]
    _edit(bad, lambda d: d.update(tokens="abc"))
    before = {p.name: p.read_bytes() for p in (sweep / "runs").iterdir()}
    load_sweep(sweep)
    assert {p.name: p.read_bytes() for p in (sweep / "runs").iterdir()} == before
