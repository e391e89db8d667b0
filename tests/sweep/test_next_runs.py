"""harness-plan --next (harness/sweep/next_runs.py) on a synthetic law with a known optimum.

No training: designs are built from numbers (losses from the known law plus seeded noise) and the
proposal function is called directly. The truth is the approach-3 fit of the committed study's
first design (results/synthetic_adaptive_cpu/first, rounded): allocation exponent a = β/(α+β).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from harness.cli.plan import NextArgs
from harness.errors import NextRunsError
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.sweep.candidates import Move
from harness.sweep.next_report import commands, render, to_json
from harness.sweep.next_runs import Proposal, propose
from harness.sweep.runs_so_far import Run, design_from_arrays, rung_params
from harness.sweep.surrogate import FAIL_WIDTH, Noise, WidthMethod

E, A, B, ALPHA, BETA = 1.15, 67.4, 18370.0, 0.5, 0.73
A_TRUE = BETA / (ALPHA + BETA)
RUNGS = dict(rung_params(128, 64))
NOISE = 0.0065
# The cheapest scoring that still is the fitter's bootstrap: these tests check which moves are
# proposed, not how well their widths are estimated (tests/sweep/test_next_runs_calibration.py does).
FAST = {"n_bootstrap": 50, "draws": 1}


def law(n, c):
    n = np.asarray(n, float)
    return E + A / n ** ALPHA + B / (np.asarray(c, float) / (6 * n)) ** BETA


def n_opt(c: float) -> float:
    # dL/dN = 0 on C = 6ND: alpha A / N^alpha = beta B (6N/C)^beta
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    return g * (c / 6) ** (BETA / (ALPHA + BETA))


def design(grid: list[tuple[str, float]], seed: int = 0):
    rng = np.random.default_rng(seed)
    models = [m for m, _ in grid]
    n = [RUNGS[m] for m in models]
    c = [cc for _, cc in grid]
    return design_from_arrays(n, c, law(n, c) + NOISE * rng.normal(size=len(n)), models=models)


FIRST = [(m, c) for c in (1e12, 2e12, 4e12) for m in ("ladder_3xs", "ladder_2xs", "ladder_xs")]


def test_the_known_law_leaves_the_largest_budgets_unbracketed():
    # The premise of the tests below: at 2e12 and 4e12 the lowest loss of the first design's three
    # shapes is at the largest, ladder_xs, so those minima are not bracketed; at 1e12 it is.
    shapes = ("ladder_3xs", "ladder_2xs", "ladder_xs")
    best = {c: shapes[int(np.argmin(law([RUNGS[m] for m in shapes], c)))] for c in (1e12, 2e12, 4e12)}
    assert best == {1e12: "ladder_2xs", 2e12: "ladder_xs", 4e12: "ladder_xs"}
    assert RUNGS["ladder_2xs"] < n_opt(2e12) < n_opt(4e12) < RUNGS["ladder_s"]
    assert A_TRUE == pytest.approx(0.5935, abs=1e-3)


@pytest.mark.slow  # chinchilla fits (4,500 starts) or a CLI run of the fitter
def test_proposals_bracket_an_unbracketed_minimum():
    d = design(FIRST)
    prop = propose(d, k=2, target="a", **FAST)
    runs = [r for m in prop.moves for r in m.runs]
    assert [m.kind for m in prop.moves] == ["bracket", "bracket"]
    # the next rung above the largest shape tried, at each budget whose lowest loss is at that shape
    assert runs == [Run("ladder_s", RUNGS["ladder_s"], 2e12), Run("ladder_s", RUNGS["ladder_s"], 4e12)]
    assert all(math.isfinite(m.width) and m.width > 0 for m in prop.moves)
    assert prop.moves[-1].width < prop.width_now  # bracketing narrows the expected interval
    again = propose(d, k=2, target="a", **FAST)  # deterministic
    assert [(m.runs, m.width) for m in again.moves] == [(m.runs, m.width) for m in prop.moves]


@pytest.mark.slow  # fits and scores simulated designs
def test_bracket_below_the_smallest_shape():
    grid = [(m, c) for c in (1e12, 2e12, 4e12) for m in ("ladder_s", "ladder_m", "ladder_l")]
    prop = propose(design(grid), k=1, target="a", **FAST)
    assert prop.moves[0].kind == "bracket"
    assert prop.moves[0].runs == (Run("ladder_xs", RUNGS["ladder_xs"], 1e12),)


@pytest.mark.slow  # fits and scores simulated designs
def test_loss_at_a_larger_compute_proposes_a_budget_above_the_largest():
    # every minimum bracketed (five shapes around each optimum), so no bracketing run is due
    grid = [(m, c) for c in (1e12, 2e12, 4e12)
            for m in ("ladder_4xs", "ladder_3xs", "ladder_2xs", "ladder_xs", "ladder_s")]
    d = design(grid)
    # the planner's own bootstrap settings: with FAST's one draw of 50 resamples the width now
    # is off by more (0.08 against 0.05) than any candidate moves it, and a shape wins on that noise
    prop = propose(d, k=3, target="loss@1e14")
    runs = [r for m in prop.moves for r in m.runs]
    assert [m.kind for m in prop.moves] == ["budget"]
    assert {r.flops for r in runs} == {1e14}
    # the three rungs around the optimum there: the true N_opt(1e14) lies inside them
    ns = sorted(r.n for r in runs)
    assert ns[0] < n_opt(1e14) < ns[-1]
    assert prop.moves[0].width < prop.width_now
    # asked about a instead, the same design does not go to 1e14
    assert all(r.flops < 1e14 for m in propose(d, k=3, target="a").moves for r in m.runs)


@pytest.mark.slow  # fits and scores simulated designs
def test_flop_budget_and_k_limit_the_proposals():
    d = design(FIRST)
    prop = propose(d, k=6, target="a", budget=3e12, **FAST)
    runs = [r for m in prop.moves for r in m.runs]
    assert sum(r.flops for r in runs) <= 3e12
    assert runs[0] == Run("ladder_s", RUNGS["ladder_s"], 2e12)
    assert len([r for m in propose(d, k=4, **FAST).moves for r in m.runs]) == 4


@pytest.mark.slow  # over a second: outside the quick loop
def test_approach2_target_scores_by_its_bootstrap_on_simulated_runs():
    prop = propose(design(FIRST), k=2, law="approach2", n_bootstrap=50, draws=2)
    assert [m.kind for m in prop.moves] == ["bracket", "bracket"]
    assert all(0 < m.width <= FAIL_WIDTH for m in prop.moves)
    text = prop.method.describe()
    assert "approach 2 (IsoFLOP vertices)" in text and "resampled within each budget, 50 resamples" in text


@pytest.mark.slow  # about a second: outside the quick loop
def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(NextRunsError, match="loss@C"):
        propose(design(FIRST), target="loss@x")
    with pytest.raises(NextRunsError, match="approach 2 predicts no loss"):
        propose(design(FIRST), target="loss@1e14", law="approach2")
    r = subprocess.run([sys.executable, "-c", "from harness.cli.plan import main; main()", "--next",
                        str(tmp_path / "nothing")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no such directory" in r.stderr
    assert "Traceback" not in r.stderr


def test_next_arguments_are_typed_and_bad_ones_are_one_line():
    args = NextArgs.parse(["results/x", "--k", "3", "--budget=2e13", "--target", "loss@1e14", "--seed=2", "--json"])
    assert args == NextArgs("results/x", k=3, budget=2e13, target="loss@1e14", law=None, seed=2, json=True)
    assert NextArgs.parse(["results/x"]) == NextArgs("results/x", k=4, budget=None, target="a", seed=0, json=False)
    for argv, message in [(["results/x", "--k"], "--k needs a value; usage: harness-plan --next"),
                          (["results/x", "--bogus"], "unknown option --bogus; usage:"),
                          ([], "--next takes one sweep folder; usage:"),
                          (["a", "b"], "--next takes one sweep folder; usage:"),
                          (["results/x", "--k", "x"], "--k, --budget, --cpu-hours and --seed take numbers (invalid literal"),
                          (["results/x", "--budget", "-1"], "--budget -1: must be a positive number of FLOPs")]:
        with pytest.raises(NextRunsError) as e:
            NextArgs.parse(argv)
        assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_commands_reuse_the_sweeps_overrides(tmp_path):
    # a sweep folder as harness-train -m leaves it: records, and Hydra's multirun.yaml
    sweep = tmp_path / "first"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "hydra" / "2026-01-01_00-00-00").mkdir(parents=True)
    (sweep / "hydra" / "2026-01-01_00-00-00" / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - sweep=synthetic_adaptive_cpu\n    - out_dir=elsewhere\n"
        "    - sweep_name=first\n    - seed=3\n")
    d = design(FIRST)
    d.sweep_dir = sweep
    # the two bracketing moves --next proposes on this design (test_proposals_bracket_an_unbracketed_minimum)
    moves = [Move((Run("ladder_s", RUNGS["ladder_s"], c),), "bracket", "brackets", width=0.3, shrink=0.1)
             for c in (2e12, 4e12)]
    method = WidthMethod(law="chinchilla", target="a", n_bootstrap=200, draws=4, seed=0,
                         noise=Noise(0.004, "documented; this sweep has no replicate seeds", misfit=0.0065))
    prop = Proposal(target="a", law="chinchilla", width_now=0.5, interval_now=[0.3, 0.8], moves=moves, notes=[],
                    method=method)
    cmds = commands(d, prop.moves)
    assert cmds == [f"harness-train -m sweep=synthetic_adaptive_cpu seed=3 out_dir={tmp_path.as_posix()} "
                    f"sweep_name=first train.flops=4e+12 model=ladder_s",
                    f"harness-train -m sweep=synthetic_adaptive_cpu seed=3 out_dir={tmp_path.as_posix()} "
                    f"sweep_name=first train.flops=2e+12 model=ladder_s"]
    js = to_json(d, prop)
    assert [r["model"] for r in js["runs"]] == ["ladder_s", "ladder_s"]
    assert js["width"]["seed_noise_relative"] == 0.004 and js["width"]["noise_relative"] == 0.0065
    assert js["width"]["bootstrap_seeds"] == [0, 1, 2, 3]
    json.dumps(js)
    # the printed proposal says which law and interval its widths are, and the noise they assume
    text = render(d, prop)
    assert "target a under approach 3 (L = E + A/N^alpha + B/D^beta)" in text
    assert "percentile bootstrap over runs, 200 resamples, bootstrap seeds 0-3" in text
    assert ("times exp(N(0, s)) with s = 0.65%: the surrogate's residual scale on the runs so far, over the seed "
            "noise 0.40% (documented; this sweep has no replicate seeds)") in text


def _interval_width(grid: list[tuple[str, float]], seed: int) -> float:
    d = design(grid, seed)
    f = ChinchillaFit(n_bootstrap=200, seed=0).fit(d.points)
    lo, hi = f.ci_["a"]
    return hi - lo


@pytest.mark.slow
def test_proposed_runs_shrink_the_interval_of_a_more_than_runs_added_by_hand():
    """Same first design, 3 more runs each way, losses from the known law + seeded noise, the
    fitter's own approach-3 bootstrap interval of a; averaged over 3 noise draws."""
    k = 3
    by_hand = {
        # one more shape at each budget: the next rung above the largest, where 2 of 3 minima sit
        "shape": FIRST + [("ladder_s", c) for c in (1e12, 2e12, 4e12)],
        # one more budget, twice the largest, on the same three shapes
        "budget": FIRST + [(m, 8e12) for m in ("ladder_3xs", "ladder_2xs", "ladder_xs")],
    }
    widths = {"first": [], "proposed": [], "shape": [], "budget": []}
    for seed in range(3):
        first = design(FIRST, seed)
        prop = propose(first, k=k, target="a", seed=seed, n_bootstrap=100, draws=1)  # the planner, cheaper
        added = [(r.model, r.flops) for m in prop.moves for r in m.runs]
        assert len(added) == k
        # the proposal sees only the first design's noisy losses; the new runs get their own draw
        widths["first"].append(_interval_width(FIRST, seed))
        widths["proposed"].append(_interval_width(FIRST + added, seed))
        for name, grid in by_hand.items():
            widths[name].append(_interval_width(grid, seed))
    mean = {k_: float(np.mean(v)) for k_, v in widths.items()}
    assert mean["proposed"] < mean["first"]
    assert mean["proposed"] < mean["shape"]
    assert mean["proposed"] < mean["budget"]
