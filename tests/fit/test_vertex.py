"""IsoFLOP vertex finders on profiles of known truth: the default is the one that is unbiased on
wide, asymmetric profiles without being the noisiest.

Truth: Hoffmann et al.'s published law (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28), whose
optimal N at each budget and exponent a = beta / (alpha + beta) = 0.4516 are known exactly. Its
IsoFLOP profile in log N is asymmetric (a sum of two exponentials of unequal rates), so a parabola
through a window of sizes that is not centred on the optimum has its vertex pulled towards the
longer arm. A fixed ladder of sizes makes the windows drift from budget to budget, as in real
studies; the drift turns a constant pull into a bias of a."""

import math

import numpy as np
import pytest

from harness.fit.laws.approach2 import IsoFlopFit
from harness.fit.points import Points
from harness.fit.vertex import (
    DEFAULT_FINDER,
    Profile,
    excess_scatter,
    find_vertex,
    local_window,
    profile_of,
    replicate_noise,
    residual_noise,
    vertex_sd,
)

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
A_TRUE = BETA / (ALPHA + BETA)
BUDGETS = np.geomspace(1e18, 1e21, 7)


def _n_opt(c):
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    return g * (c / 6) ** (BETA / (ALPHA + BETA))


def _drifting(c):
    """11 sizes over two decades, centred at N_opt/5 at the smallest budget and 5 N_opt at the largest."""
    k = math.log(c / BUDGETS[0]) / math.log(BUDGETS[-1] / BUDGETS[0])
    return _n_opt(c) * 5 ** (2 * k - 1) * np.geomspace(0.1, 10, 11)


def _points(noise=0.0, rng=None, sizes=_drifting, reps=1):
    n, d, c, loss = [], [], [], []
    for budget in BUDGETS:
        for size in sizes(budget):
            for _ in range(reps):
                dd = budget / (6 * size)
                jitter = 1.0 if noise == 0 else math.exp(noise * rng.standard_normal())
                n.append(size), d.append(dd), c.append(budget)
                loss.append((E + A / size**ALPHA + B / dd**BETA) * jitter)
    return Points(n=np.array(n), d=np.array(d), c=np.array(c), loss=np.array(loss),
                  labels=[str(i) for i in range(len(n))])


def test_on_exact_asymmetric_profiles_the_global_parabola_is_biased_and_the_others_are_not():
    pts = _points()
    a = {f: IsoFlopFit(vertex=f, weighted=False).fit(pts).params_["a"] for f in ("global", "local", "akima")}
    assert a["global"] - A_TRUE == pytest.approx(0.0198, abs=0.001)  # as large as the effects studies report
    assert abs(a["local"] - A_TRUE) < 0.001 and abs(a["akima"] - A_TRUE) < 0.001


@pytest.mark.slow  # 3 finders x 20 noisy designs, each vertex weighted by 200 simulated reruns
def test_the_default_finder_is_unbiased_and_less_noisy_than_akima_at_measured_seed_noise():
    """0.2% per run, half the measured seed-to-seed spread: the global parabola's bias stands, the local
    parabola's is a tenth of it, and Akima's interpolant, passing through every noisy point, scatters
    several times more than the local parabola."""
    rng = np.random.default_rng(0)
    got = {f: [] for f in ("global", "local", "akima")}
    for _ in range(20):
        pts = _points(0.002, rng)
        for f in got:
            got[f].append(IsoFlopFit(vertex=f).fit(pts).params_["a"])
    bias = {f: float(np.mean(v) - A_TRUE) for f, v in got.items()}
    rmse = {f: float(np.sqrt(np.mean((np.array(v) - A_TRUE) ** 2))) for f, v in got.items()}
    assert bias["global"] > 0.02 and abs(bias["local"]) < 0.005
    assert rmse["local"] < 0.5 * rmse["global"] and rmse["local"] < 0.5 * rmse["akima"]
    assert DEFAULT_FINDER == min(rmse, key=rmse.get) == "local"


def test_replicates_are_averaged_into_one_size_with_their_summed_weight():
    x = np.log(np.array([1e4, 2e4, 2e4, 4e4]))
    p = profile_of(x, np.array([2.0, 1.9, 1.7, 1.95]), np.array([1.0, 1.0, 3.0, 1.0]))
    assert p.y.tolist() == pytest.approx([2.0, (1.9 + 3 * 1.7) / 4, 1.95])
    assert p.w.tolist() == [1.0, 4.0, 1.0] and p.reps.tolist() == [1, 2, 1]


def test_the_local_window_is_centred_on_the_lowest_loss_as_far_as_the_ends_allow():
    y = np.array([5, 4, 3, 2, 1, 2, 3, 4, 5.0])
    assert local_window(y, 5) == slice(2, 7)
    assert local_window(np.array([1, 2, 3, 4, 5, 6.0]), 5) == slice(0, 5)
    assert local_window(np.array([6, 5, 4, 3, 2, 1.0]), 5) == slice(1, 6)
    assert local_window(y[:4], 5) == slice(0, 4)


def test_each_finder_finds_an_exact_parabolas_vertex_and_flags_one_outside_the_sizes():
    x = np.linspace(0, 4, 9)
    p = Profile(x=x, y=2 + 0.1 * (x - 1.7) ** 2, w=np.ones(9), reps=np.ones(9))
    for f in ("global", "local"):
        v = find_vertex(p, f)
        assert v.x == pytest.approx(1.7, abs=1e-9) and v.inside and v.loss == pytest.approx(2.0)
    assert find_vertex(p, "akima").x == pytest.approx(1.7, abs=0.01)
    falling = Profile(x=x, y=2 + 0.1 * (x - 6.0) ** 2, w=np.ones(9), reps=np.ones(9))
    assert not find_vertex(falling, "global").inside and not find_vertex(falling, "akima").inside
    concave = Profile(x=x, y=2 - 0.1 * (x - 2.0) ** 2, w=np.ones(9), reps=np.ones(9))
    assert find_vertex(concave, "global") is None
    with pytest.raises(ValueError, match="choose one of local, akima, global"):
        find_vertex(p, "spline")


