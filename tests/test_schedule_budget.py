import math

import pytest

from harness.budget import resolve_budget
from harness.config import ScheduleConfig
from harness.errors import ConfigError
from harness.flops import flops_per_token, param_counts
from harness.schedule import lr_factor
from tests.helpers import make_config


def test_cosine_warms_up_then_ends_at_the_final_fraction():
    cfg = ScheduleConfig(name="cosine", final_lr_fraction=0.1)
    f = [lr_factor(s, 100, 10, cfg) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0)
    assert f[-1] == pytest.approx(0.1)  # the schedule ends exactly where the run ends
    assert f[55] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 45 / 89)))
    assert all(a >= b for a, b in zip(f[10:], f[11:]))


def test_wsd_is_flat_then_decays_linearly_over_its_last_fraction():
    cfg = ScheduleConfig(name="wsd", final_lr_fraction=0.0, decay_fraction=0.2)
    f = [lr_factor(s, 100, 5, cfg) for s in range(100)]
    assert f[5:80] == [1.0] * 75
    assert f[80] == pytest.approx(0.95) and f[99] == pytest.approx(0.0)


def test_constant_schedule_after_warmup():
    cfg = ScheduleConfig(name="constant")
    assert [lr_factor(s, 10, 2, cfg) for s in (0, 1, 2, 9)] == [0.5, 1.0, 1.0, 1.0]


def test_token_budget_rounds_to_the_nearest_step():
    cfg = make_config(["train.tokens=200000", "data.seq_len=64", "train.batch_size=32"])
    shape = cfg.model.shape(256, 64)
    b = resolve_budget(cfg, shape)
    assert b.tokens_per_step == 2048 and b.steps == 98 and b.tokens == 98 * 2048
    assert b.warmup_steps == math.ceil(0.05 * 98)


def test_flop_budget_uses_the_chosen_convention():
    for conv in ("6ND", "chinchilla"):
        cfg = make_config(["train.flops=1e12", f"train.flops_convention={conv}"])
        shape = cfg.model.shape(256, cfg.data.seq_len)
        b = resolve_budget(cfg, shape)
        want = 1e12 / flops_per_token(shape)[conv]
        assert abs(b.tokens - want) <= b.tokens_per_step / 2


def test_tokens_per_param_budget():
    cfg = make_config(["train.tokens_per_param=20", "train.param_convention=non_embedding"])
    shape = cfg.model.shape(256, cfg.data.seq_len)
    b = resolve_budget(cfg, shape)
    assert abs(b.tokens - 20 * param_counts(shape).non_embedding) <= b.tokens_per_step / 2


def test_a_budget_below_one_step_names_the_key():
    cfg = make_config(["train.tokens=100"])
    with pytest.raises(ConfigError, match=r"^train\.tokens: .*smaller than one step"):
        resolve_budget(cfg, cfg.model.shape(256, cfg.data.seq_len))


def test_warmup_in_tokens_and_its_cap():
    cfg = make_config(["train.tokens=204800", "schedule.warmup_tokens=20480"])
    b = resolve_budget(cfg, cfg.model.shape(256, cfg.data.seq_len))
    assert b.warmup_steps == 10 and not b.warmup_capped
    cfg = make_config(["train.tokens=20480", "schedule.warmup_tokens=1000000"])
    b = resolve_budget(cfg, cfg.model.shape(256, cfg.data.seq_len))
    assert b.warmup_capped and b.warmup_steps == b.steps
