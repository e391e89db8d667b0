"""Readable data-set labels: what a point's ``group`` says, from a run's config or a written name.

Run records are labelled by the data they trained on, never by settings that leave the data as it
is (a sweep over ``data.seq_len`` on one corpus is one data set). Two data sets whose readable
labels coincide (two synthetic languages of one seed) are told apart by a short prefix of their
data fingerprints (``disambiguate``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

# Endings that say how a file is stored, not what corpus it holds: "eltec_eng.jsonl.gz" is eltec_eng.
_STORAGE_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".jsonl", ".json", ".parquet")


def _corpus_name(path: str) -> str:
    name = Path(str(path)).name
    stripped = True
    while stripped:
        stripped = False
        for suffix in _STORAGE_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, stripped = name[: -len(suffix)], True
    return name


def data_label(data_cfg: object) -> str:
    """A readable name for the data a run trained on, from its config's ``data`` section.

    Synthetic data: "synthetic (seed 1234)". Text: "text: " and the local files' names, or the hub
    dataset's path (and config name). Settings that also define the data (vocabulary, split) are
    not spelled out; ``disambiguate`` adds a fingerprint prefix where two data sets would share a label.
    """
    if not isinstance(data_cfg, dict):
        return "data" if data_cfg is None else str(data_cfg)
    kind = data_cfg.get("kind")
    if kind == "synthetic":
        seed = data_cfg.get("seed")
        return "synthetic" + (f" (seed {seed})" if seed is not None else "")
    if kind == "text":
        paths = data_cfg.get("paths") or []
        if paths:
            names = [_corpus_name(p) for p in paths]
            shown = ", ".join(names[:3]) + (f" +{len(names) - 3} more" if len(names) > 3 else "")
            return f"text: {shown}"
        hub = data_cfg.get("hub_path")
        if hub:
            name = data_cfg.get("hub_name")
            return f"text: {hub}" + (f" ({name})" if name else "")
        return "text"
    for key in ("name", "dataset", "source", "path"):
        if isinstance(data_cfg.get(key), str):
            return data_cfg[key]
    return str(kind) if kind else "data"


def _short(key: str, width: int) -> str:
    return (key[len("synthetic-"):] if key.startswith("synthetic-") else key)[:width]


def disambiguate(labels: Sequence[str], keys: Sequence[str | None]) -> list[str]:
    """Labels made unique per key: a label shared by different keys gets a short key prefix.

    A key of None is a label someone wrote (a CSV's group column) with no fingerprint behind it:
    it is taken at its word, so "synthetic (seed 1234)" in a CSV joins the sweep of that label.
    """
    keys_of: dict[str, list[str]] = {}
    for lab, key in zip(labels, keys):
        keys_of.setdefault(lab, [])
        if key is not None and key not in keys_of[lab]:
            keys_of[lab].append(key)
    rename: dict[tuple[str, str], str] = {}
    for lab, ks in keys_of.items():
        if len(ks) < 2:
            continue
        width = 8
        while len({_short(k, width) for k in ks}) < len(ks) and width < max(len(k) for k in ks):
            width += 4
        for k in ks:
            rename[(lab, k)] = f"{lab} [{_short(k, width)}]"
    return [rename.get((lab, key), lab) if key is not None else lab for lab, key in zip(labels, keys)]
