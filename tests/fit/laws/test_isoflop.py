"""Approach 2 uses only IsoFLOP minima that the sizes tried bracket."""

import numpy as np
import pytest

from harness.errors import InsufficientData
from harness.fit.laws.approach2 import IsoFlopFit, profiles
from harness.fit.points import Points

# Hoffmann et al.'s published law, so the true optimum at each budget is known.
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28


def _isoflop_points(budgets_and_sizes):
    n, d, c = [], [], []
    for budget, sizes in budgets_and_sizes:
        for size in sizes:
            n.append(size), d.append(budget / (6 * size)), c.append(budget)
    n, d, c = map(np.array, (n, d, c))
    loss = E + A / n**ALPHA + B / d**BETA
    return Points(n=n, d=d, c=c, loss=loss, labels=[str(i) for i in range(len(n))])


def _true_n_opt(budget):
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    return g * (budget / 6) ** (BETA / (ALPHA + BETA))


def test_a_vertex_outside_the_sizes_tried_is_flagged_and_left_out():
    bracketed = [(c, _true_n_opt(c) * np.geomspace(0.25, 4, 7)) for c in (1e19, 1e20, 1e21)]
    # At 1e22 every size tried is far below the optimum: its vertex is an extrapolation.
    too_small = [(1e22, _true_n_opt(1e22) * np.geomspace(0.002, 0.03, 5))]
    f = IsoFlopFit().fit(_isoflop_points(bracketed + too_small))
    res = f.result()
    assert [p.inside for p in f.profiles_] == [True, True, True, False]
    assert any("1e+22" in w and "left out" in w for w in res.warnings)
    # The law's own exponent a = beta / (alpha + beta) comes back from the bracketed minima alone.
    assert res.params["a"] == pytest.approx(BETA / (ALPHA + BETA), abs=0.02)


def test_fewer_than_two_bracketed_minima_is_insufficient_data_not_a_crash():
    one = [(1e20, _true_n_opt(1e20) * np.geomspace(0.25, 4, 7))]
    off = [(c, _true_n_opt(c) * np.geomspace(1e-3, 4e-3, 4)) for c in (1e19, 1e21)]
    with pytest.raises(InsufficientData, match="minimum lies within the model sizes tried; found 1 of 3"):
        IsoFlopFit(n_bootstrap=50).fit(_isoflop_points(one + off))


@pytest.mark.parametrize("per_size", [
    lambda n: 4.5 + 0.05 * np.log(n / 1e4),  # the best loss rises with N: the IsoFLOP grid's big models starve
    lambda n: 4.5 - 1e-5 * np.log(n / 1e4),  # falls, but so slowly that X_c = k^(1/alpha) is beyond float
])
def test_kaplan_single_forms_on_a_flat_isoflop_grid_are_skipped_not_a_crash(per_size):
    """Regression: on the ELTeC IsoFLOP study, L(N) over per-size best losses overflowed X_c and the
    whole end-of-sweep fit failed. The single form is skipped with a reason; the joint form still fits."""
    from harness.fit.laws.kaplan import KaplanFit
    n_l, d_l, c_l, loss = [], [], [], []
    for k, c in enumerate((1e12, 2e12, 4e12)):
        for n in np.geomspace(1e4, 1.6e5, 5):
            n_l.append(n); d_l.append(c / (6 * n)); c_l.append(c)
            loss.append(per_size(n) + 0.1 * (2 - k) + 0.02 * np.log(n / 4e4) ** 2)
    pts = Points(n=n_l, d=d_l, c=c_l, loss=loss, labels=[str(i) for i in range(len(loss))])
    fit = KaplanFit().fit(pts)
    assert any(w.startswith("L(N) skipped:") for w in fit.warnings_)
    assert "L(N)" not in fit.single_ and "L(D)" in fit.single_
    assert np.isfinite(fit.predict_points(pts)).all()


def test_a_budget_without_a_minimum_is_left_out_with_a_warning():
    # Three budgets with clean bowls, and one (5e12) whose losses are concave in log N.
    n = np.array([2e4, 4e4, 8e4, 1.6e5])
    rows = []
    for c, centre in ((1e12, 3e4), (2e12, 5e4), (1e13, 1.2e5)):
        rows += [(x, c / (6 * x), c, 2.0 + 0.05 * np.log(x / centre) ** 2) for x in n]
    rows += [(x, 5e12 / (6 * x), 5e12, 1.6 - 0.01 * np.log(x / 5e4) ** 2) for x in n]
    pts = Points(n=np.array([r[0] for r in rows]), d=np.array([r[1] for r in rows]),
                 c=np.array([r[2] for r in rows]), loss=np.array([r[3] for r in rows]),
                 labels=[f"r{i}" for i in range(len(rows))])
    fit = IsoFlopFit().fit(pts)
    assert len(fit.profiles_) == 3
    assert any("C=5e+12" in w and "has no minimum" in w for w in fit.warnings_)


def test_a_fit_given_the_whole_fits_vertex_weights_weighs_as_its_own_bootstrap_does():
    budgets = (1e18, 1e19, 1e20, 1e21)
    pts = _isoflop_points([(c, _true_n_opt(c) * np.geomspace(0.25, 4, 7)) for c in budgets])
    pts = Points(n=pts.n, d=pts.d, c=pts.c, loss=pts.loss * np.exp(np.random.default_rng(1).normal(0, 0.004, 28)),
                 labels=pts.labels)
    whole = IsoFlopFit().fit(pts)
    assert len(whole.vertex_sds_) == 4 and all(v > 0 for v in whole.vertex_sds_.values())
    again = IsoFlopFit(**whole.resample_settings()).fit(pts)
    assert again.params_["a"] == pytest.approx(whole.params_["a"], rel=1e-12)
    unweighted = IsoFlopFit(weighted=False).fit(pts)
    assert abs(unweighted.params_["a"] - whole.params_["a"]) > 1e-4  # the weights do move the line


@pytest.mark.parametrize("finder", ["local", "global"])
def test_a_nearly_flat_profile_whose_vertex_underflows_is_left_out_without_a_warning(finder, recwarn):
    # Loss rising almost linearly in log N at 1e12: the parabola's vertex lies ~50,000 e-folds below
    # the sizes, N underflows to 0. It is outside the sizes, so only the 3e12 vertex is measured.
    n = np.array([1e4, 2e4, 4e4, 2e4, 4e4, 8e4])
    c = np.array([1e12] * 3 + [3e12] * 3)
    x = np.log(n)
    loss = np.where(c == 1e12, 1 + 0.01 * (x - np.log(3e4)) + 1e-7 * (x - np.log(3e4)) ** 2,
                    2 + 0.5 * (x - np.log(4e4)) ** 2)
    points = Points(n=n, d=c / (6 * n), c=c, loss=loss, labels=[str(i) for i in range(len(n))])
    (flat, _), (curved, _) = profiles(points, 0.05, 3, finder, 5, [])
    assert flat.n_opt == 0.0 and flat.d_opt == np.inf and not flat.inside
    assert curved.inside and curved.n_opt == pytest.approx(4e4, rel=1e-6)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
