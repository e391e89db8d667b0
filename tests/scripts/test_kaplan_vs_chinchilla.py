"""scripts/kaplan_vs_chinchilla.py --decades: the factor study's switches over two decades, pair by
pair, as committed in results/kaplan_vs_chinchilla_cpu/decades.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "results" / "kaplan_vs_chinchilla_cpu"


@pytest.mark.slow  # every trunk's curves read under both counts
def test_kaplan_s_count_reads_every_point_that_6nd_reads():
    # An accounting switch compares the same trajectories at the same budgets only if Kaplan's count,
    # whose step for a budget comes later, still finds stable-phase evaluations around it.
    mod = load_script("kaplan_vs_chinchilla")
    budgets = [3e11, 1e12, 3e12, 1e13, 3e13]
    sweeps = mod.trunk_sets(STUDY, ROOT / "results" / "synthetic_isoflop_decades_cpu")
    keys = {}
    for r in mod.READINGS:
        if r.stable:
            ((_, k),) = mod._read(r, sweeps[r.sweep], budgets, (1.0,))
            keys[(r.sweep, r.kaplan)] = set(k)
    for sweep in sweeps:
        assert keys[(sweep, False)] <= keys[(sweep, True)], sweep
        assert {k[2] for k in keys[(sweep, True)]} == set(range(5))  # every budget


@pytest.mark.slow  # every reading read off its curves and fitted (approach 2 only: approach 3 is the slow law)
def test_the_committed_switches_are_what_the_script_measures():
    mod = load_script("kaplan_vs_chinchilla")
    committed = json.loads((STUDY / "decades.json").read_text())
    res = mod.decades(STUDY, ROOT / "results" / "synthetic_isoflop_decades_cpu", bootstrap=20, laws=("approach2",))
    assert res["budgets"] == committed["budgets"] == [3e11, 1e12, 3e12, 1e13, 3e13]
    # Three trunk sets (per-size rates; one rate; one rate with Kaplan's fixed warmup), three readings each.
    assert [r["key"] for r in res["readings"]] == [r["key"] for r in committed["readings"]] and len(res["readings"]) == 9
    assert [s["switch"] for s in res["switches"]] == [s["switch"] for s in committed["switches"]]
    assert len(res["switches"]) == 9
    stable = {r.key for r in mod.READINGS if r.stable}
    assert len(stable) == 6  # the constant-rate readings, under 6ND and under Kaplan's count
    for got, want in zip(res["readings"], committed["readings"]):
        assert "error" not in got, got
        assert got["points"] == want["points"]
        assert got["approach2"]["a"] == pytest.approx(want["approach2"]["a"], abs=1e-9)
        # Each stable-phase reading again, smoothed over the evaluations within x1.5 of each budget.
        assert ("approach2_smoothed" in got) == (got["key"] in stable)
        if "approach2_smoothed" in got:
            assert got["approach2_smoothed"]["a"] == pytest.approx(want["approach2_smoothed"]["a"], abs=1e-9)
    for got, want in zip(res["switches"], committed["switches"]):
        # The point estimates do not depend on the resamples; the committed intervals used 200.
        assert got["approach2"]["pairs"] == want["approach2"]["pairs"]
        assert got["approach2"]["diff"] == pytest.approx(want["approach2"]["diff"], abs=1e-9)
        lo, hi = want["approach2"]["ci"]
        assert lo <= want["approach2"]["diff"] <= hi
        # Both ways where a side reads the stable phase; an annealed-only switch has nothing to smooth.
        assert ("approach2_smoothed" in got) == bool({got["before"], got["after"]} & stable)
        if "approach2_smoothed" in got:
            assert got["approach2_smoothed"]["diff"] == pytest.approx(want["approach2_smoothed"]["diff"], abs=1e-9)
    assert res["smooth_window"] == committed["smooth_window"] == 1.5
    switch = {s["switch"]: s for s in committed["switches"]}
    tuned_end = switch["the schedule's end, per-size lr"]
    lr = switch["per-size lr (one -> the tuned rule), constant rate"]
    acc = switch["accounting (Kaplan's count -> 6ND of total N)"]
    warmup = switch["warmup (Kaplan's fixed 1M tokens -> about N), one lr, constant rate"]
    together = switch["accounting, warmup and per-size lr together (Kaplan's setup -> Porian's, constant rate)"]
    # The committed findings, both ways of reading the stable phase: the schedule's end on the tuned
    # rates lowers a; accounting under one rate lowers it by less than Porian et al.'s move; the fixed
    # warmup moves it by less than theirs either way; the three switches together raise it, theirs far
    # outside. The per-size rate under a constant rate is not resolved at this fraction (raw).
    for way in ("approach2", "approach2_smoothed"):
        assert tuned_end[way]["ci"][1] < 0
        assert acc[way]["ci"][1] < 0 and all(v < acc[way]["ci"][0] for v in acc["porian"].values())
        assert warmup[way]["ci"][0] < 0 < warmup[way]["ci"][1]
        assert all(v < warmup[way]["ci"][0] for v in warmup["porian"].values())
        assert together[way]["ci"][0] > 0 and all(v < together[way]["ci"][0] for v in together["porian"].values())
    assert lr["approach2"]["ci"][0] < 0 < lr["approach2"]["ci"][1]
    assert mod.decades_markdown(committed) == (STUDY / "decades.md").read_text()


def test_the_committed_reading_at_0_85_is_its_own_table():
    # decades_stable085.*: the same switches with the stable phase read at 0.85 of each budget
    # (--stable-fraction 0.85 --out decades_stable085), the sensitivity the study's README quotes.
    mod = load_script("kaplan_vs_chinchilla")
    other = json.loads((STUDY / "decades_stable085.json").read_text())
    assert other["stable_fraction"] == 0.85 and json.loads((STUDY / "decades.json").read_text())["stable_fraction"] == 0.75
    assert mod.decades_markdown(other) == (STUDY / "decades_stable085.md").read_text()
