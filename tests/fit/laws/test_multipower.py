"""The multi-power law (Luo et al. 2025): its value at the paper's published constants on a
schedule computed by hand, the fit's units, recovery of known constants, and prediction of
schedules it was not fitted on, from curve CSVs through harness-fit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.cli.fit import main
from harness.config import ScheduleConfig
from harness.errors import FitInputError
from harness.fit.laws.multipower import LUO_CONSTANTS, MultiPowerLaw, ShapeFit, fit_units, multipower_loss
from harness.fit.lrcurves import RunCurve, learning_rates
from harness.fit.points import Points

L400 = LUO_CONSTANTS["400M"]


def test_luo_constants_are_the_published_ones() -> None:
    # thu-yao-01-luo/MultiPowerLaw, README "Best Parameters" (rounded there to 3 decimals).
    assert {k: round(v, 3) for k, v in L400.items()} == {"L0": 2.375, "A": 0.654, "alpha": 0.429, "B": 523.425,
                                                         "C": 2.025, "beta": 0.594, "gamma": 0.635}
    assert round(LUO_CONSTANTS["25M"]["B"], 3) == 363.788 and round(LUO_CONSTANTS["100M"]["alpha"], 3) == 0.453


def by_hand_400m() -> float:
    """The law after 5 updates of eta = 1.5e-4, 3e-4 (a two-step warmup), 3e-4, 3e-5, 3e-5, at the 400M
    constants, written out term by term.

    S1 + S_W = 1.5e-4 + 3e-4 + 3e-4 + 3e-5 + 3e-5 = 8.1e-4. The rate changes at k = 1 (a rise of
    1.5e-4: a drop of -1.5e-4, eta_1 = 3e-4, S_1 = 3e-4 + 3e-4 + 3e-5 + 3e-5 = 6.6e-4) and at k = 3
    (a drop of 2.7e-4, eta_3 = 3e-5, S_3 = 3e-5 + 3e-5 = 6e-5).
    """
    p = L400

    def g(x: float) -> float:
        return 1.0 - (p["C"] * x + 1.0) ** -p["beta"]

    ld = p["B"] * (-1.5e-4 * g(3e-4 ** -p["gamma"] * 6.6e-4) + 2.7e-4 * g(3e-5 ** -p["gamma"] * 6e-5))
    return p["L0"] + p["A"] * 8.1e-4 ** -p["alpha"] - ld


ETA = np.array([1.5e-4, 3e-4, 3e-4, 3e-5, 3e-5])


def test_value_at_the_published_constants_by_hand() -> None:
    want = by_hand_400m()
    # By hand: A * 8.1e-4^-alpha = 13.846; the warmup's rise adds 523.4 * 1.5e-4 * 0.1157 = 0.0091 and the
    # drop takes away 523.4 * 2.7e-4 * 0.0499 = 0.0071 (G(x) at x = 0.2307 and 0.0901).
    assert want == pytest.approx(16.2227, abs=1e-4)
    assert multipower_loss(L400, ETA, np.array([5]))[0] == pytest.approx(want, rel=1e-12)
    # The fitter's own vectorised path, in its own units (rates divided by the peak).
    law = MultiPowerLaw()
    law.shapes_ = {"m": ShapeFit(key="m", label="m", n=math.nan, eta_ref=3e-4, v=fit_units(L400, 3e-4), huber=0.0,
                                 rmse_rel=0.0, run_ids=[], n_points=0, max_steps=5, tokens_per_step=math.nan,
                                 flops_per_token=math.nan, peak_lr=3e-4, schedule={})}
    assert law.predict_rates("m", ETA, np.array([5]))[0] == pytest.approx(want, rel=1e-10)
    assert law.shapes_["m"].published() == pytest.approx(L400, rel=1e-12)


def test_a_cooldown_lowers_the_loss_despite_its_smaller_area() -> None:
    # 20,000 steps at 3e-4, against the same run with its last 4,000 steps at 3e-5 (the paper's point).
    const = multipower_loss(L400, np.full(20_000, 3e-4), np.array([20_000]))[0]
    cooled = multipower_loss(L400, np.r_[np.full(16_000, 3e-4), np.full(4_000, 3e-5)], np.array([20_000]))[0]
    assert cooled < const - 0.05
    # A constant rate has no change of rate at all: the law is the power law alone.
    assert const == pytest.approx(L400["L0"] + L400["A"] * 6.0 ** -L400["alpha"], rel=1e-12)


# -- fitting ------------------------------------------------------------------------------------
TRUE = {"L0": 2.0, "A": 0.3, "alpha": 0.5, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
PEAK, WARM = 1e-3, 40


def schedule_rates(name: str, steps: int, **kw: float) -> np.ndarray:
    return learning_rates(ScheduleConfig(name=name, **kw), steps, WARM, PEAK)


def write_curve(path: Path, eta: np.ndarray, every: int, noise: float, rng: np.random.Generator,
                lr_every: int | None = None) -> None:
    steps = np.unique(np.append(np.arange(every, len(eta), every), len(eta)))
    loss = multipower_loss(TRUE, eta, steps) * np.exp(rng.normal(0, noise, len(steps)))
    lr_at = set(range(0, len(eta), lr_every or every)) | set(steps[steps < len(eta)].tolist())
    lines = ["step,lr,loss"]
    for s in sorted(lr_at | set(steps.tolist())):
        lr = f"{eta[s]:.10g}" if s < len(eta) and s in lr_at else ""
        y = f"{loss[list(steps).index(s)]:.6f}" if s in set(steps.tolist()) else ""
        lines.append(f"{s},{lr},{y}")
    path.write_text("\n".join(lines) + "\n")


def curve_folder(tmp_path: Path, noise: float = 0.0005) -> Path:
    rng = np.random.default_rng(0)
    d = tmp_path / "model"
    d.mkdir()
    write_curve(d / "cosine_2000.csv", schedule_rates("cosine", 2000), 20, noise, rng, lr_every=1)
    write_curve(d / "constant_2000.csv", schedule_rates("constant", 2000), 20, noise, rng, lr_every=1)
    write_curve(d / "wsd_2000.csv", schedule_rates("wsd", 2000, decay_fraction=0.3), 20, noise, rng, lr_every=1)
    write_curve(d / "cosine_6000.csv", schedule_rates("cosine", 6000), 60, noise, rng, lr_every=1)
    write_curve(d / "wsd_6000_sqrt.csv", schedule_rates("wsd", 6000, decay_fraction=0.2, decay_shape="1-sqrt"), 60,
                noise, rng, lr_every=1)
    return d


@pytest.mark.slow
def test_fit_on_three_schedules_predicts_the_others(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    d = curve_folder(tmp_path)
    out = tmp_path / "fit.json"
    rc = main([str(d), "--law", "multipower", "--fit-curves", "cosine_2000,constant_2000,wsd_2000", "--bootstrap", "0",
               "--json", str(out), "--report", str(tmp_path / "report.md"), "--plots", str(tmp_path / "plots")])
    assert rc == 0
    law = json.loads(out.read_text())["laws"][0]
    assert law["law"] == "multipower"
    preds = {p["curve"]: p for p in law["curve_predictions"]}
    assert set(preds) == {"cosine_6000", "wsd_6000_sqrt"}
    for p in preds.values():
        assert set(p) >= {"curve", "mean_rel_error", "max_rel_error", "final_rel_error"}
        # 0.05% noise on the curves: three times longer runs predicted to well under the paper's 0.4-1% worst.
        assert p["mean_rel_error"] < 0.002 and p["max_rel_error"] < 0.004 and abs(p["final_rel_error"]) < 0.003
    assert law["params"]["alpha[model]"] == pytest.approx(TRUE["alpha"], abs=0.1)
    report = (tmp_path / "report.md").read_text()
    assert "PredE" in report and "Which cooldown ends lowest" in report
    assert (tmp_path / "plots" / "multipower_held_out.png").is_file()


@pytest.mark.slow  # over a second: kept out of the fast loop
def test_recovers_a_noiseless_curve_law(tmp_path: Path) -> None:
    runs = []
    for name, eta in (("cos", schedule_rates("cosine", 1500)), ("const", schedule_rates("constant", 1500)),
                      ("wsd", schedule_rates("wsd", 1500, decay_fraction=0.3))):
        at = np.arange(50, 1501, 50)
        runs.append(RunCurve(run_id=name, shape_key="m", shape_label="m", n=math.nan, data_key="", steps=1500,
                             warmup_steps=WARM, peak_lr=PEAK, schedule={"name": "logged"}, tokens_per_step=math.nan,
                             flops_per_token=math.nan, eval_steps=at, eval_loss=multipower_loss(TRUE, eta, at),
                             eval_full=np.ones(len(at), dtype=bool), final_loss=0.0, name=name, rates=eta))
    pts = Points(n=np.full(3, np.nan), d=np.full(3, np.nan), c=np.full(3, np.nan), loss=np.ones(3),
                 labels=[r.run_id for r in runs])
    pts.run_curves = runs
    law = MultiPowerLaw().fit(pts)
    # A 1-sqrt cooldown to twice the length, never seen: predicted from the fit to 0.1%.
    eta = schedule_rates("wsd", 3000, decay_fraction=0.2, decay_shape="1-sqrt")
    at = np.arange(100, 3001, 100)
    pred = law.predict_rates("m", eta, at)
    assert np.max(np.abs(pred / multipower_loss(TRUE, eta, at) - 1)) < 1e-3


def three_runs(early_factor: float = 1.0) -> Points:
    """Cosine, constant and WSD curves of the true law to 1,500 steps, evaluated every 50; the points
    before step 150 multiplied by ``early_factor`` (a fast initial fall the law does not describe)."""
    runs = []
    for name, eta in (("cos", schedule_rates("cosine", 1500)), ("const", schedule_rates("constant", 1500)),
                      ("wsd", schedule_rates("wsd", 1500, decay_fraction=0.3))):
        at = np.arange(50, 1501, 50)
        loss = multipower_loss(TRUE, eta, at) * np.where(at < 150, early_factor, 1.0)
        runs.append(RunCurve(run_id=name, shape_key="m", shape_label="m", n=math.nan, data_key="", steps=1500,
                             warmup_steps=WARM, peak_lr=PEAK, schedule={"name": "logged"}, tokens_per_step=math.nan,
                             flops_per_token=math.nan, eval_steps=at, eval_loss=loss,
                             eval_full=np.ones(len(at), dtype=bool), final_loss=0.0, name=name, rates=eta))
    pts = Points(n=np.full(3, np.nan), d=np.full(3, np.nan), c=np.full(3, np.nan), loss=np.ones(3),
                 labels=[r.run_id for r in runs])
    pts.run_curves = runs
    return pts


@pytest.mark.slow  # over a second: kept out of the fast loop
def test_points_before_fit_from_are_not_fitted() -> None:
    pts = three_runs(early_factor=1.3)
    eta = schedule_rates("wsd", 3000, decay_fraction=0.2, decay_shape="1-sqrt")
    at = np.arange(300, 3001, 100)
    truth = multipower_loss(TRUE, eta, at)
    # 10% of 1,500 steps: the fit starts at step 150, past the corrupted points (steps 50 and 100).
    clean = MultiPowerLaw(fit_from=0.1).fit(pts)
    assert clean.shape("m").n_points == 3 * 27 and clean.details_["fit_from"] == 0.1
    assert np.max(np.abs(clean.predict_rates("m", eta, at) / truth - 1)) < 1e-3
    # From the warmup's end, the same law is pulled off by the six corrupted points.
    pulled = MultiPowerLaw(fit_from=0.0).fit(pts)
    assert pulled.shape("m").n_points == 3 * 30
    assert np.max(np.abs(pulled.predict_rates("m", eta, at) / truth - 1)) > 3e-3


@pytest.mark.parametrize("bad", [1.0, -0.1, True, "0.1"])
def test_fit_from_is_a_fraction(bad: object) -> None:
    with pytest.raises(FitInputError, match="multipower: fit_from must be a fraction of the run in"):
        MultiPowerLaw(fit_from=bad).fit(three_runs())
