"""A run's W&B mirror as its users read it, from what an offline run wrote: the sweep's group and
job type, and tokens and FLOPs (each convention) as the x-axes of the loss curves."""

import pytest

from harness.flops import CONVENTIONS
from harness.run.wandb_mirror import WandbMirror, flatten
from tests.helpers import TINY, make_config
from tests.sweep.wandb_files import offline_runs


def _point(step, val_loss, train_loss=3.0):
    tokens = step * 256
    return {"step": step, "tokens": tokens, "flops": {c: (6.0 + i) * 1000 * tokens for i, c in enumerate(CONVENTIONS)},
            "train_loss": train_loss, "val_loss": val_loss, "lr": 1e-3}


def test_a_point_is_one_history_row_with_the_losses_against_each_flop_convention():
    row = flatten(_point(2, 2.5))
    assert row["tokens"] == 512 and row["step"] == 2 and row["lr"] == 1e-3
    assert row["flops/6ND"] == 6000 * 512 and row["flops/chinchilla"] == 9000 * 512
    assert {k for k in row if k.startswith("vs_flops_")} == {f"vs_flops_{c}/{m}" for c in CONVENTIONS
                                                             for m in ("train_loss", "val_loss")}
    assert row["vs_flops_kaplan/val_loss"] == 2.5 and row["vs_flops_6ND/train_loss"] == 3.0
    # A point without a validation loss (a train-loss log line) logs no gap for it.
    no_val = flatten(_point(3, None))
    assert "val_loss" not in no_val and not any(k.endswith("/val_loss") for k in no_val if k.startswith("vs_"))


@pytest.mark.slow  # W&B's offline init and finish: 1-2 s
def test_the_mirror_groups_the_sweep_and_draws_losses_against_tokens_and_flops(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make_config([*TINY, "logging.wandb=offline", "sweep_name=ladder"], tmp_path)
    mirror = WandbMirror(cfg, "0123abcd", {"budget_tokens": 1024})
    for step, val in ((0, 5.5), (2, 4.0), (4, None)):
        mirror.log(_point(step, val))
    mirror.finish({"val_loss": 3.9, "status": "completed", "mfu": None})

    [run] = offline_runs(tmp_path)
    assert run.run.run_id == "0123abcd" and run.group == "ladder" and run.job_type == "train"
    assert run.metrics["tokens"] == ""
    for metric in ("train_loss", "val_loss", "lr"):
        assert run.metrics[metric] == "tokens"
    for conv in CONVENTIONS:
        assert run.metrics[f"flops/{conv}"] == ""
        assert run.metrics[f"vs_flops_{conv}/val_loss"] == f"flops/{conv}"
        assert run.metrics[f"vs_flops_{conv}/train_loss"] == f"flops/{conv}"
    assert [(h["_step"], h["tokens"], h.get("val_loss")) for h in run.history] == [(0, 0, 5.5), (2, 512, 4.0),
                                                                                   (4, 1024, None)]
    assert run.history[1]["flops/6ND"] == 6000 * 512 and run.history[1]["vs_flops_6ND/val_loss"] == 4.0
    assert run.summary["val_loss"] == 3.9 and run.summary["status"] == "completed" and "mfu" not in run.summary


def test_a_disabled_mirror_sends_nothing_and_writes_nothing(tmp_path):
    cfg = make_config(TINY, tmp_path)
    mirror = WandbMirror(cfg, "0123abcd", {})
    mirror.log(_point(0, 5.5))
    mirror.finish({"val_loss": 3.9})
    assert mirror.run is None and not any(tmp_path.rglob("*.wandb"))
