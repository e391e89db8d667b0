"""A run's mirror in Weights & Biases (``logging.wandb``): its curve points as they come and its
summary at the end. The local record stays the source of truth; with the mirror disabled (the
default) wandb is never imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import Config, as_dict


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
        self.run = wandb.init(
            project=cfg.logging.project, entity=cfg.logging.entity, group=cfg.sweep_name,
            name=run_id, id=run_id, resume="allow", mode=cfg.logging.wandb, dir=str(wandb_dir),
            config={**as_dict(cfg), **extra_config}, reinit="finish_previous")

    def log(self, point: dict[str, Any]) -> None:
        if self.run is not None:
            flat = {k: v for k, v in point.items() if k != "flops" and v is not None}
            flat.update({f"flops/{k}": v for k, v in point["flops"].items()})
            self.run.log(flat, step=point["step"])

    def finish(self, summary: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update({k: v for k, v in summary.items() if v is not None})
            self.run.finish()
