"""What a run is before any model exists: its data, shape, budget, device and the branches it
forks, all fixed by its config; and the line that tells the user so."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.budget import Budget, resolve_budget
from harness.config import Config
from harness.data import TokenSource, build_data
from harness.flops import ParamCounts, Shape, flops_per_token, param_counts
from harness.hardware import device_name, resolve_device
from harness.machine import peak_flops
from harness.run.branches import Fork, plan_forks
from harness.run.forks import unforked
from harness.run.state import Log
from harness.run.step import uses_bf16


@dataclass
class RunSetup:
    cfg: Config
    run_id: str
    device: torch.device
    data: TokenSource
    shape: Shape
    counts: ParamCounts
    budget: Budget
    per_token: dict[str, float]  # FLOPs per token, by convention
    planned: list[Fork]  # every branch the config names, as the record lists them
    forks: list[Fork]  # the branches this pass forks
    stop: int  # the step this pass trains to
    fork_only: bool  # the run is recorded already: train only as far as its last fork
    device_name: str
    # The precision the step really runs in (train.precision=auto resolves per device): the record
    # says it, since MFU is only comparable against the peak of that precision.
    precision: str
    peak: float | None  # the device's peak FLOP/s at that precision, where known


def set_up(cfg: Config, run_id: str, log: Log, fork_only: bool = False) -> RunSetup | None:
    """The run's setup; None for a ``fork_only`` pass that has no branch left to fork."""
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.device)
    data = build_data(cfg.data, cfg.seed)
    shape = cfg.model.shape(data.vocab_size, cfg.data.seq_len)
    budget = resolve_budget(cfg, shape)
    planned = plan_forks(cfg, shape)
    for f in planned:
        if f.alone and not fork_only:
            log.warn(f"run {run_id}: the cooldown branch {f.budget:g} cannot fork off this run ({f.alone}); "
                     "it trains alone after it")
    forks = [f for f in planned if not f.alone and unforked(cfg, f.run_id)]
    if fork_only and not forks:
        return None
    stop = max(f.fork_step for f in forks) if fork_only else budget.steps
    name = device_name(device)
    precision = "bf16" if uses_bf16(device, cfg.train.precision) else "fp32"
    return RunSetup(cfg=cfg, run_id=run_id, device=device, data=data, shape=shape, counts=param_counts(shape),
                    budget=budget, per_token=flops_per_token(shape), planned=planned, forks=forks, stop=stop,
                    fork_only=fork_only, device_name=name, precision=precision, peak=peak_flops(name, precision))


def describe(s: RunSetup, log: Log) -> None:
    """The run's one-line summary before its first step (and a capped warmup's warning)."""
    b = s.budget
    log(f"run {s.run_id}: {s.shape.arch} L={s.shape.n_layer} d={s.shape.d_model} h={s.shape.n_head} | "
        f"N={s.counts.total:,} (non-emb {s.counts.non_embedding:,}) | {b.steps} steps x "
        f"{b.tokens_per_step} = {b.tokens:,} tokens ({b.requested}) | "
        f"C(6ND)={s.per_token['6ND'] * b.tokens:.3g} | {s.device_name}"
        + (f" | {len(s.forks)} cooldown branch(es) to fork" if s.forks else "")
        + (f" | only to step {s.stop}, to fork them (the run is recorded)" if s.fork_only else ""))
    if b.warmup_capped:
        log(f"run {s.run_id}: warning: the warmup asked for is longer than the run; it is capped at {b.steps} steps")
