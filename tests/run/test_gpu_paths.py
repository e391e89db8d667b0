"""The GPU code paths a CPU can run: bf16 autocast, torch.compile of the step's forward and
backward, GPU-slot assignment over fake devices, MFU arithmetic against a datasheet peak, the
record of a run on a (simulated) CUDA device, and the planner's packed wall-time estimate."""

from __future__ import annotations

import contextlib
import importlib
import io
import math
import threading
import time

import pytest
import torch

from harness.machine import mfu, peak_flops
from harness.run.devices import gpu_slot, job_device, slot_order
from harness.run.train import run
from harness.sweep.packing import lpt_schedule, packed_wall_seconds
from tests.helpers import TINY, make_config

H100 = "NVIDIA H100 80GB HBM3"  # what torch.cuda.get_device_name reports for an H100 SXM


# --- bf16 autocast -------------------------------------------------------------------------------

@pytest.mark.slow  # trains a run under bf16 autocast
def test_a_bf16_run_on_cpu_completes_and_its_record_says_bf16(tmp_path):
    bf16 = run(make_config([*TINY, "train.precision=bf16"], tmp_path))
    fp32 = run(make_config([*TINY, "train.precision=fp32"], tmp_path))
    assert bf16.status == "completed" and bf16.steps == 100
    assert bf16.config["train"]["precision"] == "bf16" and fp32.config["train"]["precision"] == "fp32"
    assert bf16.run_id != fp32.run_id  # precision changes the result, so it is part of the run's identity
    assert bf16.val_loss < math.log(256) and math.isfinite(bf16.val_loss)
    # autocast really ran in bf16: same seed, same data, yet the losses part (bf16 keeps 8 bits of
    # mantissa), while staying close (the loss itself is computed in fp32).
    assert bf16.val_loss != fp32.val_loss
    assert bf16.val_loss == pytest.approx(fp32.val_loss, rel=0.02)
    assert bf16.peak_flops is None and bf16.mfu is None  # no peak on a CPU
    # The record names the precision the step really ran in; precision=auto resolves to fp32 on a CPU.
    auto = run(make_config([*TINY, "train.precision=auto"], tmp_path))
    assert (bf16.extra["precision"], fp32.extra["precision"], auto.extra["precision"]) == ("bf16", "fp32", "fp32")
    assert auto.extra["compiled"] is False


# --- a run on a CUDA device, simulated: the record's device, precision and MFU --------------------

def _fake_device_name(monkeypatch, name):
    """Every module the run reads the device's name through reports ``name`` (the run still
    trains on the CPU; only what it records about the device is simulated)."""
    fake = lambda device: name  # noqa: E731
    for mod in ("harness.hardware", "harness.run.setup", "harness.run.step"):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        if hasattr(m, "device_name"):
            monkeypatch.setattr(m, "device_name", fake)


@pytest.mark.slow  # over half a second: kept out of the fast loop
@pytest.mark.parametrize("precision, peak_tflops", [("bf16", 989.5), ("fp32", 67.0)])
def test_a_record_written_on_an_h100_carries_device_precision_and_mfu(tmp_path, monkeypatch, precision, peak_tflops):
    _fake_device_name(monkeypatch, H100)
    rec = run(make_config([*TINY, f"train.precision={precision}"], tmp_path))
    assert rec.status == "completed"
    assert rec.device_name == H100
    assert rec.config["train"]["precision"] == precision and rec.extra["precision"] == precision
    # The peak is the datasheet's dense figure at the precision the run used: bf16 tensor cores, or
    # plain fp32 on CUDA cores.
    assert rec.peak_flops == pytest.approx(peak_tflops * 1e12)
    per_token = rec.extra["flops_per_token"]["chinchilla"]
    assert rec.tokens_per_second > 0
    assert rec.mfu == pytest.approx(rec.tokens_per_second * per_token / rec.peak_flops, rel=1e-12)
    assert rec.mfu == pytest.approx(mfu(rec.tokens_per_second, per_token, rec.peak_flops), rel=1e-12)
    assert 0 < rec.mfu < 1e-3  # a CPU's tokens/s against an H100's peak


# --- MFU arithmetic --------------------------------------------------------------------------------

def test_mfu_against_the_h100_bf16_peak():
    peak = peak_flops(H100, "bf16")
    assert peak == 989.5e12
    # A 124M-parameter model at 200,000 tokens/s and 6 N = 7.44e8 FLOPs per token is 1.488e14 FLOP/s:
    # 15.04% of the H100's dense 989.5 TFLOP/s.
    assert mfu(200_000, 6 * 124e6, peak) == pytest.approx(0.150379, abs=1e-6)
    # And the inverse: 40% MFU (the README's goal at 124M) takes 531,989 tokens/s at 6N.
    assert 0.40 * peak / (6 * 124e6) == pytest.approx(531_989.25, abs=0.01)
    assert mfu(531_989.25, 6 * 124e6, peak) == pytest.approx(0.40, abs=1e-8)
    assert mfu(1000.0, 1e9, None) is None and mfu(None, 1e9, peak) is None and mfu(0.0, 1e9, peak) is None


