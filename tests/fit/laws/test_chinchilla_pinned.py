"""Approach 3 with parameters pinned (``ChinchillaFit(pin=...)``): exact recovery of the free ones on
noise-free points of Hoffmann's published law, a worse fit at a wrong E, and one-line refusals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.errors import FitInputError
from harness.fit.anchors import HOFFMANN
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.fit.points import Points

# A ladder of shapes (N) shared by four IsoFLOP budgets, as a sweep runs them; each budget keeps the
# shapes it trains for 4 to 2,000 tokens per parameter.
SHAPES = np.geomspace(1e7, 3e9, 8)
BUDGETS = (1e18, 1e19, 1e20, 1e21)


def hoffmann_points(floor: float | None = None, bump: dict[float, float] | None = None) -> Points:
    """Noise-free losses of Hoffmann's eq. 10 (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28) on the
    shape ladder; ``bump`` multiplies the losses of a budget (C -> factor), a misfit put there on purpose."""
    n_l, d_l, c_l = [], [], []
    for c in BUDGETS:
        for n in SHAPES:
            d = c / (6 * n)
            if 4 <= d / n <= 2000:
                n_l.append(n); d_l.append(d); c_l.append(c)
    n, d, c = np.array(n_l), np.array(d_l), np.array(c_l)
    loss = HOFFMANN.loss(n, d) * np.array([(bump or {}).get(ci, 1.0) for ci in c])
    return Points.from_arrays(n, d, loss, c, floor=floor)


# A small start grid (raw units: log A, log B, log E, alpha, beta) around Hoffmann's values, for the
# tests that only need the fit to reach the one basin these noise-free points have.
SMALL_GRID = np.array(list(itertools.product((5.0, 7.0), (5.0, 7.0), (0.3, 0.7), (0.25, 0.45), (0.2, 0.4))))


def rms_log(f: ChinchillaFit, pts: Points) -> float:
    return float(np.sqrt(np.mean(np.log(f.predict(pts.n, pts.d) / pts.loss) ** 2)))


def test_e_pinned_at_the_truth_recovers_the_rest():
    pts = hoffmann_points()
    f = ChinchillaFit(pin={"E": 1.69}, n_bootstrap=10, seed=0).fit(pts)
    p = f.params_
    assert p["E"] == 1.69  # as given, not back through log and exp
    assert p["A"] == pytest.approx(406.4, rel=1e-4) and p["B"] == pytest.approx(410.7, rel=1e-4)
    assert p["alpha"] == pytest.approx(0.34, abs=1e-5) and p["beta"] == pytest.approx(0.28, abs=1e-5)
    assert f.converged_ and rms_log(f, pts) < 1e-6
    # The grid's five E values collapse to one start each: 4,500 / 5.
    assert f.grid_report_.n_starts == 900
    assert "E" not in f.ci_ and {"A", "B", "alpha", "beta", "a", "b"} <= set(f.ci_)
    assert all(b.E == 1.69 for b in f.boot_params())
    assert f.details_["pinned"] == {"E": 1.69}
    assert f.get_params()["pin"] == {"E": 1.69}


def test_a_pinned_coefficient_moves_with_its_free_exponent():
    """A pinned A is log A - alpha log s_n in the fit's units: with alpha free, the map is affine."""
    pts = hoffmann_points()
    f = ChinchillaFit(pin={"A": 406.4, "B": 410.7}, grid=SMALL_GRID).fit(pts)
    p = f.params_
    assert (p["A"], p["B"]) == (406.4, 410.7)
    assert p["E"] == pytest.approx(1.69, rel=1e-5)
    assert p["alpha"] == pytest.approx(0.34, abs=1e-5) and p["beta"] == pytest.approx(0.28, abs=1e-5)


