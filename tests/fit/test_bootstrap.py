"""Bootstrap intervals for the Kaplan joint form and approach 1: they cover the truth and shrink with data."""

from __future__ import annotations

import numpy as np
import pytest

from harness.fit.anchors import EPOCH
from harness.fit.laws.approach1 import EnvelopeFit, envelope_from_points
from harness.fit.laws.data_constrained import DataConstrainedFit
from harness.fit.laws.kaplan import KaplanFit
from harness.fit.points import Points
from harness.fit.results import masked_slopes
from tests.fit.laws.test_data_constrained import repeated_runs

KAPLAN_TRUE = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}


def kaplan_points(k: int, seed: int) -> Points:
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(1e6), np.log(1e9), k))
    d = np.exp(rng.uniform(np.log(1e8), np.log(1e11), k))
    t = KAPLAN_TRUE
    loss = ((t["N_c"] / n) ** (t["alpha_N"] / t["alpha_D"]) + t["D_c"] / d) ** t["alpha_D"]
    return Points(n=n, d=d, c=6 * n * d, loss=loss * np.exp(rng.normal(0, 0.005, k)), labels=[f"p{i}" for i in range(k)])


@pytest.mark.slow  # about a second: outside the quick loop
def test_kaplan_joint_intervals_cover_truth_and_shrink():
    # Over 40 data seeds each 95% interval held its true value 90-95% of the time (all four at
    # once 85-88%), so one seed is pinned here rather than every seed being expected to cover.
    width = {}
    for k in (40, 160):
        r = KaplanFit(n_bootstrap=300, seed=0).fit(kaplan_points(k, seed=0)).result()
        assert r.details["n_bootstrap"] == 300
        for name, true in KAPLAN_TRUE.items():
            lo, hi = r.ci[name]
            assert lo <= true <= hi, (k, name, lo, hi)
        width[k] = {name: r.ci[name][1] - r.ci[name][0] for name in KAPLAN_TRUE}
        assert {"alpha_N_single", "alpha_D_single", "alpha_C"} <= set(r.ci)
    # Four times the points: roughly half the width; "clearly narrower" is what is pinned.
    for name in KAPLAN_TRUE:
        assert width[160][name] < 0.8 * width[40][name], (name, width)


def isoflop_points(per_budget: int, seed: int) -> Points:
    rng = np.random.default_rng(seed)
    n_l, c_l = [], []
    for c in np.geomspace(1e17, 1e20, 8):
        for n in np.geomspace(np.sqrt(c / 6) / 8, np.sqrt(c / 6) * 3, per_budget):
            n_l.append(n); c_l.append(c)
    n, c = np.array(n_l), np.array(c_l)
    d = c / (6 * n)
    loss = EPOCH.loss(n, d) * np.exp(rng.normal(0, 0.002, len(n)))
    return Points(n=n, d=d, c=c, loss=loss, labels=[f"p{i}" for i in range(len(n))])


def test_approach1_intervals_cover_truth_and_shrink():
    # Over 40 data seeds the interval for a covered the truth every time at both densities.
    width = {}
    for per in (5, 20):
        f = EnvelopeFit(n_bootstrap=500, seed=0).fit(isoflop_points(per, seed=0))
        r = f.result()
        lo, hi = r.ci["a"]
        assert lo <= EPOCH.a <= hi, (per, lo, hi)
        # D = C/6N along the envelope, so b = 1 - a in every resample.
        assert r.ci["b"] == pytest.approx([1 - hi, 1 - lo])
        assert r.details["n_bootstrap"] > 450
        width[per] = hi - lo
    assert width[20] < 0.8 * width[5], width


def test_approach1_vectorised_envelope_matches_the_scan():
    # A resample that draws every point once is the full data: its slope is the full fit's.
    pts = isoflop_points(5, seed=3)
    order = np.argsort(pts.c, kind="stable")
    c, n_env, _ = envelope_from_points(pts)
    on = np.isin(order, [int(np.flatnonzero((pts.c == ci) & (pts.n == ni))[0]) for ci, ni in zip(c, n_env)])
    slope, _ = masked_slopes(np.log(pts.c[order])[None, :], np.log(pts.n[order])[None, :], on[None, :])
    assert slope[0] == pytest.approx(EnvelopeFit().fit(pts).result().params["a"], rel=1e-12)


@pytest.mark.slow  # two bootstraps of 200 resamples: about 2 s
def test_kaplan_joint_form_uses_a_little_bootstrap_above_subsample_points():
    pts = kaplan_points(600, seed=1)
    ordinary = KaplanFit(n_bootstrap=200, seed=0).fit(pts).result()
    little = KaplanFit(n_bootstrap=200, seed=0, subsample_points=150).fit(pts).result()
    assert little.params == ordinary.params  # the point estimate never runs on a subsample
    assert little.details["n_bootstrap"] == 200
    assert little.details["subsample"] == [{
        "step": "the bootstrap of the joint form", "points": 150, "of": 600,
        "how": "a bag of little bootstraps (Kleiner et al. 2014): its 200 resamples are 600 draws each from one of "
               "4 random subsets of 150 runs, centred on the full fit"}]
    assert any(w.startswith("SUBSAMPLED: the bootstrap of the joint form ran on 150 of the 600 points")
               for w in little.warnings)
    assert "subsample" not in ordinary.details
    for name, true in KAPLAN_TRUE.items():
        lo, hi = little.ci[name]
        assert lo <= true <= hi, (name, lo, hi)
        ratio = (hi - lo) / (ordinary.ci[name][1] - ordinary.ci[name][0])
        # Measured 0.98-1.16: the least-squares joint form has no kink, so a subset's curvature is sure.
        assert 0.8 < ratio < 1.3, (name, ratio)
    # The single-variable exponents (minima over runs, which a subset would bias) keep the ordinary bootstrap.
    for name in ("alpha_N_single", "alpha_D_single", "alpha_C"):
        assert little.ci[name] == ordinary.ci[name]


@pytest.mark.slow  # a data-constrained fit with a bootstrap: about 2.5 s
def test_data_constrained_bootstrap_above_subsample_points():
    runs = [repeated_runs(noise=0.003, seed=s) for s in range(3)]
    pts = Points(n=np.concatenate([r.n for r in runs]), d=np.concatenate([r.d for r in runs]),
                 c=np.concatenate([r.c for r in runs]), loss=np.concatenate([r.loss for r in runs]),
                 labels=[f"r{i}" for i in range(180)], unique_tokens=np.concatenate([r.unique_tokens for r in runs]))
    f = DataConstrainedFit(n_bootstrap=12, seed=0, subsample_points=100).fit(pts)
    assert f.details_["n_bootstrap"] == 12
    assert [s["step"] for s in f.details_["subsample"]] == ["the bootstrap"]
    assert f.details_["subsample"][0]["how"].endswith("one of 2 random subsets of 100 runs, centred on the full fit")
    for k in ("alpha", "beta", "R_D_star"):
        lo, hi = f.ci_[k]
        assert lo < f.params_[k] < hi, k
