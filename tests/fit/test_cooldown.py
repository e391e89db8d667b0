"""Which cooldown ends lowest, by a fitted curve law: checked on laws whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import ScheduleConfig
from harness.fit.cooldown import FRACTIONS, cooldown_grid, cooldown_lines, cooldowns
from harness.fit.laws.multipower import MultiPowerLaw, ShapeFit, fit_units
from harness.fit.lrcurves import RunCurve, learning_rates

PEAK = 1e-3


def law_with(params: dict[str, float], tokens_per_step: float = math.nan,
             flops_per_token: float = math.nan) -> MultiPowerLaw:
    """A multipower law set to ``params`` for one shape whose one fitted run is a 2,000-step cosine."""
    law = MultiPowerLaw()
    eta = learning_rates(ScheduleConfig(name="cosine", final_lr_fraction=0.1), 2000, 50, PEAK)
    rc = RunCurve(run_id="r", shape_key="m", shape_label="m", n=math.nan, data_key="", steps=2000, warmup_steps=50,
                  peak_lr=PEAK, schedule={"name": "logged"}, tokens_per_step=math.nan, flops_per_token=math.nan,
                  eval_steps=np.array([1000, 2000]), eval_loss=np.array([3.0, 2.9]), eval_full=np.ones(2, dtype=bool),
                  final_loss=2.9, name="r", rates=eta)
    law.run_curves_ = [rc]
    law.shapes_ = {"m": ShapeFit(key="m", label="m", n=math.nan, eta_ref=PEAK, v=fit_units(params, PEAK), huber=0.0,
                                 rmse_rel=0.0, run_ids=["r"], n_points=2, max_steps=2000, tokens_per_step=tokens_per_step,
                                 flops_per_token=flops_per_token, peak_lr=PEAK, schedule={})}
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


DROP = {"L0": 2.0, "A": 0.5, "alpha": 0.5, "B": 600.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}


def test_budgets_become_run_lengths_from_the_shapes_flops_per_token_and_batch() -> None:
    # 1,024 tokens per step at 6e6 FLOPs per token: C = 1.2288e13 is exactly 2,000 steps, 2.4576e13 4,000.
    law = law_with(DROP, tokens_per_step=1024.0, flops_per_token=6e6)
    rows = cooldowns(law, [1.2288e13, 2.4576e13, 1e9])  # 1e9: under one step, no row
    assert [r["steps"] for r in rows] == [2000, 2000, 4000]
    assert "budget" not in rows[0] and rows[1]["budget"] == 1.2288e13 and rows[2]["budget"] == 2.4576e13
    # The budget of the fitted length gives the fitted length's answer; twice the steps ends lower.
    assert rows[1]["best"] == rows[0]["best"]
    assert rows[2]["best"]["loss"] < rows[1]["best"]["loss"]
    table = cooldown_lines(rows)
    assert any("| 4000 (C = 2.46e+13) |" in line for line in table)


def test_budgets_are_skipped_where_a_shape_has_no_flop_count() -> None:
    # Curve files carry no FLOPs per token: only the fitted length is answered.
    assert [r["steps"] for r in cooldowns(law_with(DROP), [1e13])] == [2000]
