"""Building configs for tests the way the CLI does: Hydra compose over conf/ with overrides."""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from harness.config import Config, register_configs, to_config
from harness.shapes.resolvers import register_resolvers

CONF = str(Path(__file__).resolve().parents[1] / "conf")

# A run that takes about a second on one CPU core.
TINY = ["data.seq_len=32", "data.val_sequences=32", "model.n_layer=1", "model.d_model=32",
        "model.n_head=2", "train.batch_size=8", "train.tokens=25600", "train.threads=1",
        "logging.quiet=true"]


@functools.lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...], env: tuple[str | None, ...]) -> Config:
    # `env` is part of the key only: the YAML reads these variables (data.cache_dir).
    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return to_config(compose("config", overrides=list(overrides)))


def make_config(overrides: list[str], out_dir: Path | None = None) -> Config:
    """The typed config of ``harness-train <overrides> [out_dir=...]``.

    Composing costs Hydra about 0.1 s, so each distinct list of overrides is composed once per test
    session and every caller gets its own copy. out_dir is set on the copy: no other key reads it.
    """
    env = tuple(os.environ.get(k) for k in ("HARNESS_CACHE", "HOME", "HARNESS_SHARED_DATA"))
    cfg = copy.deepcopy(_composed(tuple(overrides), env))
    if out_dir is not None:
        cfg.out_dir = str(out_dir)
    return cfg


def load_script(name: str):
    """scripts/<name>.py as a module (the scripts folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up by name while they are made
    spec.loader.exec_module(mod)
    return mod