# --- GPU slots over fake devices -------------------------------------------------------------------

def test_slot_order_prefers_job_k_mod_n_and_covers_every_slot_once():
    for n in (2, 3, 4):
        for k in range(2 * n + 1):
            order = slot_order(k, n, 2)
            assert order[0] == (k % n, 0) and order[1] == (k % n, 1)
            assert sorted(order) == [(g, s) for g in range(n) for s in range(2)]


def test_jobs_fill_their_preferred_gpus_and_spill_over_then_wait(tmp_path):
    lock_dir = tmp_path / ".gpu-slots"
    n, per = 3, 2
    with contextlib.ExitStack() as held:
        # Jobs 0..5 all at once: each gets its own GPU (k mod 3), two per GPU.
        got = [held.enter_context(gpu_slot(lock_dir, k, n, per, poll_seconds=0.01)) for k in range(n * per)]
        assert got == [0, 1, 2, 0, 1, 2]
        # Job 6 prefers GPU 0; every slot is busy, so it waits until one frees.
        result, messages = [], []

        def job6():
            with gpu_slot(lock_dir, 6, n, per, poll_seconds=0.01, log=messages.append) as g:
                result.append(g)

        t = threading.Thread(target=job6)
        t.start()
        time.sleep(0.2)
        assert result == [] and messages == ["job 6: all 6 GPU slots busy; waiting for one"]
        held.close()  # frees every slot: job 6 takes its own GPU's first slot
        t.join(5)
    assert result == [0]


def test_a_busy_preferred_gpu_sends_the_job_to_the_next_one(tmp_path):
    lock_dir = tmp_path / ".gpu-slots"
    with gpu_slot(lock_dir, 1, 4, 1) as a, gpu_slot(lock_dir, 5, 4, 1) as b, gpu_slot(lock_dir, 9, 4, 1) as c:
        # Jobs 1, 5 and 9 all prefer GPU 1 with one slot each: the next GPUs in turn take them.
        assert (a, b, c) == (1, 2, 3)


