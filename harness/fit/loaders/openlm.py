"""Points from open_lm result files (Gadre et al. 2024's ``models/*.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.errors import FitInputError
from harness.fit.loaders.values import positive
from harness.fit.points import Points

OPENLM_VAL_SETS = ("openlm", "c4_val", "paloma_c4_en", "paloma_falcon-refinedweb", "paloma_redpajama")


def _result_file(f: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The file's whole object, its hyperparameters and its results."""
    try:
        obj = json.loads(f.read_bytes())
        hp, results = obj["hyperparameters"], obj["results"]
    except OSError as e:
        raise FitInputError(f"{f}: cannot read: {e.strerror or e}") from None
    except (ValueError, KeyError, TypeError) as e:  # not JSON, not UTF-8, a key missing, not an object
        raise FitInputError(f"{f}: not an open_lm result file ({e})") from None
    if not isinstance(hp, dict) or not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise FitInputError(f"{f}: not an open_lm result file (hyperparameters must be an object and results "
                            "a list of objects)")
    return obj, hp, results


def _n_d_loss(f: Path, hp: dict[str, Any], results: list[dict[str, Any]], val_set: str) -> tuple[float, float, float]:
    match = [r for r in results if isinstance(r.get("val_data"), list)
             and any(isinstance(v, str) and f"/{val_set}/" in v for v in r["val_data"])]
    if len(match) != 1:
        raise FitInputError(f"{f}: expected one result on validation set {val_set!r}, found {len(match)}")
    ni = positive(hp.get("params"), "params", f"{f}")
    di = positive(hp.get("tokens"), "tokens", f"{f}")
    return ni, di, positive(match[0].get("loss"), "loss", f"{f}")


def load_openlm(folder: str | Path, val_set: str = "c4_val", train_set: str | Sequence[str] | None = None) -> Points:
    """Points from open_lm result files (Gadre et al. 2024, ``models/*.json``).

    N is ``hyperparameters.params`` (with embeddings), D is ``hyperparameters.tokens`` and the
    loss is the one evaluated on ``val_set`` (default C4 validation, the set Gadre et al. fit
    their laws to), so every run is scored on the same data. Each point's data-set label is the
    training set (``dataset_name``; the shared runs hold c4_original, rpj and rw_original); with
    ``train_set`` only runs trained on that set (or those sets) are kept.
    """
    folder = Path(folder)
    files = sorted((folder / "models").glob("*.json")) if (folder / "models").is_dir() else sorted(folder.glob("*.json"))
    if not files:
        raise FitInputError(f"{folder}: no open_lm result files (models/*.json)")
    wanted = None if train_set is None else ({train_set} if isinstance(train_set, str) else set(train_set))
    n, d, loss, labels, group, seen = [], [], [], [], [], []
    for f in files:
        obj, hp, results = _result_file(f)
        ds = str(obj.get("dataset_name", "?"))
        seen.append(ds)
        if wanted is not None and ds not in wanted:
            continue
        ni, di, li = _n_d_loss(f, hp, results, val_set)
        n.append(ni); d.append(di); loss.append(li)
        labels.append(str(obj.get("name", f.stem))); group.append(ds)
    if wanted is not None:
        unknown = sorted(wanted - set(seen))
        if unknown:
            raise FitInputError(f"{folder}: no runs trained on {', '.join(unknown)}; the training sets here are "
                                f"{', '.join(sorted(set(seen)))}")
    n_arr, d_arr = np.array(n), np.array(d)
    notes = [f"loss on validation set {val_set}", "C = 6ND (open_lm records no FLOP count)"]
    if wanted is not None:
        notes.append(f"training set {', '.join(sorted(wanted))} only")
    return Points(n=n_arr, d=d_arr, c=6 * n_arr * d_arr, loss=loss, labels=labels, group=group,
                  source=str(folder), param_convention="params (with embeddings)", flops_convention="6ND",
                  notes=notes)
