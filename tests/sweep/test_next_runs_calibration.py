"""Is the width ``harness-plan --next`` promises the width the fitter then reports? (issue 20)

On points drawn from a known law with the documented seed noise (0.4% per run): the planner's
expected width of approach 3's 95% interval of a, once a run is added, against the fitter's own
bootstrap interval on the same design with that run's loss drawn from the law. No training, no
committed study (scripts/planner_calibration.py measures that, results/planner_calibration).

The surrogate here is fitted from the true parameters as its only start, not the 4,500-point grid:
on these points both find the same optimum, and the grid would cost 1-2 s a fit.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.fit.laws.chinchilla import ChinchillaFit
from harness.fit.vertex import SEED_NOISE
from harness.sweep.runs_so_far import Design, Run, design_from_arrays, rung_params
from harness.sweep.surrogate import Scorer, Simulator, measured_noise, residual_scale

E, A, B, ALPHA, BETA = 1.15, 67.4, 18370.0, 0.5, 0.73  # as tests/sweep/test_next_runs.py
TRUE = np.array([[np.log(A), np.log(B), np.log(E), ALPHA, BETA]])
RUNGS = dict(rung_params(128, 64))
# the demo's design: 3 budgets x 4 shapes, every minimum bracketed
DEMO = [(m, c) for c in (1e12, 2e12, 4e12) for m in ("ladder_3xs", "ladder_2xs", "ladder_xs", "ladder_s")]
# results/synthetic_adaptive_cpu's first design: 3 x 3, the 2e12 and 4e12 minima unbracketed
FIRST = [(m, c) for c in (1e12, 2e12, 4e12) for m in ("ladder_3xs", "ladder_2xs", "ladder_xs")]


def law(n, c):
    n = np.asarray(n, float)
    return E + A / n ** ALPHA + B / (np.asarray(c, float) / (6 * n)) ** BETA


def drawn(grid: list[tuple[str, float]], seed: int) -> Design:
    """The design's runs, losses from the law times exp(N(0, 0.4%)) seed noise."""
    models = [m for m, _ in grid]
    n = [RUNGS[m] for m in models]
    c = [cc for _, cc in grid]
    loss = law(n, c) * np.exp(SEED_NOISE * np.random.default_rng(seed).normal(size=len(n)))
    return design_from_arrays(n, c, loss, models=models)


def scorer(d: Design, n_bootstrap: int, draws: int, seed: int = 0) -> Scorer:
    """The planner's scorer (harness.sweep.next_runs.make_scorer) but for the surrogate's start."""
    sur = ChinchillaFit(grid=TRUE).fit(d.points)
    resid = np.log(d.points.loss) - np.log(sur.predict(d.points.n, d.points.d))
    noise = max(SEED_NOISE, residual_scale(resid))  # the planner's rule: seed noise, or the misfit where larger
    sim = Simulator(d, sur, noise, seed)
    sigma = max(float(np.sqrt(np.mean(resid ** 2))), SEED_NOISE)  # the old score's σ
    return Scorer("a", None, "chinchilla", sur, sim, n_bootstrap, 0, sigma, draws)


def fitted_width(d: Design, n_bootstrap: int = 200, seed: int = 0) -> float:
    lo, hi = ChinchillaFit(n_bootstrap=n_bootstrap, seed=seed, grid=TRUE).fit(d.points).ci_["a"]
    return hi - lo


def predicted_and_measured(grid: list[tuple[str, float]], added: tuple[str, float], seed: int,
                           n_bootstrap: int = 100, draws: int = 2) -> tuple[float, float, float]:
    """(planner's expected width once ``added`` is run, the fitter's width with it, the old
    delta-method score) for one noise draw of the design and the added run."""
    full = drawn(grid + [added], seed)
    before = Design(points=full.points.subset(np.arange(len(grid))), runs=full.runs[:-1],
                    vocab_size=full.vocab_size, seq_len=full.seq_len)
    sc = scorer(before, n_bootstrap, draws, seed)
    run = Run(added[0], RUNGS[added[0]], added[1])
    return sc.expected([run]), fitted_width(full), sc.screen([run])


def test_the_width_now_is_the_fitters_own_interval():
    d = drawn(DEMO, 0)
    sc = scorer(d, n_bootstrap=100, draws=1)
    # the same resamples and fits; the refits start from the surrogate's optimum, not from the
    # truth, so they agree to the optimiser's tolerance
    assert sc.expected([]) == pytest.approx(fitted_width(d, n_bootstrap=100), rel=1e-5)
    assert sc.interval([]) == pytest.approx(list(ChinchillaFit(n_bootstrap=100, seed=0, grid=TRUE)
                                                 .fit(d.points).ci_["a"]), rel=1e-5)


def test_the_expected_width_after_one_run_is_what_the_fitter_then_reports():
    # One more shape at the smallest budget (what --next proposes first on results/demo). Over
    # noise draws 0-7 the ratio predicted / measured was 0.66-1.21 (median 0.95); the old
    # delta-method score's was 0.40-0.98 (median 0.6). Draw 2 is one where the old one fails.
    predicted, measured, old = predicted_and_measured(DEMO, ("ladder_4xs", 1e12), seed=2)
    assert predicted / measured == pytest.approx(1.0, abs=0.3)
    assert old / measured < 0.7  # the score --next printed until issue 20


def test_a_sweep_without_replicates_assumes_the_documented_seed_noise_and_one_with_them_measures_it():
    d = drawn(DEMO, 0)
    assert measured_noise(d).relative == SEED_NOISE == 0.004
    # the 2e12 ladder_xs and 4e12 ladder_2xs runs again, 1% and 0.6% off: a measured spread
    n = list(d.points.n) + [RUNGS["ladder_xs"], RUNGS["ladder_2xs"]]
    c = list(d.points.c) + [2e12, 4e12]
    loss = list(d.points.loss) + [d.points.loss[6] * 1.01, d.points.loss[9] * 1.006]
    noise = measured_noise(design_from_arrays(n, c, loss))
    assert "replicate seeds" in noise.source
    # each pair's deviation is its log difference over sqrt 2; 1.4826 x their median
    expected = 1.4826 * np.median([np.log(1.01) / np.sqrt(2), np.log(1.006) / np.sqrt(2)])
    assert noise.relative == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow  # 12 designs, each a planner score and a fitter bootstrap (~1-5 s each)
@pytest.mark.parametrize("grid, added", [(DEMO, ("ladder_4xs", 1e12)), (FIRST, ("ladder_s", 2e12))],
                         ids=["demo+shape", "first+bracket"])
def test_over_noise_draws_the_median_ratio_is_within_30_percent(grid, added):
    ratios = []
    for seed in range(6):
        predicted, measured, _ = predicted_and_measured(grid, added, seed)
        ratios.append(predicted / measured)
    assert float(np.median(ratios)) == pytest.approx(1.0, abs=0.3)
    assert all(0.5 < r < 2.0 for r in ratios)
