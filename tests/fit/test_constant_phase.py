import math

import numpy as np
import pytest

from harness.errors import FitInputError
from harness.fit.constant_phase import constant_end, constant_phase_points, loss_at, trajectories
from harness.fit.lrcurves import RunCurve
from harness.fit.points import Points

PEAK = 0.01
TPS = 1000.0  # tokens per step
FPT = 6 * 5000.0  # FLOPs per token of a 5,000-parameter model under 6ND


def loss(step: np.ndarray) -> np.ndarray:
    return 2.0 + 10.0 * np.asarray(step, dtype=float) ** -0.5


def curve(run_id: str, steps: int, schedule: dict, eval_steps, seed: int = 0, offset: float = 0.0) -> RunCurve:
    ev = np.asarray(eval_steps, dtype=int)
    return RunCurve(run_id=run_id, shape_key="L2d16", shape_label="L2d16", n=5000.0, data_key="synthetic",
                    steps=steps, warmup_steps=100, peak_lr=PEAK, schedule=schedule, tokens_per_step=TPS,
                    flops_per_token=FPT, eval_steps=ev, eval_loss=loss(ev) + offset,
                    eval_full=np.ones(len(ev), dtype=bool), final_loss=float(loss(ev[-1:])[0] + offset), seed=seed)


WSD = {"name": "wsd", "decay_fraction": 0.1, "decay_shape": "linear", "final_lr_fraction": 0.0}


def points_of(*curves: RunCurve) -> Points:
    pts = Points.from_arrays(n=[c.n for c in curves], d=[c.steps * TPS for c in curves], loss=[c.final_loss for c in curves],
                             labels=[c.run_id for c in curves], source="study")
    pts.run_curves = list(curves)
    return pts


def budget(step: float) -> float:
    return step * TPS * FPT


def test_the_constant_phase_ends_where_the_decay_begins() -> None:
    trunk = curve("t", 1000, WSD, range(50, 1001, 50))
    assert constant_end(trunk) == 900  # the last 10% decays: steps 900..999 run below the peak
    cosine = curve("c", 1000, {"name": "cosine", "final_lr_fraction": 0.1}, range(50, 1001, 50))
    assert constant_end(cosine) == 101  # a cosine is at its peak for one step after the warmup, then falls
    constant = curve("k", 1000, {"name": "constant"}, range(50, 1001, 50))
    assert constant_end(constant) == 1000


def test_a_budget_on_an_evaluation_is_that_evaluation_and_between_two_is_log_linear() -> None:
    (t,) = trajectories([curve("t", 1000, WSD, range(50, 1001, 50))])
    assert loss_at(t, 400) == pytest.approx(float(loss(400)), rel=1e-12)
    w = (math.log(425) - math.log(400)) / (math.log(450) - math.log(400))
    expect = math.exp((1 - w) * math.log(loss(400)) + w * math.log(loss(450)))
    assert loss_at(t, 425) == pytest.approx(expect, rel=1e-12)
    assert abs(loss_at(t, 425) / float(loss(425)) - 1) < 1e-4  # and close to the smooth curve itself


def test_nothing_is_read_in_the_warmup_the_decay_or_across_a_wide_gap() -> None:
    (t,) = trajectories([curve("t", 1000, WSD, [50, 100, 200, 300, 400, 700, 900, 950, 1000])])
    assert loss_at(t, 80) is None  # inside the warmup (evaluations before step 100 are not kept)
    assert loss_at(t, 925) is None  # past the last constant-rate evaluation (900)
    assert loss_at(t, 550) is None  # 400 -> 700 is wider than x1.3
    assert loss_at(t, 800) is not None  # 700 -> 900 is x1.29


