"""Forecast each IsoFLOP budget of a study from the budgets below it: does the law extrapolate?

``harness-fit --holdout K`` predicts the K largest-compute runs from the rest, once. This repeats
it at every budget (a rolling origin): approach 3's L(N, D) = E + A/N^alpha + B/D^beta is fitted
to the runs of the budgets below one budget and predicts that budget's runs, for each budget from
the third on. Error growing with the budget, or one-signed, or concentrated on some shapes, is a
misfit of the form rather than noise; a form that holds forecasts every budget about equally well.
Where the points have a known floor (the synthetic language's Bayes loss) the same is done with E
pinned at it.

    python scripts/forecast_by_budget.py results/synthetic_isoflop_decades_cpu
    python scripts/forecast_by_budget.py results/synthetic_isoflop_decades_cpu --out results/synthetic_isoflop_decades_cpu/forecast.md

Runs whose C agree within 5% are one budget (as in the fitter's report); the error of a run is
(predicted - measured) / measured; a shape's error is the mean over its runs at that budget (its
seeds). Bad input (no such folder, no completed runs, fewer than three budgets, a threshold that
is not a positive number) is one line on stderr and exit status 2.

``--min-tokens 1e6,2e6,...`` adds a table that repeats the forecasts without the runs of fewer
tokens than each threshold: are the short runs (mostly warmup and early training, the regime a
power law in D describes worst) what pulls the law off? Beside each threshold, E and the
allocation exponent a of the law fitted to every budget that is left.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from harness.errors import FitInputError, HarnessError
from harness.files import atomic_write_text
from harness.fit import ChinchillaFit, Points, load_sweep
from harness.fit.holdout import evaluate_holdout
from harness.fit.powerlaw import log_clusters
from harness.fit.report import BUDGET_RTOL, SHAPE_RTOL

PROG = "forecast_by_budget"
MIN_BUDGETS = 2  # budgets below the first one forecast: a law of 5 parameters needs two profiles


def forecasts(points: Points, pin: dict[str, float] | None = None, min_budgets: int = MIN_BUDGETS) -> list[dict]:
    """One row per forecast budget: the runs fitted and predicted, the signed mean, mean |.| and
    largest |.| relative error, and the mean error of each shape (geometric-mean N, mean error)."""
    budgets = log_clusters(points.c, BUDGET_RTOL)
    if len(budgets) <= min_budgets:
        raise FitInputError(f"{points.source}: {len(budgets)} budget(s); forecasting one from those below it "
                            f"needs at least {min_budgets + 1}")
    rows = []
    for k in range(min_budgets, len(budgets)):
        # The budgets up to this one, held out as harness-fit --holdout holds out its largest-C runs.
        upto = points.subset(np.sort(np.concatenate(budgets[:k + 1])))
        h = evaluate_holdout(lambda: ChinchillaFit(pin=dict(pin or {})), upto, len(budgets[k]))
        rel, n = np.asarray(h.rel_error), points.n[np.sort(budgets[k])]
        rows.append({"c": math.exp(float(np.mean(np.log(h.c)))), "n_fit": h.n_fit, "n_test": h.k,
                     "signed": float(np.mean(rel)), "mean_abs": h.mean_abs_rel_error, "max_abs": h.max_abs_rel_error,
                     "by_shape": [(math.exp(float(np.mean(np.log(n[g])))), float(np.mean(rel[g])))
                                  for g in log_clusters(n, SHAPE_RTOL)]})
    return rows


def _cell(r: dict | None) -> str:
    if r is None:
        return "—"
    if not math.isfinite(r["mean_abs"]):  # a law fitted to a handful of runs can diverge
        return "no finite forecast"
    return f"{100 * r['mean_abs']:.2f}% / {100 * r['max_abs']:.2f}% ({_pct(r['signed'])})"


class _Forecasts:
    """``forecasts`` and the whole-data law for a subset of the runs, each computed once: the
    ``--min-tokens`` table repeats the main tables' forecasts in its "all" row, and a threshold
    below every run's tokens leaves the same runs."""

    def __init__(self, points: Points, min_budgets: int) -> None:
        self.points, self.min_budgets = points, min_budgets
        self._rows: dict = {}
        self._laws: dict = {}

    @staticmethod
    def _key(idx: np.ndarray, pin: dict[str, float] | None) -> tuple:
        return idx.tobytes(), None if pin is None else pin["E"]

    def rows(self, idx: np.ndarray, pin: dict[str, float] | None) -> list[dict]:
        key = self._key(idx, pin)
        if key not in self._rows:
            self._rows[key] = forecasts(self.points.subset(idx), pin, self.min_budgets)
        return self._rows[key]

    def law(self, idx: np.ndarray, pin: dict[str, float] | None) -> tuple[float, float]:
        """E and a of approach 3 fitted to every run of ``idx``."""
        key = self._key(idx, pin)
        if key not in self._laws:
            law = ChinchillaFit(pin=dict(pin or {})).fit(self.points.subset(idx))
            self._laws[key] = (float(law.params_["E"]), float(law.allocation_exponents()[0]))
        return self._laws[key]


