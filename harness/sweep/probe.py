"""How long the planned runs would take here: a short throughput probe on this machine.

A few optimizer steps of each distinct (shape, batch, device, threads), timed after warm-up steps,
give a FLOP rate; each run's time is its steps and evaluations at that rate plus a fixed setup
overhead. The only part of the planner that needs torch, so it imports it only when it probes.
"""

from __future__ import annotations

from typing import Any, Callable

from harness.config import OptimConfig, ScheduleConfig, TrainConfig
from harness.flops import Shape
from harness.sweep.describe import PlannedRun
from harness.sweep.plan_options import PlanOptions

ProbeKey = tuple[Shape, int, str, int | None]  # shape, batch, device, threads


def probe_seconds_per_step(shape: Shape, batch_size: int, device_spec: str, threads: int | None, steps: int,
                           cfg=None) -> float:
    """Median seconds of one optimizer step on random tokens, after warm-up steps: the step a run
    takes (harness.run.step.TrainStep: clipping, schedule, precision and compile as ``cfg`` sets them,
    the defaults without one), timed the way a run times it."""
    import torch

    from harness.hardware import resolve_device
    from harness.run.step import StepTimer, TrainStep

    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device_spec)
    torch.manual_seed(0)
    step = TrainStep.for_shape(shape, device, cfg.optim if cfg else OptimConfig(),
                               cfg.schedule if cfg else ScheduleConfig(), cfg.train if cfg else TrainConfig())
    batch = torch.randint(0, shape.vocab_size, (batch_size, shape.seq_len + 1), device=device)
    timer = StepTimer(device)
    for _ in range(2):  # the first steps pay for allocation, kernel selection and compilation
        step(batch)
    for _ in range(steps):
        timer.start()
        step(batch)
        timer.stop()
    times = timer.pop_seconds()
    return sorted(times)[len(times) // 2]


def machine_name(device_spec: str) -> str:
    """The device the estimates are timed on, as harness.hardware names it (the spec itself when
    it does not resolve here)."""
    from harness.hardware import device_name, resolve_device

    try:
        return device_name(resolve_device(device_spec))
    except Exception:
        return device_spec


def estimate(runs: list[PlannedRun], opts: PlanOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fill in each run's estimated seconds; returns what the probe measured."""
    if not opts.probe:
        return {}
    groups: dict[ProbeKey, list[PlannedRun]] = {}
    for r in runs:
        if r.info:
            key = (r.shape, r.info["batch_size"], r.info["device"], r.info["threads"])
            groups.setdefault(key, []).append(r)
    rate = _probe_rates(groups, opts, log)
    best_rate = max(rate.values(), default=None)
    for key, rs in groups.items():
        rt = rate.get(key) or best_rate
        if rt is None:
            continue
        for r in rs:
            r.extrapolated = key not in rate
            r.seconds = _seconds(r, rt, opts.overhead_s)
    return {"probed_shapes": len(rate), "flops_per_second_max": best_rate}


def _step_flops(r: PlannedRun) -> float:
    return r.info["flops"]["chinchilla"] / r.info["steps"]


def _probe_rates(groups: dict[ProbeKey, list[PlannedRun]], opts: PlanOptions,
                 log: Callable[[str], None]) -> dict[ProbeKey, float]:
    """Chinchilla FLOPs per second of each group probed, smallest FLOPs per token first: a group
    whose probe would take longer than opts.max_probe_s at the best rate so far is left out."""
    rate: dict[ProbeKey, float] = {}
    order = sorted(groups, key=lambda k: groups[k][0].info["flops"]["chinchilla"] / groups[k][0].info["tokens"])
    for key in order:
        shape, batch, device, threads = key
        r0 = groups[key][0]
        best_rate = max(rate.values(), default=None)
        if best_rate and _step_flops(r0) / best_rate * (opts.probe_steps + 2) > opts.max_probe_s:
            continue
        try:
            sec = probe_seconds_per_step(shape, batch, device, threads, opts.probe_steps, cfg=r0.job.cfg)
        except Exception as e:  # e.g. out of memory: leave it to extrapolation
            log(f"probe of L={shape.n_layer} d={shape.d_model} batch {batch} failed ({type(e).__name__}); extrapolating")
            continue
        rate[key] = _step_flops(r0) / sec
    return rate


def _seconds(r: PlannedRun, flops_per_second: float, overhead_s: float) -> float:
    """Training and evaluation time of one run at a FLOP rate, plus the setup overhead."""
    train_s = r.info["steps"] * _step_flops(r) / flops_per_second
    per_token = r.info["flops"]["chinchilla"] / r.info["tokens"]
    # Evaluation is a forward pass only: a third of a training step's cost per token.
    eval_s = r.info["evals"] * r.info["val_tokens"] * per_token / 3 / flops_per_second
    # A branch trains only its cooldown; its evaluations before the fork are the trunk's.
    return (train_s + eval_s) * r.info["spent_fraction"] + overhead_s