def test_a_trunk_and_its_branches_are_one_trajectory_and_other_seeds_are_not() -> None:
    trunk = curve("trunk", 1000, WSD, range(100, 1001, 100))
    branch = curve("branch", 500, WSD, range(25, 501, 25))  # forks at step 450: same evaluations up to there
    other_seed = curve("seed1", 1000, WSD, range(100, 1001, 100), seed=1, offset=0.01)
    trajs = trajectories([branch, trunk, other_seed])
    assert len(trajs) == 2
    merged = next(t for t in trajs if t.curve.seed == 0)
    assert merged.curve.run_id == "trunk"  # the longest constant phase names the trajectory
    assert 425 in merged.losses and 900 in merged.losses and 475 not in merged.losses  # 475 is in the branch's decay

    pts = constant_phase_points(points_of(trunk, branch, other_seed), [budget(400), budget(800)])
    assert sorted(pts.labels) == ["seed1@1.2e+10", "seed1@2.4e+10", "trunk@1.2e+10", "trunk@2.4e+10"]
    i = pts.labels.index("trunk@2.4e+10")
    assert pts.loss[i] == pytest.approx(float(loss(800)))
    assert pts.d[i] == pytest.approx(800 * TPS) and pts.n[i] == 5000.0 and pts.c[i] == pytest.approx(budget(800))
    assert "constant phase" in pts.notes[-1]


def test_records_that_disagree_are_kept_apart() -> None:
    a = curve("a", 1000, WSD, range(100, 1001, 100))
    b = curve("b", 1000, WSD, range(100, 1001, 100), offset=0.05)  # same settings, another trajectory
    assert len(trajectories([a, b])) == 2


def test_runs_without_a_constant_phase_are_one_line_naming_the_source() -> None:
    cosine = curve("c", 1000, {"name": "cosine", "final_lr_fraction": 0.1}, range(50, 1001, 50))
    with pytest.raises(FitInputError, match="no curve of study stays at its peak rate"):
        constant_phase_points(points_of(cosine), [budget(500)])
    with pytest.raises(FitInputError, match="holds no run records with loss curves"):
        constant_phase_points(Points.from_arrays(n=[1e4] * 3, d=[1e6] * 3, loss=[3.0] * 3, source="x.csv"), [1e12])


def test_a_window_reads_a_least_squares_line_through_the_evaluations_around_the_step() -> None:
    (t,) = trajectories([curve("t", 1000, WSD, range(100, 1001, 50))])
    # Evaluations within x1.5 of 500: 350 .. 750 (9 of them); the line through them in (log step, log loss).
    steps = np.arange(350, 751, 50)
    slope, intercept = np.polyfit(np.log(steps) - math.log(500), np.log(loss(steps)), 1)
    assert loss_at(t, 500, window=1.5) == pytest.approx(math.exp(intercept), rel=1e-12)
    # The curve's bend across the window biases the line upwards: by 0.11% for 2 + 10 s^-0.5, where
    # the reducible part is 18% of the loss (about as on the synthetic language's trunks).
    assert 0.0010 < loss_at(t, 500, window=1.5) / float(loss(500)) - 1 < 0.0012
    # A window of 1 is the two-point reading; a window that reaches past the constant phase uses what
    # lies inside it (here 600 .. 900, the decay after 900 excluded), not the decay's evaluations; lopsided,
    # its bend costs less (the line is read near its end, where a chord's error changes sign).
    assert loss_at(t, 525, window=1.0) == loss_at(t, 525)
    assert abs(loss_at(t, 850, window=1.5) / float(loss(850)) - 1) < 0.0002


def test_a_window_averages_the_jitter_of_a_constant_rate() -> None:
    rng = np.random.default_rng(0)
    truth = loss(np.array([450, 500, 550]))
    errors = {1.0: [], 1.5: []}
    for k in range(200):
        c = curve(f"t{k}", 1000, WSD, range(100, 1001, 50))
        c.eval_loss = c.eval_loss * np.exp(rng.normal(0.0, 0.005, len(c.eval_loss)))  # 0.5% jitter per evaluation
        (t,) = trajectories([c])
        for w in errors:
            errors[w] += [loss_at(t, s, window=w) / v - 1 for s, v in zip((450, 500, 550), truth)]
    rms = {w: float(np.sqrt(np.mean(np.square(e)))) for w, e in errors.items()}
    assert 0.0045 < rms[1.0] < 0.0055  # one evaluation's jitter
    assert rms[1.5] < 0.5 * rms[1.0]  # nine evaluations on a line: about a third of it
    assert abs(np.mean(errors[1.5]) - 0.001) < 0.0005  # and no bias beyond the bend's 0.1%


def test_a_window_below_one_is_one_line() -> None:
    trunk = curve("t", 1000, WSD, range(100, 1001, 50))
    with pytest.raises(FitInputError, match="--constant-phase-window: 0.5 is below 1"):
        constant_phase_points(points_of(trunk), [budget(500)], window=0.5)
