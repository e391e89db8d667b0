"""What the curve laws (``annealing``, ``multipower``) share. Each is fitted per model shape on the
loss curves the points carry (``Points.run_curves``: run records, or curve files), on every point
after the warmup and after ``fit_from`` of the shape's longest fitted run, and then predicts a
shape's whole curve or final loss under any schedule and length.

A law built on ``CurveLaw`` supplies ``_fit_shape`` (one shape's runs to its fitted shape, or None
after a warning), ``_publish`` (its parameters, intervals and details) and ``predict_rates`` (the
loss after given update counts, from per-step learning rates); the grouping by shape, the shape
lookup, the bootstrap's resampling of curves and the final-loss prediction are here.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from harness.errors import FitInputError, InsufficientData
from harness.fit.curve_report import curve_plots
from harness.fit.law import Law
from harness.fit.lrcurves import RunCurve, check_fit_from, learning_rates
from harness.fit.points import Points
from harness.fit.results import LawResult


class CurveLaw(Law):
    """A law of whole loss curves, fitted shape by shape (see the module docstring)."""

    can_predict = False  # it predicts a schedule's curve, not a loss at (N, D): see predict_final
    can_allocate = False
    fits_curves = True
    min_points = 1
    n_params = 0
    vary = ()
    fit_from: float
    # What the law reads, for the error when the input has no curves.
    curves_hint = "(run records with curves, or curve CSVs of step, lr, loss)"

    # -- fitting -----------------------------------------------------------------------------
    def _fit(self, points: Points) -> None:
        check_fit_from(self.name, self.fit_from)
        curves = points.run_curves
        if not curves:
            raise FitInputError(f"{self.name}: {points.source or 'the input'} holds no loss curves with their "
                                f"learning rates {self.curves_hint}")
        if len(curves) < len(points):
            self.warnings_.append(f"{len(points) - len(curves)} run(s) have no usable curve and are not fitted")
        self.run_curves_ = list(curves)
        by_shape: dict[str, list[RunCurve]] = {}
        for rc in curves:
            by_shape.setdefault(rc.shape_key, []).append(rc)
        self.shapes_: dict[str, Any] = {}
        rng = np.random.default_rng(self.seed)
        # Smallest model first (curve files carry no N: by name), so resamples are drawn in one order.
        for key, runs in sorted(by_shape.items(), key=lambda kv: (kv[1][0].n if math.isfinite(kv[1][0].n) else 0.0,
                                                                   kv[0])):
            sf = self._fit_shape(key, runs, rng)
            if sf is not None:
                self.shapes_[key] = sf
        if not self.shapes_:
            raise InsufficientData(f"{self.name}: no shape has enough curve points after its warmup to fit")
        self._publish()

    def _fit_shape(self, key: str, runs: list[RunCurve], rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def _publish(self) -> None:
        raise NotImplementedError

    def from_step(self, runs: Sequence[RunCurve]) -> float:
        """The step before which a shape's points are not fitted: ``fit_from`` of its longest run."""
        return self.fit_from * max(rc.steps for rc in runs)

    def curve_resamples(self, rng: np.random.Generator, sizes: Sequence[int], min_points: int,
                        notes: list[str]) -> Iterator[tuple[int, np.ndarray]]:
        """(resample number, weight of each point) of the shape's bootstrap, the points being ``sizes``
        per curve in order: whole curves resampled when there are 3 or more, else single points (which
        understates the run-to-run uncertainty: said in ``notes``). A resample that keeps ``min_points``
        points or fewer cannot fix the law and is skipped (its row stays NaN)."""
        by_curves = len(sizes) >= 3
        if not by_curves:
            notes.append("bootstrap over curve points (fewer than 3 curves): the intervals understate the "
                         "run-to-run uncertainty")
        k = int(sum(sizes))
        for b in range(self.n_boot_run):
            if by_curves:
                counts = rng.multinomial(len(sizes), np.full(len(sizes), 1.0 / len(sizes))).astype(float)
                w = np.repeat(counts, sizes)
            else:
                w = rng.multinomial(k, np.full(k, 1.0 / k)).astype(float)
            if np.count_nonzero(w) > min_points:
                yield b, w

    def shape_notes(self) -> list[str]:
        """Every shape's notes, once each, as warnings."""
        notes = [f"shape {sf.label}: {n}" for sf in self.shapes_.values() for n in sf.notes]
        return list(dict.fromkeys(notes))

    def n_resamples(self) -> int:
        """Resamples that fitted, in the shape with fewest (0 without a bootstrap)."""
        boots = [sf.boot for sf in self.shapes_.values() if sf.boot is not None]
        return int(min(np.sum(np.all(np.isfinite(b), axis=1)) for b in boots)) if boots else 0

    # -- prediction --------------------------------------------------------------------------
    def shape(self, shape: str) -> Any:
        """A fitted shape by its key (canonical shape JSON, or a curve file's model name) or label."""
        for sf in self.shapes_.values():
            if shape in (sf.key, sf.label):
                return sf
        raise FitInputError(f"{self.name}: shape {shape} was not fitted (fitted: "
                            f"{', '.join(sf.label for sf in self.shapes_.values())})")

    def check_at(self, at: np.ndarray, n_rates: int) -> np.ndarray:
        """Update counts ``at`` as integers, each within the ``n_rates`` rates given (else FitInputError)."""
        at = np.asarray(at, dtype=int)
        if len(at) and (at.min() < 1 or at.max() > n_rates):
            raise FitInputError(f"{self.name}: points at {at.min()}..{at.max()} updates lie outside the "
                                f"{n_rates} rates given")
        return at

    def predict_rates(self, shape: str, eta: np.ndarray, at: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_curve(self, shape: str, schedule: Mapping[str, Any] | Any, steps: int, warmup_steps: int,
                      peak_lr: float, at: np.ndarray | None = None) -> np.ndarray:
        """Predicted loss after each step count in ``at`` (default 1 .. steps) of a run with this schedule."""
        eta = learning_rates(schedule, steps, warmup_steps, peak_lr)
        return self.predict_rates(shape, eta, np.arange(1, steps + 1) if at is None else at)

    def predict_final(self, shape: str, schedule: Mapping[str, Any] | Any, steps: int, warmup_steps: int,
                      peak_lr: float) -> float:
        """The final loss of a run of this shape with this schedule (a ScheduleConfig or a record's
        schedule dict), length in steps, warmup in steps and peak learning rate."""
        if steps < 1:
            raise FitInputError(f"{self.name}: a run needs at least one step, got {steps}")
        return float(self.predict_curve(shape, schedule, steps, warmup_steps, peak_lr, np.array([steps]))[0])

    def band(self, sims: np.ndarray) -> tuple[float, float]:
        """The ``ci_level`` percentile band of resampled predictions."""
        q = (1 - self.ci_level) / 2
        return float(np.quantile(sims, q)), float(np.quantile(sims, 1 - q))

    # -- output --------------------------------------------------------------------------------
    @staticmethod
    def predict_runs_tail(r: LawResult) -> str:
        """The headline's clause on another sweep's predicted final losses ('' without them)."""
        pr = r.details.get("predict_runs")
        if not (pr and pr.get("runs")):
            return ""
        return (f"; final loss of {len(pr['runs'])} runs of {pr['source']} predicted to within mean |err| "
                f"{100 * pr['mean_abs_rel_error']:.2f}%, max {100 * pr['max_abs_rel_error']:.2f}%")

    def plots(self, report: Any, out_dir: Any, tag: str = "") -> dict[str, str]:
        return curve_plots(self, report, out_dir, tag)
