"""A run's identity, its run_id: the one definition of when two configs are the same run.

Every record on disk is named by it and found again through it, so a change here renames every
recorded run: a key that is added must leave the id of every config without it as it was
(``RUN_ID_OMITTED_AT_DEFAULT``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

# Keys that say where a run writes or how it reports, never what it computes: they stay out of
# the run_id so the same run found under another device or logger is still the same run.
# Where things are, not what is computed: the token cache's folder (it also differs per machine,
# $HOME or $HARNESS_CACHE) names no part of the result.
# train.compile_mode: how torch.compile runs the step on CUDA (CUDA graphs or not), which changes
# no result on the CPU; it came after runs were recorded, whose ids must not change.
# schedule.branches: a run with cooldown branches computes exactly what it would without them (the
# branches are runs of their own, each with its own record), so the trunk is the standalone run.
RUN_ID_EXCLUDED = ("schedule.branches", "out_dir", "sweep_name", "logging", "sweep", "device", "train.threads",
                   "train.checkpoint_interval_seconds", "model.name", "data.cache_dir", "train.compile_mode")

# Keys added after runs were recorded: at their default they leave the id what it was before the
# key existed (a linear wsd cooldown is the only one there was); any other value is a new run.
RUN_ID_OMITTED_AT_DEFAULT = {"schedule.decay_shape": "linear", "train.evals_per_run": 10}


def _get(d: dict[str, Any], key: str, default: Any) -> Any:
    node: Any = d
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _pop(d: dict[str, Any], key: str) -> None:
    node = d
    *parents, leaf = key.split(".")
    for p in parents:
        node = node.get(p, {})
    node.pop(leaf, None)


def run_id_of(cfg: Any) -> str:
    """The run's identity: a stable hash of everything that changes what the run computes.

    That is the config (a ``Config`` dataclass or its plain dict) less ``RUN_ID_EXCLUDED``, and,
    for text read from local files, the files' content: a file edited after a run is new data,
    so a new run, never the old record. Synthetic data is fully named by its config and a hub
    dataset by its name and ``data.revision``, so their ids hash the config alone (and stay what
    they were before content was hashed).
    """
    d = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else json.loads(json.dumps(cfg))
    for key in RUN_ID_EXCLUDED:
        _pop(d, key)
    for key, default in RUN_ID_OMITTED_AT_DEFAULT.items():
        if _get(d, key, default) == default:
            _pop(d, key)
    data = d.get("data") or {}
    if data.get("kind") == "text" and data.get("paths"):
        # Imported here: only runs on local text pay for the data module (and torch).
        from harness.data.text import local_content_identity

        d["data_content"] = local_content_identity(list(data["paths"]))
        # The content names the data; where the files sit ($HARNESS_SHARED_DATA, a relative
        # path) does not, so the same corpus has one id on every machine.
        data.pop("paths")
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
