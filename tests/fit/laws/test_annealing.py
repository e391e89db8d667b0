"""The annealing law (Tissue et al. 2024): areas by hand, recovery of known constants, prediction of
an unseen schedule, and the CLI's --predict-runs with its refusals.

No fitted example constants of the paper could be checked from the sources searchable here, so no
test compares against published numbers; the synthetic curves below have known constants instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli.fit import main
from harness.config import ScheduleConfig
from harness.fit.laws.annealing import AnnealingLaw
from harness.fit.lrcurves import RunCurve, annealing_area, forward_area, learning_rates
from harness.fit.points import Points

TRUE = {"L0": 2.0, "A": 1.5, "alpha": 0.5, "C": 2e-4, "lam": 0.99}
PEAK, WARM, TPS = 1e-3, 20, 4096.0
SHAPE = {"arch": "gpt2", "n_layer": 2, "d_model": 48}
CONSTANT = {"name": "constant", "warmup_tokens": None, "warmup_fraction": 0.01, "final_lr_fraction": 0.1}
WSD = {"name": "wsd", "warmup_tokens": None, "warmup_fraction": 0.01, "final_lr_fraction": 0.1,
       "decay_fraction": 0.2, "decay_shape": "linear"}
COSINE = {"name": "cosine", "warmup_tokens": None, "warmup_fraction": 0.01, "final_lr_fraction": 0.1}


def true_curve(schedule: dict, steps: int, at: np.ndarray) -> np.ndarray:
    eta = learning_rates(schedule, steps, WARM, PEAK) / PEAK
    s1, s2 = forward_area(eta)[at], annealing_area(eta, WARM, TRUE["lam"])[at]
    return TRUE["L0"] + TRUE["A"] * s1 ** -TRUE["alpha"] - TRUE["C"] * s2


def synthetic_run(run_id: str, schedule: dict, steps: int, every: int = 50) -> RunCurve:
    at = np.unique(np.append(np.arange(every, steps, every), steps))
    loss = true_curve(schedule, steps, at)
    return RunCurve(run_id=run_id, shape_key=json.dumps(SHAPE, sort_keys=True), shape_label="L2d48", n=1e5,
                    data_key="fp", steps=steps, warmup_steps=WARM, peak_lr=PEAK, schedule=schedule,
                    tokens_per_step=TPS, flops_per_token=6e5, eval_steps=at, eval_loss=loss,
                    eval_full=np.ones(len(at), dtype=bool), final_loss=float(loss[-1]))


def points_of(runs: list[RunCurve]) -> Points:
    pts = Points.from_arrays([r.n for r in runs], [r.steps * TPS for r in runs], [r.final_loss for r in runs],
                             labels=[r.run_id for r in runs])
    pts.run_curves = runs
    return pts


def test_areas_by_hand() -> None:
    # eta = 0.5, 1 (warmup of 2 steps), 1, 0.5, 0.25; lam = 0.5.
    eta = np.array([0.5, 1.0, 1.0, 0.5, 0.25])
    assert forward_area(eta).tolist() == [0.0, 0.5, 1.5, 2.5, 3.0, 3.25]
    # increments: 0, (warmup rise left out) 0, 0, 0.5, 0.25 -> m = 0, 0, 0, 0.5, 0.5*0.5 + 0.25 = 0.5
    assert annealing_area(eta, 2, 0.5).tolist() == [0.0, 0.0, 0.0, 0.0, 0.5, 1.0]
    # lam -> 0: S2 is the total drop so far.
    assert annealing_area(eta, 2, 0.0)[-1] == pytest.approx(0.75)


def test_rates_follow_the_schedule() -> None:
    # wsd, 5 steps, 1 warmup step, 40% linear cooldown to 0.1: starts at max(1, 5 - 2) = 3.
    cfg = ScheduleConfig(name="wsd", decay_fraction=0.4, final_lr_fraction=0.1)
    assert learning_rates(cfg, 5, 1, 2.0).tolist() == pytest.approx([2.0, 2.0, 2.0, 1.1, 0.2])
    # an old record's schedule dict without decay_shape/branches takes the defaults
    old = {"name": "wsd", "warmup_tokens": None, "warmup_fraction": 0.05, "final_lr_fraction": 0.1,
           "decay_fraction": 0.4}
    assert learning_rates(old, 5, 1, 2.0).tolist() == pytest.approx([2.0, 2.0, 2.0, 1.1, 0.2])


def test_recovers_constants_and_predicts_cosine() -> None:
    runs = [synthetic_run("const", CONSTANT, 2000), synthetic_run("wsd", WSD, 2000)]
    law = AnnealingLaw().fit(points_of(runs))
    sf = law.shape("L2d48")
    assert sf.lam == TRUE["lam"]
    assert sf.L0 == pytest.approx(TRUE["L0"], rel=1e-3)
    assert sf.A == pytest.approx(TRUE["A"], rel=1e-3)
    assert sf.alpha == pytest.approx(TRUE["alpha"], rel=1e-3)
    assert sf.C == pytest.approx(TRUE["C"], rel=1e-3)
    assert law.params_["alpha[L2d48]"] == pytest.approx(0.5, rel=1e-3)
    for steps in (1500, 3000):  # shorter and longer than the fitted curves
        want = float(true_curve(COSINE, steps, np.array([steps]))[0])
        got = law.predict_final("L2d48", COSINE, steps, WARM, PEAK)
        assert got == pytest.approx(want, rel=1e-4)
    assert not [w for w in law.warnings_ if w.startswith("UNDER-DETERMINED")]


def test_constant_only_warns_that_c_is_unmeasured() -> None:
    law = AnnealingLaw().fit(points_of([synthetic_run("const", CONSTANT, 2000)]))
    text = " ".join(law.warnings_)
    assert "one curve" in text and "C and lambda are not measured" in text
    assert law.shape("L2d48").C == 0.0


@pytest.mark.slow  # about a second: outside the quick loop
def test_bootstrap_gives_intervals_around_the_fit() -> None:
    runs = [synthetic_run("const", CONSTANT, 2000), synthetic_run("wsd", WSD, 2000),
            synthetic_run("wsd2", WSD, 1000)]
    law = AnnealingLaw(n_bootstrap=5, seed=1).fit(points_of(runs))
    lo, hi = law.ci_["alpha[L2d48]"]
    assert lo <= 0.5 + 1e-6 and hi >= 0.5 - 1e-6
    lo, hi = law.predict_final_interval("L2d48", COSINE, 1500, WARM, PEAK)
    assert lo <= hi


def test_points_without_curves_are_refused() -> None:
    from harness.errors import FitInputError
    with pytest.raises(FitInputError, match="no loss curves"):
        AnnealingLaw().fit(Points.from_arrays([1e5, 2e5], [1e6, 1e6], [2.0, 1.9]))


# -- the CLI on sweep folders ------------------------------------------------------------------
def write_record(sweep: Path, run_id: str, schedule: dict, steps: int, fingerprint: str = "fpA",
                 with_curve: bool = True, shape: dict | None = None, n: int = 100000, offset: float = 0.0) -> None:
    at = np.unique(np.append(np.arange(50, steps, 50), steps))
    loss = true_curve(schedule, steps, at) + offset
    curve = [{"step": 0, "tokens": 0, "flops": {"6ND": 0.0}, "train_loss": None, "val_loss": 9.0, "lr": PEAK / WARM}]
    if with_curve:
        curve += [{"step": int(s), "tokens": int(s * TPS), "flops": {"6ND": 6e5 * s * TPS}, "train_loss": None,
                   "val_loss": float(v), "lr": PEAK} for s, v in zip(at, loss)]
    rec = {"run_id": run_id, "status": "completed", "sweep_name": sweep.name,
           "config": {"schedule": schedule, "optim": {"lr": PEAK}, "train": {"eval_sequences": 0, "batch_size": 64},
                      "data": {"name": "synthetic", "val_sequences": 64}},
           "shape": shape or SHAPE, "params": {"total": n}, "tokens": int(steps * TPS), "steps": steps,
           "flops": {"6ND": 6e5 * steps * TPS}, "val_loss": float(loss[-1]), "bayes_loss": None, "curve": curve,
           "wall_seconds": 1.0, "tokens_per_second": None, "mfu": None, "peak_flops": None, "device_name": "cpu",
           "torch_version": "x", "git_commit": None, "data_fingerprint": fingerprint, "unique_tokens": None,
           "epochs": None, "seed": 0, "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:00:01Z",
           "extra": {"warmup_steps": WARM}}
    (sweep / "runs").mkdir(parents=True, exist_ok=True)
    (sweep / "runs" / f"{run_id}.json").write_text(json.dumps(rec))


def test_cli_refuses_bad_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fit_dir, other, flat = (tmp_path / n for n in ("wsd", "other", "flat"))
    write_record(fit_dir, "c1", CONSTANT, 2000)
    write_record(fit_dir, "w1", WSD, 2000)
    out = tmp_path / "out"
    write_record(other, "x1", COSINE, 1000, fingerprint="fpB")
    assert main([str(fit_dir), "--law", "annealing", "--bootstrap", "0", "--predict-runs", str(other),
                 "--json", str(out / "f2.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fpB" in err and "another data set" in err

    write_record(flat, "f1", CONSTANT, 2000, with_curve=False)
    assert main([str(flat), "--law", "annealing", "--bootstrap", "0", "--json", str(out / "f3.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no loss curves" in err


@pytest.mark.slow  # plots and a report: about 5 s
def test_cli_predict_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fit_dir, cos_dir = tmp_path / "wsd", tmp_path / "cos"
    write_record(fit_dir, "c1", CONSTANT, 2000)
    write_record(fit_dir, "w1", WSD, 2000)
    write_record(fit_dir, "cos0", COSINE, 1000)  # left out by --fit-schedules
    write_record(cos_dir, "k1", COSINE, 1500)
    write_record(cos_dir, "k2", COSINE, 1000)
    out = tmp_path / "out"
    rc = main([str(fit_dir), "--law", "annealing", "--fit-schedules", "constant,wsd", "--bootstrap", "0",
               "--predict-runs", str(cos_dir), "--json", str(out / "fit.json"), "--report", str(out / "report.md"),
               "--plots", str(out / "plots")])
    assert rc == 0, capsys.readouterr().err
    fit = json.loads((out / "fit.json").read_text())
    pr = fit["laws"][0]["details"]["predict_runs"]
    assert {r["run_id"] for r in pr["runs"]} == {"k1", "k2"}
    assert pr["max_abs_rel_error"] < 1e-4
    assert fit["laws"][0]["details"]["shapes"][0]["runs"] == ["c1", "w1"] or \
        sorted(fit["laws"][0]["details"]["shapes"][0]["runs"]) == ["c1", "w1"]
    assert "k1" in (out / "report.md").read_text() and (out / "plots" / "annealing_prediction.png").is_file()


@pytest.mark.slow  # approach2 and chinchilla fits on the predicted points
def test_cli_profiles_fit_approach2_on_predicted_points(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Three shapes, a bigger one lower by a constant: only the path is tested, not the allocation.
    sweep = tmp_path / "wsd"
    for i, (d, n, off) in enumerate(((32, 50000, 0.3), (48, 100000, 0.15), (64, 200000, 0.0))):
        shape = {"arch": "gpt2", "n_layer": 2, "d_model": d}
        write_record(sweep, f"c{i}", CONSTANT, 2000, shape=shape, n=n, offset=off)
        write_record(sweep, f"w{i}", WSD, 2000, shape=shape, n=n, offset=off)
    rc = main([str(sweep), "--law", "annealing", "--bootstrap", "0", "--profiles", "1e13,3e13",
               "--json", str(tmp_path / "fit.json")])
    assert rc == 0
    fit = json.loads((tmp_path / "fit.json").read_text())
    prof = fit["laws"][0]["details"]["profiles"]
    assert len(prof["points"]) == 6 and prof["schedule"] == "cosine"


@pytest.mark.slow  # chinchilla fits (4,500 starts) or a CLI run of the fitter
def test_a_fixed_lambda_is_a_setting_of_the_law_and_of_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [synthetic_run("const", CONSTANT, 2000), synthetic_run("wsd", WSD, 2000)]
    other = 0.9 if TRUE["lam"] != 0.9 else 0.95
    law = AnnealingLaw(lambdas=(other,)).fit(points_of(runs))
    assert law.shape("L2d48").lam == other  # held where it was fixed, even off the truth
    fit_dir = tmp_path / "wsd"
    write_record(fit_dir, "c1", CONSTANT, 2000)
    write_record(fit_dir, "w1", WSD, 2000)
    assert main([str(fit_dir), "--law", "annealing", "--bootstrap", "0", "--annealing-lambda", str(other),
                 "--json", str(tmp_path / "f.json")]) == 0
    fit = json.loads((tmp_path / "f.json").read_text())
    got = next(r for r in fit["laws"] if r["law"] == "annealing")
    assert got["params"]["lambda[L2d48]"] == other
    capsys.readouterr()
    assert main([str(fit_dir), "--law", "annealing", "--annealing-lambda", "1.5", "--json", str(tmp_path / "g.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--annealing-lambda 1.5" in err


def test_fit_from_leaves_out_early_points_and_the_cli_passes_it(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    runs = [synthetic_run("const", CONSTANT, 2000), synthetic_run("wsd", WSD, 2000)]
    every = AnnealingLaw(fit_from=0.0).fit(points_of(runs)).shape("L2d48").n_points
    late = AnnealingLaw(fit_from=0.5).fit(points_of(runs))
    assert late.details_["fit_from"] == 0.5
    # Only points past step 1,000 (each run's final point is kept by both).
    kept = sum(int(np.sum(rc.eval_steps > 1000)) for rc in points_of(runs).run_curves)
    assert late.shape("L2d48").n_points == kept < every
    fit_dir = tmp_path / "wsd"
    write_record(fit_dir, "c1", CONSTANT, 2000)
    write_record(fit_dir, "w1", WSD, 2000)
    capsys.readouterr()
    assert main([str(fit_dir), "--law", "annealing", "--curve-fit-from", "1.5", "--json", str(tmp_path / "g.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--curve-fit-from: fit_from must be a fraction" in err
    assert main([str(fit_dir), "--curve-fit-from", "0.1", "--json", str(tmp_path / "h.json")]) == 2
    assert "--curve-fit-from belongs to the curve laws" in capsys.readouterr().err
    assert not (tmp_path / "g.json").exists() and not (tmp_path / "h.json").exists()