def _short_runs_left_out(cache: _Forecasts, thresholds: list[float]) -> list[str]:
    """The table of ``--min-tokens``: for each threshold and fit, E and a of the law fitted to every
    run left, and each budget's forecast as mean |error| / max |error| (signed mean)."""
    points, min_budgets = cache.points, cache.min_budgets
    fits = [("E free", None)] + ([("E pinned", {"E": points.floor})] if points.floor is not None else [])
    budgets = [math.exp(float(np.mean(np.log(points.c[g])))) for g in log_clusters(points.c, BUDGET_RTOL)]
    forecast = budgets[min_budgets:]
    lines = ["## Leaving out the short runs", "",
             "The same forecasts fitted and scored without the runs of fewer tokens than each threshold; E and a are the "
             "law's fitted to every budget left. Each budget: mean |error| / max |error| (signed mean); — where fewer than "
             f"{min_budgets} budgets are left below it; \"no finite forecast\" where the law fitted to the few runs left "
             "below it diverged.", "",
             "| fewest tokens | fit | runs | E | a | " + " | ".join(f"{c:.3g}" for c in forecast) + " |",
             "|---" * (5 + len(forecast)) + "|"]
    for t in [0.0] + thresholds:
        idx = np.flatnonzero(points.d >= t)
        for name, pin in fits:
            try:
                rows = {f"{r['c']:.3g}": r for r in cache.rows(idx, pin)}
            except FitInputError:
                rows = {}
            e, a = cache.law(idx, pin)
            cells = [_cell(rows.get(f"{c:.3g}")) for c in forecast]
            lines.append(f"| {'all' if t == 0 else f'{t:.3g}'} | {name} | {len(idx)} | {e:.3f} | {a:.3f} | "
                         + " | ".join(cells) + " |")
    return lines + [""]


def _pct(v: float) -> str:
    return f"{round(100 * v, 1) + 0.0:+.1f}%"


def markdown(points: Points, study: str, min_budgets: int = MIN_BUDGETS, min_tokens: list[float] | None = None) -> str:
    fits = [("E free", None)]
    if points.floor is not None:
        fits.append((f"E pinned at the floor {points.floor:.4f}", {"E": points.floor}))
    flag = f" --min-tokens {','.join(f'{t:.3g}' for t in min_tokens)}" if min_tokens else ""
    lines = [f"# Each budget forecast from the budgets below it: {study}", "",
             f"Generated by `python scripts/{PROG}.py {study}{flag}` from {len(points)} runs ({points.param_convention} N, "
             f"C = {points.flops_convention}). Approach 3, L(N, D) = E + A/N^alpha + B/D^beta, fitted to the runs of "
             "the budgets below each budget, predicts that budget's runs; error = (predicted − measured) / measured. "
             "Per shape: the mean error of its runs (seeds) at that budget.", ""]
    cache = _Forecasts(points, min_budgets)
    every = np.arange(len(points))
    for name, pin in fits:
        lines += [f"## {name}", "", "| budget C | runs fitted | runs predicted | mean error (signed) | mean abs error "
                  "| max abs error | by shape (N: mean error) |", "|---|---|---|---|---|---|---|"]
        for r in cache.rows(every, pin):
            shapes = ", ".join(f"{n / 1e3:.0f}K: {_pct(e)}" for n, e in r["by_shape"])
            lines.append(f"| {r['c']:.3g} | {r['n_fit']} | {r['n_test']} | {_pct(r['signed'])} | "
                         f"{100 * r['mean_abs']:.2f}% | {100 * r['max_abs']:.2f}% | {shapes} |")
        lines.append("")
    if min_tokens:
        lines += _short_runs_left_out(cache, min_tokens)
    return "\n".join(lines)


def thresholds(text: str) -> list[float]:
    """``--min-tokens``: comma-separated positive token counts, in increasing order."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise FitInputError(f"--min-tokens {text!r}: expected comma-separated positive token counts, e.g. 1e6,3e6")
    return sorted(values)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("study", help="a sweep folder (its runs/ records)")
    ap.add_argument("--out", help="write the markdown here (default: print it)")
    ap.add_argument("--min-budgets", type=int, default=MIN_BUDGETS,
                    help=f"budgets fitted below the first one forecast (default {MIN_BUDGETS})")
    ap.add_argument("--min-tokens", default="", metavar="TOKENS",
                    help="comma-separated thresholds: repeat the forecasts without the runs of fewer tokens than each")
    args = ap.parse_args(argv)
    try:
        if args.min_budgets < 1:
            raise FitInputError(f"--min-budgets {args.min_budgets}: must be 1 or more")
        if not Path(args.study).is_dir():
            raise FitInputError(f"{args.study}: no such sweep folder")
        cuts = thresholds(args.min_tokens) if args.min_tokens else None
        text = markdown(load_sweep(args.study), args.study.rstrip("/"), args.min_budgets, cuts)
        if args.out:
            atomic_write_text(args.out, text)
        else:
            print(text, end="")
    except HarnessError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