def test_seed_noise_is_read_off_replicates_else_bounded_by_the_residuals():
    x = np.log(np.array([1e4, 1e4, 2e4, 2e4, 4e4]))
    loss = np.array([2.0, 2.0 * math.exp(0.01), 1.8, 1.8 * math.exp(-0.02), 1.9])
    # two pairs 0.01 and 0.02 apart: each pair's sd is its difference over sqrt 2; the robust scale is
    # 1.4826 x their median
    assert replicate_noise([x], [loss]) == pytest.approx(1.4826 * 0.015 / math.sqrt(2))
    # one far-off rerun among several close pairs moves the robust scale little
    pairs = np.log(np.repeat([1e4, 2e4, 4e4, 8e4, 1.6e5], 2))
    close = 2 * np.exp(np.tile([0.0, 0.004], 5))
    far = close.copy()
    far[-1] *= 1.08
    assert replicate_noise([pairs], [close]) == pytest.approx(1.4826 * 0.004 / math.sqrt(2))
    assert replicate_noise([pairs], [far]) == pytest.approx(replicate_noise([pairs], [close]))
    assert replicate_noise([x[[0, 2, 4]]], [loss[[0, 2, 4]]]) is None
    xs = np.linspace(0, 4, 7)
    bumps = np.array([1, -1, 1, -1, 1, -1, 1]) * 0.003
    p = Profile(x=xs, y=2 * np.exp(0.05 * (xs - 2) ** 2 + bumps), w=np.ones(7), reps=np.ones(7))
    assert 0.002 < residual_noise([p], 7) < 0.005  # the bumps' size, less what the parabola absorbs
    assert residual_noise([p], 3) is None  # a parabola through three sizes leaves no residual


def test_a_vertex_is_less_sure_under_more_noise_and_more_sure_with_more_replicates():
    x = np.linspace(0, 4, 9)
    y = 2 * np.exp(0.1 * (x - 2) ** 2)  # steep enough that the noise never moves the lowest size
    one = Profile(x=x, y=y, w=np.ones(9), reps=np.ones(9))
    four = Profile(x=x, y=y, w=4 * np.ones(9), reps=4 * np.ones(9))
    sd = [vertex_sd(p, s, "local", 5, 400, np.random.default_rng(0)) for p, s in ((one, 0.002), (one, 0.004), (four, 0.004))]
    assert sd[1] == pytest.approx(2 * sd[0], rel=0.15)  # linear in the noise while the vertex stays inside
    assert sd[2] == pytest.approx(sd[1] / 2, rel=0.15)  # replicates average it down as 1/sqrt(reps)


def test_approach2_says_which_finder_noise_and_interval_it_used():
    rng = np.random.default_rng(1)
    f = IsoFlopFit(n_bootstrap=20).fit(_points(0.003, rng, reps=2))
    d = f.details_
    assert d["vertex"] == "local" and d["window"] == 5 and d["weighted"]
    assert d["seed_noise_from"].startswith("replicate seeds") and 0.002 < d["seed_noise"] < 0.004  # 77 pairs at 0.3%
    assert all(p["sd_log_n"] > 0 for p in d["profiles"] if p["inside"])
    assert d["excess_sd_log_n"] >= 0 and d["vertex_scatter"] > 0
    hoffmann = IsoFlopFit(vertex="global", weighted=False).fit(_points()).details_
    assert hoffmann["vertex"] == "global" and not hoffmann["weighted"] and hoffmann["window"] is None


def test_the_excess_scatter_is_zero_within_the_sds_and_found_beyond_them():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 10, 400)
    sd = np.full(400, 0.01)
    within = 0.5 * x + 1 + 0.5 * sd * rng.standard_normal(400)
    assert excess_scatter(x, within, sd) == 0.0
    beyond = 0.5 * x + 1 + np.hypot(0.01, 0.1) * rng.standard_normal(400)
    assert excess_scatter(x, beyond, sd) == pytest.approx(0.1, rel=0.1)
    assert excess_scatter(x[:2], beyond[:2], sd[:2]) == 0.0  # a line through two points leaves no residual


def test_vertices_that_scatter_beyond_seed_noise_are_weighed_nearly_alike():
    """One very sure but off vertex cannot set the line once the spread beyond the sds is added."""
    x = np.log(np.geomspace(1e18, 1e21, 6))
    y = 0.45 * x + np.array([0.05, -0.05, 0.05, -0.05, 0.05, 0.15])  # the largest budget's vertex is off
    sd = np.array([0.01, 0.01, 0.01, 0.01, 0.01, 0.001])  # and the surest under reruns
    tau = excess_scatter(x, y, sd)
    assert tau > 0.05
    w_seed, w_all = 1 / sd, 1 / np.hypot(sd, tau)
    assert w_seed.max() / w_seed.min() == pytest.approx(10) and w_all.max() / w_all.min() < 1.02
    assert np.polyfit(x, y, 1, w=w_seed)[0] == pytest.approx(0.477, abs=1e-3)  # pulled by the sure one
    assert np.polyfit(x, y, 1, w=w_all)[0] == pytest.approx(0.465, abs=1e-3)
