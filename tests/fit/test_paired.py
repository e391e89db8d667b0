import numpy as np
import pytest

from harness.errors import FitInputError
from harness.fit.api import fit_points
from harness.fit.laws.approach2 import IsoFlopFit
from harness.fit.paired import paired_difference
from harness.fit.points import Points

BUDGETS = (1e17, 1e18, 1e19, 1e20)


def isoflop(alpha: float, beta: float, noise: np.ndarray) -> tuple[Points, list]:
    """IsoFLOP points of L = E + A/N^alpha + B/D^beta (Hoffmann's A, B, E), 7 sizes per budget around
    the optimum, times exp(noise): the same noise for two laws is the noise two matched studies share."""
    e, a_, b_ = 1.69, 406.4, 410.7
    n, d, keys = [], [], []
    for i, c in enumerate(BUDGETS):
        g = (alpha * a_ / (beta * b_)) ** (1 / (alpha + beta))
        n_opt = g * (c / 6) ** (beta / (alpha + beta))
        for j, f in enumerate(np.geomspace(1 / 4, 4, 7)):
            n.append(n_opt * f); d.append(c / (6 * n_opt * f)); keys.append((i, j))
    n, d = np.array(n), np.array(d)
    loss = (e + a_ / n ** alpha + b_ / d ** beta) * np.exp(noise)
    return Points.from_arrays(n=n, d=d, loss=loss, labels=[f"p{k}" for k in range(len(n))]), keys


def test_the_same_points_twice_change_nothing() -> None:
    pts, keys = isoflop(0.34, 0.28, np.zeros(28))
    d = paired_difference(pts, pts, keys, keys, n_bootstrap=20)
    assert d.diff == 0.0 and d.ci == (0.0, 0.0) and d.pairs == 28 and d.resamples == 20


@pytest.mark.slow  # seconds: outside the quick loop
def test_shared_noise_cancels_and_the_interval_holds_the_true_change() -> None:
    noise = np.random.default_rng(3).normal(0, 0.01, 28)
    before, keys = isoflop(0.34, 0.28, noise)
    after, _ = isoflop(0.30, 0.30, noise)
    truth = 0.30 / 0.60 - 0.28 / 0.62  # a = beta / (alpha + beta) of each law
    d = paired_difference(before, after, keys, keys, n_bootstrap=200)
    assert d.ci[0] <= truth <= d.ci[1]
    assert d.before == pytest.approx(IsoFlopFit().fit(before).params_["a"])
    # Each study alone is far less sure of its own a than the pair is of the change.
    alone = fit_points(after, ["approach2"], bootstrap=200, seed=0).get("approach2").ci["a"]
    assert (d.ci[1] - d.ci[0]) < 0.5 * (alone[1] - alone[0])


def test_keys_that_do_not_name_points_are_refused() -> None:
    pts, keys = isoflop(0.34, 0.28, np.zeros(28))
    with pytest.raises(FitInputError, match="27 keys for the 28 points before"):
        paired_difference(pts, pts, keys[:-1], keys)
    with pytest.raises(FitInputError, match="share a key"):
        paired_difference(pts, pts, keys, keys[:-1] + keys[:1])
    with pytest.raises(FitInputError, match="5 points pair up"):
        paired_difference(pts, pts, keys, [k if i < 5 else ("x", i) for i, k in enumerate(keys)])
    with pytest.raises(FitInputError, match="no parameter 'q'"):
        paired_difference(pts, pts, keys, keys, param="q", n_bootstrap=5)