def test_concurrent_jobs_never_exceed_runs_per_gpu(tmp_path):
    lock_dir = tmp_path / ".gpu-slots"
    n, per, jobs = 3, 2, 15
    guard = threading.Lock()
    now = [0] * n
    most = [0] * n
    used = []

    def job(k):
        with gpu_slot(lock_dir, k, n, per, poll_seconds=0.005) as g:
            with guard:
                now[g] += 1
                most[g] = max(most[g], now[g])
                used.append((k, g))
            time.sleep(0.05)
            with guard:
                now[g] -= 1

    threads = [threading.Thread(target=job, args=(k,)) for k in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(used) == jobs and max(most) == per and now == [0] * n
    assert sorted({g for _, g in used}) == [0, 1, 2]


def test_job_device_gives_a_slot_only_to_auto_jobs_of_a_multi_gpu_sweep(tmp_path):
    def device(spec, job, n):
        with job_device(spec, str(tmp_path), "s", job, runs_per_gpu=2, n_gpus=n) as d:
            return d

    assert device("auto", 5, 4) == "cuda:1"
    assert device("auto", 6, 4) == "cuda:2"
    assert device("cpu", 5, 4) == "cpu"  # an explicit device is kept
    assert device("cuda:3", 5, 4) == "cuda:3"
    assert device("auto", None, 4) == "auto"  # a single run, not a sweep job
    assert device("auto", 5, 1) == "auto"  # one GPU: every job shares it
    assert (tmp_path / "s" / ".gpu-slots" / "1.0.lock").exists()


# --- packed wall time ------------------------------------------------------------------------------

def test_lpt_places_the_longest_run_first_on_the_slot_that_frees_first():
    # 7 and 6 start; 5 joins the 6 (free first: 11), 4 the 7 (11); 3 goes to slot 0 (a tie goes to
    # the lower index: 14), 2 to slot 1 (13).
    assert lpt_schedule([3, 7, 2, 5, 6, 4], 2) == [14.0, 13.0]
    assert lpt_schedule([10.0], 3) == [10.0, 0.0, 0.0]
    assert lpt_schedule([], 2) == [0.0, 0.0]
    with pytest.raises(ValueError):
        lpt_schedule([1.0], 0)


def test_packed_wall_time():
    runs = [100.0] * 8 + [400.0]
    assert packed_wall_seconds(runs, 1, 1, 2.0) == 1200.0  # one at a time: the sum
    assert packed_wall_seconds(runs, 2, 1, 2.0) == 600.0  # 400+200 | 600
    # 2 GPUs x 4 slots: the 400 s run alone on a slot at x2 = 800 s sets the wall time.
    assert packed_wall_seconds(runs, 2, 4, 2.0) == 800.0
    assert packed_wall_seconds(runs, 2, 4, 1.0) == 400.0  # free sharing: the longest run
    assert packed_wall_seconds([60.0] * 16, 1, 8, 1.6) == pytest.approx(192.0)  # 2 rounds of 8 at x1.6
    assert packed_wall_seconds([], 1, 8, 2.0) == 0.0
    with pytest.raises(ValueError, match="not faster"):
        packed_wall_seconds(runs, 1, 2, 0.5)


@pytest.mark.slow  # composes and probes a sweep
def test_the_planner_prints_the_packed_estimate_with_its_assumption(monkeypatch, tmp_path):
    from harness.sweep import plan as plan_mod

    # Each run's single-run estimate is fixed (no probe): 6 runs at 10 s each, in an empty out_dir
    # so that all are still to train.
    def fake_estimate(runs, opts, log=print):
        for r in runs:
            r.seconds = 10.0
        return {}

    monkeypatch.setattr(plan_mod, "estimate", fake_estimate)
    grid = ["model.n_layer=1", "model.n_head=2", "data.seq_len=32", "model.d_model=16,32",
            "train.tokens=25600,51200,102400", f"out_dir={tmp_path}"]
    out = io.StringIO()
    plan_mod.plan([*grid, "plan.gpus=2", "sweep.runs_per_gpu=4", "plan.pack_slowdown=1.5"], out=out)
    line = next(ln for ln in out.getvalue().splitlines() if ln.startswith("packed on"))
    # 6 runs of 10 s on 8 slots at x1.5: one round, 15 s.
    assert "packed on 2 GPUs x 4 runs per GPU" in line and ": 15s, assuming each run sharing a GPU takes x1.5" in line
    assert "an assumption, not a measurement" in line and "not on the GPUs" in line
    out = io.StringIO()
    plan_mod.plan([*grid, "plan.gpus=4"], out=out)  # one run per GPU: no slowdown to assume
    line = next(ln for ln in out.getvalue().splitlines() if ln.startswith("packed on"))
    assert ": 20s" in line and "assum" not in line  # 6 runs on 4 slots: two rounds
    out = io.StringIO()
    plan_mod.plan(grid, out=out)  # no GPU visible here, none named: no packed line
    assert torch.cuda.is_available() or "packed on" not in out.getvalue()
    with pytest.raises(plan_mod.SweepError, match="pack_slowdown"):
        plan_mod.plan([*grid, "plan.gpus=1", "sweep.runs_per_gpu=2", "plan.pack_slowdown=0.5"], out=io.StringIO())


# --- torch.compile of the step's forward and backward ----------------------------------------------

@pytest.mark.slow  # inductor compiles C++ kernels for the forward and the backward: ~15 s each on 2 cores
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_compiled_step_trains_as_the_eager_one_does(precision):
    """What train.compile does on CUDA, on the CPU: harness.run.step.TrainStep (autocast, fp32 loss,
    backward, clipping, AdamW, schedule) with its forward through torch.compile gives the eager
    step's losses and weights. TrainStep compiles only on CUDA, so the test sets the compiled module
    as its forward_model, which is what it does there."""
    from harness.config import TrainConfig
    from harness.flops import Shape
    from harness.run.step import TrainStep

    shape = Shape("gpt2", n_layer=1, d_model=32, n_head=2, d_ff=128, n_ctx=16, seq_len=16, vocab_size=64, tied=True)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 64, (4, 17), generator=gen)] * 3  # one batch thrice: its loss must fall

    def train(compiled: bool):
        torch.manual_seed(0)
        step = TrainStep.for_shape(shape, torch.device("cpu"), train=TrainConfig(precision=precision),
                                   steps=10, warmup_steps=1)
        assert not step.compiled  # the CPU never compiles by itself
        if compiled:
            step.forward_model = torch.compile(step.model)
        start = [p.detach().clone() for p in step.model.parameters()]
        losses = [step(b).item() for b in batches]
        return losses, [(p.detach() - p0) for p, p0 in zip(step.model.parameters(), start)]

    torch._dynamo.reset()
    eager_losses, eager_moves = train(False)
    comp_losses, comp_moves = train(True)
    # Fused kernels reorder float sums: equal to rounding, looser where bf16 rounds the matmuls.
    tol = 1e-4 if precision == "fp32" else 2e-2
    assert comp_losses == pytest.approx(eager_losses, rel=tol)
    assert eager_losses[-1] < eager_losses[0]  # it trained
    # Every weight tensor moved as the eager step moved it. Compared in the mean, not per element:
    # AdamW's first steps move a weight by about lr whatever its gradient's size, so where a gradient
    # is near zero (a bias) a rounding-sized difference can flip that weight's direction.
    # Measured here: at most 2e-4 of the mean move in fp32, 0.05 in bf16 (a LayerNorm bias).
    bound = 1e-3 if precision == "fp32" else 0.15
    for m_e, m_c in zip(eager_moves, comp_moves):
        assert (m_c - m_e).abs().mean() <= bound * m_e.abs().mean()
