"""A run's mirror in Weights & Biases (``logging.wandb``): its curve points as they come and its
summary at the end. The local record stays the source of truth; with the mirror disabled (the
default) wandb is never imported.

How it reads in W&B: a sweep's runs share a group (the sweep name) with job type ``train``, beside
the ``fit`` run of the same group that harness/sweep/wandb_fit.py logs when the sweep ends. Runs
of a scaling study are compared by tokens and FLOPs, not by step (two sizes at one budget take
different numbers of steps), so the loss curves' x-axis is ``tokens``, and the losses are logged a
second time under ``vs_flops_<convention>/`` with that convention's FLOPs as x-axis, for each FLOP
convention a record counts (harness/flops.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import Config, as_dict
from harness.flops import CONVENTIONS

JOB_TYPE = "train"
TOKENS = "tokens"
CURVES = ("train_loss", "val_loss")  # the loss curves, drawn against tokens and against FLOPs
PER_TOKEN = ("lr",)  # drawn against tokens only


def flops_axis(convention: str) -> str:
    """The logged key of the FLOPs (under ``convention``) a point had trained for."""
    return f"flops/{convention}"


def vs_flops(convention: str, metric: str) -> str:
    """The key of ``metric`` logged a second time, with ``flops_axis(convention)`` as its x-axis."""
    return f"vs_flops_{convention}/{metric}"


def define_axes(run: Any) -> None:
    """Tokens and FLOPs as the x-axes of the loss curves (W&B's default is its own step)."""
    run.define_metric(TOKENS)
    for metric in (*CURVES, *PER_TOKEN):
        run.define_metric(metric, step_metric=TOKENS)
    for conv in CONVENTIONS:
        run.define_metric(flops_axis(conv))
        for metric in CURVES:
            run.define_metric(vs_flops(conv, metric), step_metric=flops_axis(conv))


def flatten(point: dict[str, Any]) -> dict[str, Any]:
    """A curve point (harness/run/state.py) as one W&B history row; a loss not measured at this
    point (None) is left out rather than logged as a gap."""
    row = {k: v for k, v in point.items() if k != "flops" and v is not None}
    for conv, c in point["flops"].items():
        row[flops_axis(conv)] = c
        for metric in CURVES:
            if point.get(metric) is not None:
                row[vs_flops(conv, metric)] = point[metric]
    return row


class WandbMirror:
    def __init__(self, cfg: Config, run_id: str, extra_config: dict[str, Any], enabled: bool = True):
        """``enabled=False``: a mirror that sends nothing, whatever ``logging.wandb`` says (a pass
        that writes no record mirrors none either)."""
        self.run = None
        if not enabled or cfg.logging.wandb == "disabled":
            return
        import wandb

        wandb_dir = Path(cfg.out_dir) / cfg.sweep_name
        wandb_dir.mkdir(parents=True, exist_ok=True)
        # id=run_id with resume="allow": a run resumed from its checkpoint (a restart, or a requeued
        # cluster job) goes on in the same W&B run instead of starting a second one.
        self.run = wandb.init(
            project=cfg.logging.project, entity=cfg.logging.entity, group=cfg.sweep_name, job_type=JOB_TYPE,
            name=run_id, id=run_id, resume="allow", mode=cfg.logging.wandb, dir=str(wandb_dir),
            config={**as_dict(cfg), **extra_config}, reinit="finish_previous")
        define_axes(self.run)

    def log(self, point: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log(flatten(point), step=point["step"])

    def finish(self, summary: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update({k: v for k, v in summary.items() if v is not None})
            self.run.finish()
