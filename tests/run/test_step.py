"""The one training step (harness/run/step.py) and the loop's deferred loss reads (harness/run/losses.py)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

from harness import records
from harness.config import OptimConfig, ScheduleConfig, TrainConfig, validate
from harness.errors import ConfigError
from harness.flops import Shape
from harness.model import build_model, forward_loss, param_groups
from harness.run.losses import CHECK_EVERY
from harness.run.step import StepTimer, TrainStep, build_optimizer, uses_bf16
from harness.run.train import run
from harness.schedule import lr_factor
from tests.helpers import TINY, make_config

ROOT = Path(__file__).resolve().parents[2]
SHAPE = Shape("gpt2", n_layer=1, d_model=32, n_head=2, d_ff=128, n_ctx=16, seq_len=16, vocab_size=64, tied=True)
CPU = torch.device("cpu")


def _batches(n):
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, SHAPE.vocab_size, (4, SHAPE.seq_len + 1), generator=gen) for _ in range(n)]


def _reference_steps(grad_clip, batches):
    """The step as train.py wrote it inline before harness/run/step.py: the yardstick for bit identity."""
    torch.manual_seed(0)
    model = build_model(SHAPE)
    optim, sched_cfg = OptimConfig(grad_clip=grad_clip), ScheduleConfig()
    opt = torch.optim.AdamW(param_groups(model, optim.weight_decay), lr=optim.lr,
                            betas=(optim.beta1, optim.beta2), eps=optim.eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, 20, 2, sched_cfg))
    losses = []
    for b in batches:
        loss = forward_loss(model, b)
        losses.append(loss.item())
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
    return losses, [p.detach().clone() for p in model.parameters()]


# A limit of 0.05 clips every step (the coefficient below 1, the multiply taken); 1e9 never does
# (the CPU path skips the multiply by exactly 1); 0 turns clipping off.
@pytest.mark.parametrize("grad_clip", [0.05, 1e9, 0.0])
def test_the_step_is_bit_identical_to_the_inline_step_it_replaced(grad_clip):
    batches = _batches(6)
    ref_losses, ref_params = _reference_steps(grad_clip, batches)
    torch.manual_seed(0)
    step = TrainStep.for_shape(SHAPE, CPU, OptimConfig(grad_clip=grad_clip), ScheduleConfig(), TrainConfig(),
                               steps=20, warmup_steps=2)
    losses = [step(b) for b in batches]
    assert all(not t.requires_grad for t in losses)
    assert torch.stack(losses).tolist() == ref_losses
    for p, q in zip(step.model.parameters(), ref_params):
        assert torch.equal(p, q)


def test_lr_at_is_what_the_scheduler_sets_at_each_step():
    step = TrainStep.for_shape(SHAPE, CPU, steps=20, warmup_steps=3)
    for k, b in enumerate(_batches(8)):
        assert step.lr_at(k) == step.optimizer.param_groups[0]["lr"]
        assert step.lr_at(k) == OptimConfig().lr * lr_factor(k, 20, 3, ScheduleConfig())
        step(b)
    assert step.lr_at(3) == OptimConfig().lr  # the peak, whatever step the scheduler is at now


def test_cpu_choices_fp32_default_adamw_no_compile():
    step = TrainStep.for_shape(SHAPE, CPU, train=TrainConfig(compile=True, compile_mode="reduce-overhead"))
    assert step.forward_model is step.model and not step.compiled and not step.cudagraphs
    assert not step.optimizer.defaults["fused"]  # fused only on CUDA: CPU results stay what they were
    assert uses_bf16(CPU, "bf16") and not uses_bf16(CPU, "auto") and uses_bf16(torch.device("cuda"), "auto")
    model = build_model(SHAPE)
    assert build_optimizer(model, OptimConfig(), CPU).defaults["fused"] is None


def test_step_timer_gives_one_duration_per_step_and_empties():
    timer = StepTimer(CPU)
    for _ in range(3):
        timer.start()
        timer.stop()
    got = timer.pop_seconds()
    assert len(got) == 3 and all(0 <= s < 1 for s in got)
    assert timer.pop_seconds() == []


def test_compile_mode_is_validated_and_not_part_of_the_run_id():
    cfg = make_config(["train.tokens=100000"])
    assert records.run_id_of(cfg) == "34b106eabd991689"  # the pinned id (tests/test_config.py)
    cfg.train.compile_mode = "reduce-overhead"
    validate(cfg)
    assert records.run_id_of(cfg) == "34b106eabd991689"
    cfg.train.compile_mode = "fast"
    with pytest.raises(ConfigError, match="train.compile_mode"):
        validate(cfg)


def test_the_sweep_package_reaches_the_step_only_through_harness_step():
    for path in (ROOT / "harness" / "sweep").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module not in ("harness.model", "harness.run.train"), f"{path.name} imports {node.module}"


# -- the loop reads the loss every few steps, yet records divergence at the step it happened ------

def test_a_loss_gone_non_finite_mid_window_is_recorded_at_its_step(tmp_path, monkeypatch):
    real_call = TrainStep.__call__
    seen: list[float] = []

    def nan_at_step_7(self, batch):
        loss = real_call(self, batch)
        if len(seen) == 7:
            return torch.tensor(math.nan)
        seen.append(loss.item())
        return loss

    monkeypatch.setattr(TrainStep, "__call__", nan_at_step_7)
    # Points every 5 steps: the read after step 10 finds step 7's nan, three steps late.
    cfg = make_config([*TINY, "logging.log_interval=5", "train.eval_interval=50"], tmp_path)
    assert CHECK_EVERY > 3
    rec = run(cfg)
    assert rec.status == "diverged" and rec.reason == "non-finite training loss (nan) at step 7"
    assert rec.steps == 7 and rec.tokens == 7 * 8 * 32 and rec.val_loss is None
    assert [p.step for p in rec.curve] == [0, 5, 7]
    # The last point holds the finite losses since the previous point (steps 5 and 6) and the
    # schedule's rate at step 7, as if the run had stopped there.
    assert rec.curve[-1].train_loss == (seen[5] + seen[6]) / 2
    assert rec.curve[1].train_loss == sum(seen[:5]) / 5
    budget_steps, warmup = 100, rec.extra["warmup_steps"]
    assert rec.curve[-1].lr == cfg.optim.lr * lr_factor(7, budget_steps, warmup, cfg.schedule)
