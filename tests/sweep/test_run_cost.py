"""A proposed run's CPU-hours from the sweep's own records, and --next spending a CPU-hour budget."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from harness.cli.plan import MAX_K_BY_HOURS, NextArgs
from harness.errors import NextRunsError
from harness.sweep.candidates import MIN_TOKENS_PER_PARAM, candidates
from harness.sweep.next_runs import _extrapolates, propose
from harness.sweep.run_cost import fit_cost, record_cpu_seconds
from harness.sweep.runs_so_far import Run, rung_params
from tests.sweep.test_next_runs import FIRST, RUNGS, design


def _seconds(n: float, flops: float) -> float:
    """A machine whose CPU-seconds per FLOP fall as N^-0.5 (small models are overhead-bound)."""
    return flops * 2e-9 * (n / 1e4) ** -0.5


def test_the_cost_model_is_the_sweeps_seconds_per_flop_against_n():
    n, c = [1e4, 2e4, 4e4, 8e4], [1e12, 2e12, 1e12, 4e12]
    m = fit_cost(n, c, [_seconds(a, b) for a, b in zip(n, c)])
    assert (m.slope, m.n_runs) == (pytest.approx(-0.5), 4)
    assert m.cpu_hours(3e4, 3e12) == pytest.approx(_seconds(3e4, 3e12) / 3600)
    one = fit_cost([1e4, 1e4], [1e12, 2e12], [2000.0, 4000.0])  # one size: constant per FLOP
    assert one.slope == 0.0 and one.cpu_hours(1e4, 1e12) == pytest.approx(2000 / 3600)
    assert fit_cost([1e4], [1e12], [None]) is None


def test_a_record_counts_its_threads_and_a_branch_counts_nothing():
    rec = SimpleNamespace(wall_seconds=100.0, extra={}, config={"train": {"threads": 2}})
    assert record_cpu_seconds(rec) == 200.0
    assert record_cpu_seconds(replace_ns(rec, config={"train": {}})) == 100.0
    # a cooldown branch's wall time is its cooldown only, not the FLOPs its budget names
    assert record_cpu_seconds(replace_ns(rec, extra={"branch": {"trunk": "x"}})) is None
    assert record_cpu_seconds(replace_ns(rec, wall_seconds=0.0)) is None


def replace_ns(ns: SimpleNamespace, **kw) -> SimpleNamespace:
    return SimpleNamespace(**{**vars(ns), **kw})


def _timed(grid):
    d = design(grid)
    return replace(d, cpu_seconds=[_seconds(r.n, r.flops) for r in d.runs])


@pytest.mark.slow  # two proposals, each refitting the bootstrap
def test_next_spends_no_more_cpu_hours_than_given():
    d = _timed(FIRST)
    cost = fit_cost([r.n for r in d.runs], [r.flops for r in d.runs], d.cpu_seconds)
    cap = 1.5 * max(cost.cpu_hours(r.n, r.flops) for r in d.runs)
    prop = propose(d, k=MAX_K_BY_HOURS, cpu_hours=cap, n_bootstrap=50, draws=1)
    spent = sum(m.cpu_hours for m in prop.moves)
    assert prop.moves and spent <= cap * (1 + 1e-9)
    assert all(m.cpu_hours == pytest.approx(sum(cost.cpu_hours(r.n, r.flops) for r in m.runs)) for m in prop.moves)
    assert any("CPU-hours: estimated from 9 of the sweep's runs" in n for n in prop.notes)
    with pytest.raises(NextRunsError, match="--cpu-hours: no run of this sweep records its time"):
        propose(design(FIRST), cpu_hours=1.0, n_bootstrap=50, draws=1)


def test_cpu_hours_on_the_command_line():
    assert NextArgs.parse(["results/x", "--cpu-hours", "2"]) == NextArgs("results/x", k=MAX_K_BY_HOURS, cpu_hours=2.0)
    assert NextArgs.parse(["results/x", "--cpu-hours=2", "--k", "3"]).k == 3
    for bad in ("-1", "nan", "x"):
        with pytest.raises(NextRunsError, match="--cpu-hours"):
            NextArgs.parse(["results/x", "--cpu-hours", bad])


def test_no_shape_is_proposed_with_fewer_tokens_than_parameters():
    rungs = rung_params(128, 64)
    runs = [Run(m, n, 1e12) for m, n in rungs[:4]]  # ladder_4xs .. ladder_xs
    # the minimum inside the sizes tried (no bracketing move); every rung within reach of N_opt
    moves = candidates(runs, [2.0, 1.9, 1.95, 2.1], rungs, lambda c: 1e5, "a", None, span=20)
    shapes = [r for m in moves if m.kind == "shape" for r in m.runs]
    assert shapes and all(r.flops / (6 * r.n ** 2) >= MIN_TOKENS_PER_PARAM for r in shapes)
    # ladder_s (5.7 tokens per parameter at 1e12) is offered; ladder_m (0.94) and every rung above are not
    assert {r.model for r in shapes} == {"ladder_s"} and 1e12 / (6 * rungs[5][1] ** 2) < MIN_TOKENS_PER_PARAM


def test_a_run_outside_the_sizes_tokens_or_budgets_tried_is_an_extrapolation():
    """results/demo_next_cpu: five such runs came in 3-8.5% below the surrogate, so --next says so."""
    d = design(FIRST)  # ladder_3xs .. ladder_xs at 1e12 .. 4e12
    assert not _extrapolates(d, Run("ladder_2xs", RUNGS["ladder_2xs"], 3e12))
    assert _extrapolates(d, Run("ladder_4xs", RUNGS["ladder_4xs"], 1e12))  # smaller than any size tried
    assert _extrapolates(d, Run("ladder_xs", RUNGS["ladder_xs"], 8e12))  # above the largest budget
    assert _extrapolates(d, Run("ladder_3xs", RUNGS["ladder_3xs"], 8e12))  # and more tokens per parameter
