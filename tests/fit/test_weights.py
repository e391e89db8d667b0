"""Point weights: the laws that take them (approach 2, approach 3) let a down-weighted run count
less, and every other law says it counts it in full.

The points follow Hoffmann et al.'s published law (Table A3: E 1.69, A 406.4, B 410.7, alpha 0.34,
beta 0.28), whose optimal allocation a = beta / (alpha + beta) = 0.4516 is known exactly; one rung
is then raised as an under-tuned rung is (a loss penalty at every budget)."""

import numpy as np
import pytest

from harness.errors import FitInputError
from harness.fit.laws.approach2 import IsoFlopFit
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.fit.laws.kaplan import KaplanFit
from harness.fit.points import Points, concat

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
A_TRUE = BETA / (ALPHA + BETA)
BUDGETS = (1e19, 1e20, 1e21, 1e22)
GLOBAL = {"vertex": "global", "weighted": False}


def _n_opt(c):
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    return g * (c / 6) ** (BETA / (ALPHA + BETA))


def _points(penalty=0.0, rung=5):
    """7 sizes per budget around the optimum; the ``rung``-th size of every budget gets ``penalty`` nats."""
    n, d, c, loss, labels = [], [], [], [], []
    for budget in BUDGETS:
        for k, size in enumerate(_n_opt(budget) * np.geomspace(0.25, 4, 7)):
            dd = budget / (6 * size)
            n.append(size), d.append(dd), c.append(budget)
            loss.append(E + A / size**ALPHA + B / dd**BETA + (penalty if k == rung else 0.0))
            labels.append(f"{budget:.0e}-{k}")
    return Points(n=np.array(n), d=np.array(d), c=np.array(c), loss=np.array(loss), labels=labels)


def _off_rung(points, rung=5):
    return [lab for lab in points.labels if lab.endswith(f"-{rung}")]


def test_with_weights_sets_the_named_points_and_says_why():
    p = _points(0.05)
    w = p.with_weights({lab: 0.2 for lab in _off_rung(p)}, "4 runs down-weighted")
    assert p.weight is None and not p.weighted()
    assert w.weighted() and w.notes[-1] == "4 runs down-weighted"
    assert sorted(np.flatnonzero(w.weight != 1.0) % 7) == [5, 5, 5, 5] and set(w.weight) == {1.0, 0.2}
    # subsets (bootstrap resamples, holdouts) and concatenation carry the weights with their points
    assert list(w.subset([5, 0, 12]).weight) == [0.2, 1.0, 0.2]
    assert list(concat([w.subset([5]), p.subset([0])]).weight) == [0.2, 1.0]
    with pytest.raises(FitInputError, match="not among the points"):
        p.with_weights({"nope": 0.5}, "x")
    with pytest.raises(FitInputError, match="finite positive"):
        Points(n=p.n, d=p.d, c=p.c, loss=p.loss, labels=p.labels, weight=np.zeros(len(p)))


def test_approach2_down_weighting_an_off_rung_moves_the_vertices_back():
    """On Hoffmann's finder (one parabola per budget, vertices unweighted), where the shift is exact."""
    clean = IsoFlopFit(**GLOBAL).fit(_points())
    # a parabola in log N is not the law's bowl, but its vertex is off by the same factor at every
    # budget (1.5% here), so a comes back exactly
    assert clean.params_["a"] == pytest.approx(A_TRUE, abs=1e-6)
    n_clean = [p.n_opt for p in clean.profiles_]
    off = _points(0.05)
    biased = IsoFlopFit(**GLOBAL).fit(off)
    # the raised rung (2x the optimum) pushes each vertex to smaller N, more where the bowl is
    # shallower (larger budgets), so a falls
    assert all(o < 0.96 * c for o, c in zip([p.n_opt for p in biased.profiles_], n_clean))
    assert biased.params_["a"] == pytest.approx(0.4348, abs=0.001)
    low = off.with_weights({lab: 1e-4 for lab in _off_rung(off)}, "down")
    fit = IsoFlopFit(**GLOBAL).fit(low)
    assert [p.n_opt for p in fit.profiles_] == pytest.approx(n_clean, rel=0.002)
    assert fit.params_["a"] == pytest.approx(A_TRUE, abs=0.001)
    # equal weights everywhere are no weights: the same parabolas
    same = off.with_weights({lab: 0.3 for lab in off.labels}, "all")
    assert [p.n_opt for p in IsoFlopFit(**GLOBAL).fit(same).profiles_] == pytest.approx(
        [p.n_opt for p in biased.profiles_], rel=1e-9)
    assert not any(w.startswith("WEIGHTS IGNORED") for w in fit.warnings_)


def test_approach2_bootstrap_resamples_keep_the_weights():
    off = _points(0.05)
    low = off.with_weights({lab: 1e-4 for lab in _off_rung(off)}, "down")
    f_off = IsoFlopFit(n_bootstrap=50, seed=1, **GLOBAL).fit(off)
    f_low = IsoFlopFit(n_bootstrap=50, seed=1, **GLOBAL).fit(low)
    # Resamples are subsets that keep each point's weight: most land on the true a. Those that keep
    # only three sizes of a budget, one of them the raised rung, interpolate it whatever its weight.
    assert np.median(f_low.boot_[:, 0]) == pytest.approx(A_TRUE, abs=0.002)
    assert np.mean(np.abs(f_low.boot_[:, 0] - A_TRUE) < 0.002) > 0.5
    assert np.mean(np.abs(f_off.boot_[:, 0] - A_TRUE) < 0.002) < 0.1
    assert f_low.ci_["a"][1] - f_low.ci_["a"][0] < 0.25 * (f_off.ci_["a"][1] - f_off.ci_["a"][0])


@pytest.mark.slow  # 4,500 starts, 3 fits
def test_approach3_down_weighting_an_off_rung_recovers_the_law():
    off = _points(0.05)
    biased = ChinchillaFit().fit(off).params_
    low = off.with_weights({lab: 1e-6 for lab in _off_rung(off)}, "down")
    fit = ChinchillaFit(n_bootstrap=20, seed=0).fit(low)
    p = fit.params_
    # Huber's small delta already treats a 0.05-nat rung among exact points as an outlier, so the
    # unweighted fit is only slightly bent; with the rung down-weighted the law comes back exactly.
    assert abs(biased["a"] - A_TRUE) > 5e-4 and abs(biased["alpha"] - ALPHA) > 5e-4
    assert p["a"] == pytest.approx(A_TRUE, abs=1e-4) and p["E"] == pytest.approx(E, abs=1e-4)
    assert p["alpha"] == pytest.approx(ALPHA, abs=2e-4) and p["beta"] == pytest.approx(BETA, abs=2e-4)
    assert fit.ci_["a"][0] <= A_TRUE <= fit.ci_["a"][1]
    # a weight common to every point scales the Huber sum, not its optimum
    same = off.with_weights({lab: 3.0 for lab in off.labels}, "all")
    assert ChinchillaFit().fit(same).params_["a"] == pytest.approx(biased["a"], abs=1e-6)


def test_a_law_without_weights_says_it_counts_every_point_in_full():
    off = _points(0.05)
    low = off.with_weights({lab: 0.1 for lab in _off_rung(off)}, "down")
    warnings = KaplanFit().fit(low).warnings_
    assert [w for w in warnings if w.startswith("WEIGHTS IGNORED: kaplan")]
    assert not any(w.startswith("WEIGHTS IGNORED") for w in KaplanFit().fit(off).warnings_)
