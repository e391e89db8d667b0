"""Honest validation: fit on all but the K largest-compute points, predict those K.

A scaling law exists to extrapolate, so the error that matters is on budgets beyond the ones
it was fitted on, not the in-sample residual.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from harness.errors import FitInputError
from harness.fit.points import Points
from harness.fit.results import Holdout


class LossModel(Protocol):
    def fit(self, points: Points) -> "LossModel": ...
    def predict_points(self, points: Points) -> np.ndarray: ...


def split_by_compute(points: Points, k: int) -> tuple[np.ndarray, np.ndarray]:
    if k <= 0 or k >= len(points):
        raise FitInputError(f"--holdout {k}: must be between 1 and {len(points) - 1} for {len(points)} points")
    order = np.argsort(points.c, kind="stable")
    return np.sort(order[:-k]), np.sort(order[-k:])


def evaluate_holdout(make: Callable[[], LossModel], points: Points, k: int) -> Holdout:
    fit_idx, test_idx = split_by_compute(points, k)
    model = make().fit(points.subset(fit_idx))
    test = points.subset(test_idx)
    pred = np.asarray(model.predict_points(test), dtype=float)
    rel = (pred - test.loss) / test.loss
    return Holdout(k=k, n_fit=len(fit_idx), labels=test.labels, c=test.c.tolist(),
                   measured=test.loss.tolist(), predicted=pred.tolist(), rel_error=rel.tolist(),
                   mean_abs_rel_error=float(np.mean(np.abs(rel))), max_abs_rel_error=float(np.max(np.abs(rel))))