def test_both_exponents_pinned_leave_a_and_b_without_intervals():
    pts = hoffmann_points()
    f = ChinchillaFit(pin={"alpha": 0.34, "beta": 0.28}, grid=SMALL_GRID, n_bootstrap=5).fit(pts)
    assert f.params_["E"] == pytest.approx(1.69, rel=1e-5)
    assert set(f.ci_) == {"E", "A", "B"}
    assert f.params_["a"] == pytest.approx(0.28 / 0.62)


def test_e_pinned_at_zero_is_the_pure_power_law():
    pts = hoffmann_points()
    f = ChinchillaFit(pin={"E": 0}, grid=SMALL_GRID, n_bootstrap=5).fit(pts)
    assert f.params_["E"] == 0.0 and np.all(np.isfinite(f.predict(pts.n, pts.d)))
    assert len(f.boot_params()) == 5 and "E" not in f.ci_
    # Without the floor the power laws bend to imitate it: a far worse fit than the truth's.
    assert rms_log(f, pts) > 1e-3


@pytest.mark.slow  # the full 4,500-start fit, then two pinned ones
def test_wrong_e_fits_worse_than_free_and_the_free_optimum_pinned_is_the_same_fit():
    exact = hoffmann_points()
    noise = np.exp(np.random.default_rng(0).normal(0, 0.003, len(exact)))  # 0.3%: about the seed noise
    pts = Points.from_arrays(exact.n, exact.d, exact.loss * noise, exact.c)
    free = ChinchillaFit().fit(pts)
    # Exact, not a penalty: pinning E where the free fit put it leaves the same optimum.
    same = ChinchillaFit(pin={"E": free.params_["E"]}).fit(pts)
    assert same.objective_ == pytest.approx(free.objective_, rel=1e-6)
    for k in ("A", "B", "alpha", "beta"):
        assert same.params_[k] == pytest.approx(free.params_[k], rel=1e-4), k
    wrong = ChinchillaFit(pin={"E": 1.5}).fit(pts)
    assert rms_log(wrong, pts) > 1.5 * rms_log(free, pts)
    assert wrong.objective_ > 2 * free.objective_


@pytest.mark.parametrize("pin, says", [
    ({"G": 1.0}, "cannot pin 'G': pin one of A, B, E, alpha, beta"),
    ({"e": 1.0}, "cannot pin 'e'"),
    ({"E": math.nan}, "pinned E = nan must be finite"),
    ({"alpha": math.inf}, "pinned alpha = inf must be finite"),
    ({"E": -0.1}, "pinned E = -0.1 must be >= 0 and below the lowest loss"),
    ({"E": 5.0}, "pinned E = 5 must be >= 0 and below the lowest loss"),
    ({"beta": 0.0}, "pinned beta = 0 must be positive"),
    ({"A": -3.0}, "pinned A = -3 must be positive"),
    ({"B": "lots"}, "pinned B = 'lots' is not a number"),
    ({"E": 1.0, "A": 1.0, "B": 1.0, "alpha": 0.3, "beta": 0.3}, "every parameter"),
    (["E"], "pin must map parameter names to values"),
])
def test_a_bad_pin_is_a_one_line_error_naming_the_parameter(pin, says):
    with pytest.raises(FitInputError) as e:
        ChinchillaFit(pin=pin).fit(hoffmann_points())
    assert says in str(e.value) and "\n" not in str(e.value)


def test_headline_and_section_say_what_was_pinned():
    f = ChinchillaFit(pin={"E": 1.2136}, grid=SMALL_GRID).fit(hoffmann_points())
    r = f.result()
    assert r.details["pinned"] == {"E": 1.2136}
    assert ChinchillaFit.headline(r).split("\n")[0].endswith("; E pinned at 1.2136")
    section = ChinchillaFit.report_section(r, {})
    assert "Pinned, not fitted (so no interval): E pinned at 1.2136." in section
    assert "pinned" not in ChinchillaFit.headline(ChinchillaFit(grid=SMALL_GRID).fit(hoffmann_points()).result())
