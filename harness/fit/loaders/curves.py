"""Training curves from run records, for approach 1's lower envelope: every point of a data set's
curves evaluated on the same validation sequences, or no curves for that data set."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.fit.points import Curve


def intermediate_eval_subset(config: object) -> tuple[int, int | None] | None:
    """(sequences, of how many) when intermediate evaluations used only part of the validation set.

    harness/run/train.py scores intermediate evaluations on the first ``train.eval_sequences``
    sequences (0 = all) and the final one on every ``data.val_sequences`` sequence.
    """
    if not isinstance(config, dict):
        return None
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    k, total = train.get("eval_sequences") or 0, data.get("val_sequences")
    if isinstance(k, int) and k > 0 and (not isinstance(total, int) or k < total):
        return k, total if isinstance(total, int) else None
    return None


def comparable_curve(r: Any, n: float, flops: str) -> tuple[object, Curve] | None:
    """A run's curve for approach 1, every point evaluated on the same validation sequences, with
    the evaluation set it was scored on ("all", or the subset of ``intermediate_eval_subset``).

    When intermediate evaluations used a subset of the validation set, the run's final point (on
    the whole set) is left out of the curve: a different set shifts the loss (on the synthetic
    demo the subset's Bayes loss is 1.2219 against 1.2136 for the whole set, and the trained
    models' gap is larger still), which would make every run's last point look like a sudden drop
    and pull the envelope to it. Dropping the intermediate points instead would leave one point
    per run, too coarse an envelope for approach 1; the curve's own points are all comparable.
    """
    subset = intermediate_eval_subset(getattr(r, "config", None))
    pts = [p for p in r.curve if p.val_loss is not None and p.tokens > 0 and p.flops.get(flops)]
    if subset is not None:
        pts = [p for p in pts if p.step < r.steps]
    if not pts:
        return None
    return subset or "all", Curve(run_id=r.run_id, n=n,
                                  tokens=np.array([p.tokens for p in pts], dtype=float),
                                  flops=np.array([p.flops[flops] for p in pts], dtype=float),
                                  loss=np.array([p.val_loss for p in pts], dtype=float))


def one_eval_set_per_dataset(curves: list[tuple[str, object, Curve]]) -> tuple[list[Curve], list[str]]:
    """Keep the curves (data key, evaluation set, curve) only where every run of a data set was
    evaluated on the same sequences; the notes say what was left out or scored on a subset."""
    notes = []
    by_key: dict[str, set] = {}
    for key, ev, _ in curves:
        by_key.setdefault(key, set()).add(ev)
    mixed = {k for k, evs in by_key.items() if len(evs) > 1}
    if mixed:
        notes.append("training curves not used for approach 1: runs of one data set evaluated their curves "
                     "on different validation subsets (train.eval_sequences differs)")
    subsets = sorted({ev for k, evs in by_key.items() if k not in mixed for ev in evs if ev != "all"},
                     key=lambda ev: ev[0])
    for k_seq, total in subsets:
        of = f" of {total}" if total else ""
        notes.append(f"approach 1 curves: intermediate evaluations used the first {k_seq}{of} validation "
                     "sequences and the final one all of them, so each run's final point is left out of its "
                     f"curve (curve losses are on the {k_seq}-sequence subset)")
    return [cv for key, _, cv in curves if key not in mixed], notes
