"""Under-tuned flags: a rung trained 8x off its tuned rate is flagged by the fitter and the planner."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.tune import main as tune_main
from harness.tune.analysis import load_result
from harness.tune.flags import flag_records, judge
from tests.tuning_helpers import SHAPES, loss_at, lr_star, write_run, write_tuning_sweep


@pytest.fixture()
def tuned(tmp_path: Path) -> Path:
    sweep = tmp_path / "tune"
    write_tuning_sweep(sweep)
    assert tune_main([str(sweep), "--no-plots", "--bootstrap", "50"]) == 0
    return sweep


def write_study(sweep: Path, off: dict[str, float]) -> None:
    """A small N x D grid at each shape's tuned rate, except the shapes in ``off`` (x factor)."""
    for name, d, n in SHAPES:
        lr = float(f"{lr_star(n) * off.get(name, 1.0):.3g}")
        for tokens in (1_000_000, 2_000_000, 4_000_000):
            write_run(sweep, f"{name}-{tokens}", name, d, n, lr, loss_at(n, lr, d=tokens), tokens=tokens)


def test_a_rung_8x_off_is_flagged(tuned: Path, tmp_path: Path) -> None:
    from harness.tune.analysis import load_tuning_sweep

    study = tmp_path / "study"
    write_study(study, {"s3": 8.0})
    flags = flag_records(load_result(tuned), load_tuning_sweep(study))
    bad = {f.model for f in flags if f.flagged}
    assert bad == {"s3"}
    f = next(f for f in flags if f.model == "s3")
    assert f.ratio == pytest.approx(8.0, rel=0.1)
    assert f.penalty == pytest.approx(0.02 * (2.0794 ** 2), rel=0.2)  # a * ln(8)^2


def test_untuned_shape_uses_the_law_and_says_extrapolated(tuned: Path) -> None:
    res = load_result(tuned)
    f = judge(res, "x", "big", 5e6, res.law.lr(5e6))
    assert f.source == "law" and f.extrapolated and not f.flagged
    f = judge(res, "x", "big", 5e6, res.law.lr(5e6) * 3)
    assert f.flagged


def test_apply_tuning_drops_flagged_points(tuned: Path, tmp_path: Path) -> None:
    from harness.fit.loaders import load_sweep
    from harness.tune.fitlink import apply_tuning, report_section

    study = tmp_path / "study"
    write_study(study, {"s3": 8.0})
    points = load_sweep(study)
    kept, entry, lines = apply_tuning(str(tuned), [str(study)], points, drop=True)
    assert len(points) == 15 and len(kept) == 12
    assert sorted(entry["dropped"]) == [f"s3-{t}" for t in (1000000, 2000000, 4000000)]
    assert lines[0].startswith("under-tuned: 3 of 15")
    md = "\n".join(report_section(entry))
    assert "## Under-tuned runs" in md and "**yes**" in md


def test_apply_tuning_down_weights_flagged_points(tuned: Path, tmp_path: Path) -> None:
    from harness.errors import FitInputError
    from harness.fit.loaders import load_sweep
    from harness.tune.fitlink import apply_tuning, report_section

    study = tmp_path / "study"
    write_study(study, {"s3": 8.0})
    points = load_sweep(study)
    kept, entry, lines = apply_tuning(str(tuned), [str(study)], points, weight=0.25)
    assert len(kept) == 15 and entry["dropped"] == [] and entry["weight"] == 0.25
    low = {lab for lab, w in zip(kept.labels, kept.weight) if w == 0.25}
    assert low == set(entry["weighted"]) == {f"s3-{t}" for t in (1000000, 2000000, 4000000)}
    assert set(kept.weight) == {1.0, 0.25} and "down-weighted to 0.25" in kept.notes[-1]
    assert lines[-1] == "  down-weighted 3 flagged run(s) to 0.25 in the fit"
    assert "3 down-weighted to 0.25" in "\n".join(report_section(entry))
    for kw, msg in (({"weight": 1.5}, "must be in \\(0, 1\\)"), ({"weight": 0.5, "drop": True}, "exclude each other")):
        with pytest.raises(FitInputError, match=msg):
            apply_tuning(str(tuned), [str(study)], points, **kw)


@pytest.mark.slow
def test_fit_cli_prints_flags_and_drops_them(tuned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.fit import main as fit_main

    study = tmp_path / "study"
    write_study(study, {"s3": 8.0})
    args = [str(study), "--tuning", str(tuned), "--law", "approach1", "--bootstrap", "0"]
    assert fit_main(args) == 0
    out = capsys.readouterr().out
    assert "under-tuned: 3 of 15" in out and "s3" in out
    assert "Under-tuned" in (study / "report.md").read_text()
    assert fit_main(args + ["--drop-undertuned"]) == 0
    out = capsys.readouterr().out
    assert "fit of 12 points" in out
    # approach 1 reads curves, not point weights: down-weighting is said to change nothing there
    assert fit_main(args + ["--downweight-undertuned", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "fit of 15 points" in out and "down-weighted 3 flagged run(s) to 0.2" in out
    assert "WEIGHTS IGNORED: approach1" in out
    assert fit_main(args + ["--downweight-undertuned", "2"]) == 2
    assert "must be in (0, 1)" in capsys.readouterr().err


def test_planner_names_rungs_without_tuning(tuned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.sweep.plan import plan

    runs = plan(["sweep=demo", "plan.probe=false", f"plan.tuning={tuned}", "optim.lr=0.1", "model=ladder_m"])
    out = capsys.readouterr().out
    assert all("untuned" in r.flags for r in runs) and "tuning: 3 of 3" in out and "ladder_m" in out
    # the demo's own rule-following rates sit within x2 of this tuning's law: nothing flagged
    res = load_result(tuned)
    for n, lr in ((14_500, 0.0120), (56_600, 0.00736), (156_000, 0.00511)):
        assert not judge(res, "x", "m", n, lr).flagged


def test_the_end_of_sweep_fit_flags_a_rung_8x_off(tuned: Path, tmp_path: Path) -> None:
    import json

    from harness.fit.api import fit_sweep

    study = tmp_path / "study"
    write_study(study, {"s3": 8.0})
    report = fit_sweep(study, laws=["approach1"], bootstrap=0, plots=False, tuning=tuned)
    flagged = {r["model"] for r in report.tuning["runs"] if r["flagged"]}
    assert flagged == {"s3"}
    saved = json.loads((study / "fit.json").read_text())
    assert {r["model"] for r in saved["under_tuned"]["runs"] if r["flagged"]} == {"s3"}
    assert "## Under-tuned runs" in (study / "report.md").read_text()
    # sweep.fit_undertuned_weight: the same fit with the flagged rung down-weighted
    report = fit_sweep(study, laws=["approach1"], bootstrap=0, plots=False, tuning=tuned, undertuned_weight=0.2)
    saved = json.loads((study / "fit.json").read_text())
    assert saved["under_tuned"]["weight"] == 0.2 and len(saved["under_tuned"]["weighted"]) == 3
    assert any(w.startswith("WEIGHTS IGNORED: approach1") for w in report.get("approach1").warnings)
