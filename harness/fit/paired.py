"""How far one change moved a fitted parameter, from two fits of matched points (a paired bootstrap).

    d = paired_difference(before, after, keys_before, keys_after, law="approach2", param="a")
    d.diff, d.ci          # after - before, and its 95% percentile interval

Two studies that differ in one setting but share their shapes, budgets and seeds (Porian et al.'s
steps, or the same runs read two ways) have much of their noise in common: the same shape's
quirks, the same data order. Two separate intervals count that noise twice; resampling the matched
pairs together cancels what they share. ``keys_*`` name each point's unit (shape, seed, budget, in
any hashable form): points with the same key are a pair. The pairs are resampled with replacement
within each budget of ``before`` (as approach 2's own bootstrap resamples runs within budgets),
both sides refitted, and the difference taken each time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from harness.errors import FitInputError, InsufficientData
from harness.fit.law import Law, get_law
from harness.fit.points import Points
from harness.fit.powerlaw import log_clusters, resample_within
from harness.fit.results import percentile_ci


@dataclass(frozen=True)
class PairedDifference:
    law: str
    param: str
    before: float  # the parameter fitted on the matched points of each side
    after: float
    diff: float  # after - before
    ci: tuple[float, float]  # percentile interval of the difference over the resamples
    ci_level: float
    pairs: int  # matched points
    resamples: int  # resamples whose both fits succeeded
    interval: str = "paired percentile bootstrap: matched points resampled together within each budget"

    def to_json(self) -> dict:
        return asdict(self)


def _fit(law: str, points: Points, settings: Mapping[str, Any]) -> Law:
    return get_law(law)(n_bootstrap=0, **settings).fit(points)


def paired_difference(before: Points, after: Points, keys_before: Sequence[Hashable], keys_after: Sequence[Hashable],
                      law: str = "approach2", param: str = "a", n_bootstrap: int = 200, seed: int = 0,
                      ci_level: float = 0.95, settings: Mapping[str, Any] | None = None,
                      rtol: float = 0.05) -> PairedDifference:
    """The change of ``param`` from ``before`` to ``after`` on their matched points, with its paired
    bootstrap interval. Raises FitInputError when the keys do not match the points or fewer than
    six points pair up, InsufficientData when a side cannot be fitted."""
    for pts, keys, side in ((before, keys_before, "before"), (after, keys_after, "after")):
        if len(keys) != len(pts):
            raise FitInputError(f"paired_difference: {len(keys)} keys for the {len(pts)} points {side}")
        if len(set(keys)) != len(keys):
            raise FitInputError(f"paired_difference: two points {side} share a key; each key names one point")
    where_after = {k: i for i, k in enumerate(keys_after)}
    pairs = [(i, where_after[k]) for i, k in enumerate(keys_before) if k in where_after]
    if len(pairs) < 6:
        raise FitInputError(f"paired_difference: {len(pairs)} points pair up; a paired fit needs 6 or more")
    ia = np.array([i for i, _ in pairs])
    ib = np.array([j for _, j in pairs])
    settings = dict(settings or {})
    first, second = _fit(law, before.subset(ia), settings), _fit(law, after.subset(ib), settings)
    if param not in first.params_ or param not in second.params_:
        raise FitInputError(f"paired_difference: {law} has no parameter {param!r}")
    groups = log_clusters(before.c[ia], rtol)
    rng = np.random.default_rng(seed)
    diffs = []
    # Each side's resamples are refitted as its own bootstrap would refit them (approach 2 keeps the
    # whole fit's vertex weights).
    again_first = {**settings, **first.resample_settings()}
    again_second = {**settings, **second.resample_settings()}
    for _ in range(n_bootstrap):
        pick = resample_within(groups, rng)
        try:
            d = (_fit(law, after.subset(ib[pick]), again_second).params_[param]
                 - _fit(law, before.subset(ia[pick]), again_first).params_[param])
        except (InsufficientData, OverflowError, np.linalg.LinAlgError):
            continue  # a resample without enough minima says nothing about the change
        if np.isfinite(d):
            diffs.append(d)
    if len(diffs) < max(10, n_bootstrap // 2):
        raise InsufficientData(f"paired_difference: only {len(diffs)} of {n_bootstrap} resamples could be fitted on "
                               "both sides; the pairs do not pin the change")
    lo, hi = percentile_ci(np.array(diffs), ci_level)
    a, b = float(first.params_[param]), float(second.params_[param])
    return PairedDifference(law=law, param=param, before=a, after=b, diff=b - a, ci=(float(lo), float(hi)),
                            ci_level=ci_level, pairs=len(pairs), resamples=len(diffs))
