"""Building configs for tests the way the CLI does: Hydra compose over conf/ with overrides."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

from harness.config import Config, register_configs, to_config
from harness.sweep.hparams import register_resolvers

CONF = str(Path(__file__).resolve().parents[1] / "conf")

# A run that takes about a second on one CPU core.
TINY = ["data.seq_len=32", "data.val_sequences=32", "model.n_layer=1", "model.d_model=32",
        "model.n_head=2", "train.batch_size=8", "train.tokens=25600", "train.threads=1",
        "logging.quiet=true"]


def make_config(overrides: list[str], out_dir: Path | None = None) -> Config:
    register_configs()
    register_resolvers()
    extra = [f"out_dir={out_dir}"] if out_dir is not None else []
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return to_config(compose("config", overrides=[*overrides, *extra]))
