"""Data-constrained scaling (Muennighoff et al. 2023): the effective-data formula and recovery of R_D*."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.fit.allocation import LawParams
from harness.fit.laws.chinchilla import params_to_theta
from harness.fit.laws.data_constrained import (
    DataConstrainedFit,
    effective_data,
    predict_theta,
)
from harness.fit.points import Points


def test_four_epochs_almost_as_good_as_new_data():
    # R_D = 3 (4 epochs), R_D* = 15.4: D'/D = (1 + 15.4 (1 - e^(-3/15.4))) / 4 = 3.72588 / 4.
    assert effective_data(4.0, 1.0, 15.4) / 4.0 == pytest.approx(0.931469, abs=1e-6)
    # 16 epochs: 1 + 15.4 (1 - e^(-15/15.4)) = 10.5856 unique-data equivalents, about 2/3 of the tokens.
    assert effective_data(16.0, 1.0, 15.4) == pytest.approx(10.5856, abs=1e-4)
    # Repetition saturates: D' never exceeds U (1 + R_D*).
    assert effective_data(1e6, 1.0, 15.4) == pytest.approx(16.4, rel=1e-9)


def test_no_repetition_means_no_discount():
    # A run stopped inside its first epoch saw D < U unique tokens: D' = D, not U.
    assert effective_data(0.5e9, 1e9, 15.4) == pytest.approx(0.5e9)
    assert effective_data(1e9, 1e9, 15.4) == pytest.approx(1e9)
    # No unique-token count: the run streamed fresh data.
    assert effective_data(3e9, math.nan, 15.4) == pytest.approx(3e9)


def test_authors_worked_example():
    # The datablations README's fitted C4 law (alpha tied to beta) and its Figure 1 (right) pair
    # of 25B-unique-token models; pins U_N = min(N, N_opt(U_D)) and the excess-parameter decay.
    theta = np.array([6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596, math.log(15.387756), math.log(5.309743)])
    n, d, u = np.array([6.34e9, 8.67e9]), np.array([242e9, 178e9]), np.array([25e9, 25e9])
    assert predict_theta(theta, n, d, u) == pytest.approx([2.2256440889984477, 2.2269634075087867], abs=1e-9)


TRUE = LawParams(E=1.9, A=400.0, B=1500.0, alpha=0.33, beta=0.30)
TRUE_THETA = np.concatenate([params_to_theta(TRUE), [math.log(15.4), math.log(5.3)]])


def repeated_runs(noise: float, seed: int) -> Points:
    """Three unique-data sizes x four model sizes x 1-16 epochs, drawn from the law with R_D* 15.4, R_N* 5.3."""
    rng = np.random.default_rng(seed)
    rows = [(n, u * ep, u) for u in (1e8, 4e8, 1.6e9) for n in (2e6, 8e6, 3.2e7, 1.3e8) for ep in (1, 2, 4, 8, 16)]
    n, d, u = (np.array(col) for col in zip(*rows))
    loss = predict_theta(TRUE_THETA, n, d, u) * np.exp(rng.normal(0, noise, len(n)))
    return Points(n=n, d=d, c=6 * n * d, loss=loss, labels=[f"r{i}" for i in range(len(n))], unique_tokens=u)


@pytest.mark.slow
def test_recovers_decay_constants_within_intervals():
    pts = repeated_runs(noise=0.003, seed=0)
    f = DataConstrainedFit(n_bootstrap=200, seed=0).fit(pts)
    r = f.result()
    lo, hi = r.ci["R_D_star"]
    assert lo <= 15.4 <= hi and hi - lo < 8, (lo, hi)
    assert r.params["R_D_star"] == pytest.approx(15.4, rel=0.15)
    lo, hi = r.ci["R_N_star"]
    assert lo <= 5.3 <= hi, (lo, hi)
    assert r.params["R_N_star"] == pytest.approx(5.3, rel=0.15)
    for k in ("alpha", "beta"):
        assert r.ci[k][0] <= getattr(TRUE, k) <= r.ci[k][1], k
    assert r.converged and r.details["n_bootstrap"] == 200
    # Fresh-data predictions carry a band from the same resamples.
    lo, hi = f.predict_interval(1e9, 2e10)
    assert lo < float(f.predict(1e9, 2e10)) < hi


@pytest.mark.slow
def test_api_fits_repeated_runs_with_both_laws():
    from harness.fit.api import fit_points
    # On these runs some approach-3 resamples run off to A = exp(>700); they used to crash the whole fit.
    rep = fit_points(repeated_runs(noise=0.003, seed=0), ["data_constrained", "chinchilla"], bootstrap=100,
                     predict=["N=1e8,D=1e10"])
    dc, ch = rep.get("data_constrained"), rep.get("chinchilla")
    assert "R_D_star" in dc.ci and "R_D_star" in rep.headline()
    # Ignoring repetition fits these runs far worse than discounting it does.
    assert dc.objective < 0.1 * ch.objective
    p = dc.predictions[0]
    assert p.lo < p.loss < p.hi


def test_default_laws_want_several_runs_that_repeat_data():
    """One run a little past one epoch (the ELTeC IsoFLOP study's smallest shape) is no data-constrained study."""
    from harness.fit.api import default_laws
    from harness.fit.laws.data_constrained import MIN_REPEATED_RUNS
    n = np.geomspace(1e4, 1e5, 6)
    d = np.full(6, 2e6)
    for repeated in (1, MIN_REPEATED_RUNS):
        uniq = np.where(np.arange(6) < repeated, 1e6, np.nan)
        pts = Points(n=n, d=d, c=6 * n * d, loss=np.linspace(5, 4, 6), labels=list("abcdef"), unique_tokens=uniq)
        assert ("data_constrained" in default_laws(pts)) == (repeated >= MIN_REPEATED_RUNS)
