"""The rates and labels the curve law reads off a run: its warmup by the run's own rule, its shape's label."""

from __future__ import annotations

import pytest

from harness.budget import resolve_budget
from harness.fit.lrcurves import shape_label, warmup_steps
from tests.helpers import make_config


@pytest.mark.parametrize("overrides, warm", [
    (["train.tokens=200000"], 5),                               # 5% of 98 steps, rounded up
    (["train.tokens=200000", "schedule.warmup_tokens=20000"], 10),  # a token warmup: 20000 / 2048 tokens per step
    (["train.tokens=20000", "schedule.warmup_tokens=40000"], 10),   # longer than the run: cut to its 10 steps
])
def test_warmup_is_the_runs_own(overrides, warm):
    cfg = make_config(["data.seq_len=64", "train.batch_size=32", *overrides])
    b = resolve_budget(cfg, cfg.model.shape(256, 64))
    schedule = {k: v for k, v in vars(cfg.schedule).items() if k.startswith("warmup")}
    assert warmup_steps(schedule, b.steps, b.tokens_per_step) == b.warmup_steps == warm


def test_shape_label_is_layers_then_width_as_everywhere():
    assert shape_label({"n_layer": 2, "d_model": 48, "arch": "gpt2"}, 1e5) == "L2d48"
    assert shape_label({}, 123456.0) == "N=1.23e+05"
