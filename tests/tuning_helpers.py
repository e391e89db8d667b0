"""Run records for the tuning tests: a loss that is a known parabola in ln(lr) per shape."""

from __future__ import annotations

import json
import math
from pathlib import Path

# (name, d_model, non-embedding N): gpt2 shapes of 2 layers, N = 12 d^2 per block (+ norms/biases ignored)
SHAPES = [("s1", 24, 14_000), ("s2", 32, 25_000), ("s3", 48, 57_000), ("s4", 80, 156_000), ("s5", 128, 397_000)]
TRUE_C, TRUE_E = 5e-3, -0.5  # the lr*(N) the synthetic curves follow
CURV = 0.02  # nats per (ln lr)^2


def lr_star(n: float) -> float:
    return TRUE_C * (n / 1e5) ** TRUE_E


def loss_at(n: float, lr: float, d: float = 2e6, curvature: float = CURV) -> float:
    base = 1.2 + 30 / n ** 0.3 + 400 / d ** 0.3
    return base + curvature * math.log(lr / lr_star(n)) ** 2


def write_run(sweep: Path, run_id: str, name: str, d_model: int, n: int, lr: float, loss: float | None,
              tokens: int = 2_000_000, status: str = "completed", beta2: float = 0.95) -> None:
    shape = {"arch": "gpt2", "n_layer": 2, "d_model": d_model, "n_head": 2, "d_ff": 4 * d_model, "n_ctx": 64,
             "seq_len": 64, "vocab_size": 128, "tied": True}
    total = n + 128 * d_model + 64 * d_model
    f6 = 6.0 * total * tokens
    rec = {"run_id": run_id, "status": status, "sweep_name": sweep.name,
           "config": {"model": {"name": name, "n_layer": 2, "d_model": d_model},
                      "optim": {"lr": lr, "beta2": beta2, "weight_decay": 0.1},
                      "schedule": {"name": "cosine"}, "train": {"batch_size": 64, "eval_sequences": 0},
                      "data": {"name": "synthetic", "val_sequences": 64}},
           "shape": shape, "params": {"total": total, "embedding": total - n, "head": 0, "non_embedding": n},
           "tokens": tokens, "steps": tokens // 4096,
           "flops": {"6ND": f6, "6ND_nonemb": 6.0 * n * tokens, "kaplan": f6, "chinchilla": f6},
           "val_loss": loss, "bayes_loss": None, "curve": [], "wall_seconds": 1.0, "tokens_per_second": None,
           "mfu": None, "peak_flops": None, "device_name": "cpu", "torch_version": "x", "git_commit": None,
           "data_fingerprint": "synthetic-test", "unique_tokens": None, "epochs": None, "seed": 0,
           "started_at": "2026-01-01T00:00:00Z", "ended_at": "2026-01-01T00:00:01Z",
           "reason": None if status == "completed" else "loss diverged", "extra": {}}
    (sweep / "runs").mkdir(parents=True, exist_ok=True)
    (sweep / "runs" / f"{run_id}.json").write_text(json.dumps(rec))


def write_tuning_sweep(sweep: Path, mults=(0.25, 0.5, 1, 2, 4), centre_off: dict | None = None) -> None:
    """Every shape on a x2 grid around its true optimum (times centre_off[name] where given)."""
    for name, d, n in SHAPES:
        centre = lr_star(n) * (centre_off or {}).get(name, 1.0)
        for m in mults:
            lr = float(f"{centre * m:.3g}")
            write_run(sweep, f"{name}-{m:g}", name, d, n, lr, loss_at(n, lr))
