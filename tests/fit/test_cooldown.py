"""Which cooldown ends lowest, by a fitted curve law: checked on laws whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import ScheduleConfig
from harness.fit.cooldown import FRACTIONS, cooldown_grid
from harness.fit.laws.multipower import MultiPowerLaw, ShapeFit, fit_units
from harness.fit.lrcurves import RunCurve, learning_rates

PEAK = 1e-3


def law_with(params: dict[str, float]) -> MultiPowerLaw:
    """A multipower law set to ``params`` for one shape whose one fitted run is a 2,000-step cosine."""
    law = MultiPowerLaw()
    eta = learning_rates(ScheduleConfig(name="cosine", final_lr_fraction=0.1), 2000, 50, PEAK)
    rc = RunCurve(run_id="r", shape_key="m", shape_label="m", n=math.nan, data_key="", steps=2000, warmup_steps=50,
                  peak_lr=PEAK, schedule={"name": "logged"}, tokens_per_step=math.nan, flops_per_token=math.nan,
                  eval_steps=np.array([1000, 2000]), eval_loss=np.array([3.0, 2.9]), eval_full=np.ones(2, dtype=bool),
                  final_loss=2.9, name="r", rates=eta)
    law.run_curves_ = [rc]
    law.shapes_ = {"m": ShapeFit(key="m", label="m", n=math.nan, eta_ref=PEAK, v=fit_units(params, PEAK), huber=0.0,
                                 rmse_rel=0.0, run_ids=["r"], n_points=2, max_steps=2000, tokens_per_step=math.nan,
                                 flops_per_token=math.nan, peak_lr=PEAK, schedule={})}
    return law


def test_without_a_loss_drop_the_shortest_highest_cooldown_wins() -> None:
    # B ~ 0: the loss follows the area under the rates alone, so the cooldown with the largest area
    # wins: the shortest, linear (1 - sqrt(p) falls fastest at its start: its mean rate over the
    # cooldown is 0.4 of the peak against linear's 0.55, with a final rate of 0.1).
    g = cooldown_grid(law_with({"L0": 2.0, "A": 0.5, "alpha": 0.5, "B": 1e-9, "C": 2.0, "beta": 0.6, "gamma": 0.6}), "m")
    assert g["best"]["decay_fraction"] == min(FRACTIONS) and g["best"]["decay_shape"] == "linear"
    assert g["steps"] == 2000 and g["final_lr_fraction"] == pytest.approx(0.1)
    assert g["cosine"] > g["best"]["loss"]


def test_with_a_strong_drop_a_longer_cooldown_wins() -> None:
    g = cooldown_grid(law_with({"L0": 2.0, "A": 0.5, "alpha": 0.5, "B": 600.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}), "m")
    assert g["best"]["decay_fraction"] > min(FRACTIONS)
    assert g["best"]["loss"] == min(x["loss"] for x in g["grid"])
