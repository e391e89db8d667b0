"""scripts/cost_curve.py: interval width of a against the CPU-hours of each synthetic IsoFLOP design,
on a small results tree made here and on the committed results/cost_curve."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cost_curve.py"
# Committed records and fit file to start from, so the fakes below have the real schema.
RECORD = ROOT / "results" / "synthetic_isoflop_wsd_cpu" / "runs" / "4269287bda047077.json"  # a branch
FIT = ROOT / "results" / "demo" / "fit.json"


def _module():
    return load_script("cost_curve")


def _run(*args: str) -> subprocess.CompletedProcess:
    # The script imports harness; a checkout that is not pip-installed finds it through PYTHONPATH.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=env)


def _record(study: Path, run_id: str, wall: float, flops: float, threads: int | None = 1,
            device: str = "AMD EPYC (2 cores)", branch_of: str | None = None, seed: int = 0,
            lr: float | None = None) -> dict:
    rec = json.loads(RECORD.read_text())
    rec.update(run_id=run_id, wall_seconds=wall, device_name=device, sweep_name=study.name, seed=seed,
               started_at="2026-12-06T03:00:00+00:00", ended_at="2026-12-06T04:00:00+00:00")
    rec["config"] = copy.deepcopy(rec["config"])
    rec["config"]["train"].update(flops=flops, threads=threads)
    rec["config"].update(seed=seed, sweep_name=study.name)
    if lr is not None:
        rec["config"]["optim"]["lr"] = lr
    rec["extra"] = {k: v for k, v in rec["extra"].items() if k not in ("branch", "branches")}
    if branch_of:
        # A branch's record is its standalone run's: 6,435 steps, of which only the 644 of its
        # cooldown ran in its own process, and the trunk's start as its start.
        rec["extra"]["branch"] = {"trunk": branch_of, "fork_step": 5791, "cooldown_steps": 644,
                                  "flops_spent": {"6ND": 0.1 * flops}}
    (study / "runs").mkdir(parents=True, exist_ok=True)
    (study / "runs" / f"{run_id}.json").write_text(json.dumps(rec))
    return rec


def _fit(study: Path, a2: list[float], a3: list[float], n_points: int, under2: bool = False) -> None:
    fit = json.loads(FIT.read_text())
    fit["n_points"] = n_points
    for law in fit["laws"]:
        if law["law"] == "approach2":
            law["ci"]["a"] = a2
            law["warnings"] = ["UNDER-DETERMINED: only 6 of 200 bootstrap resamples could be fitted"] if under2 else []
            law["details"]["n_bootstrap"] = 6 if under2 else 180
        if law["law"] == "chinchilla":
            law["ci"]["a"] = a3
    (study / "fit.json").write_text(json.dumps(fit))


@pytest.fixture
def tree(tmp_path) -> Path:
    """results/ with two designs.

    cosine_cpu: three runs; 3,600 s and 1,800 s on one thread and 7,200 s on two: 5.5 CPU-hours.
    Budgets 1e12 and 1e13: one decade. Widths 0.2 (approach 2) and 0.4 (approach 3).

    branches_cpu: a trunk of 1,000 s, its branch of 100 s, and a run that left train.threads unset
    on a '(4 cores)' machine (torch's default: 4 threads) of 900 s: 1,000 + 100 + 3,600 CPU-seconds.
    Budgets 1e12 to 1e14: two decades. Approach 2 under-determined; approach 3's width 0.2.
    """
    results = tmp_path / "results"
    a = results / "cosine_cpu"
    _record(a, "a1", 3600, 1e12)
    _record(a, "a2", 1800, 1e12)
    _record(a, "a3", 7200, 1e13, threads=2)
    _fit(a, [0.4, 0.6], [0.3, 0.7], 3)
    b = results / "branches_cpu"
    _record(b, "trunk", 1000, 1e14)
    _record(b, "branch", 100, 1e13, branch_of="trunk")
    _record(b, "alone", 900, 1e12, threads=None, device="Intel(R) Xeon(R) Processor (4 cores)")
    _fit(b, [0.5, 0.5], [0.45, 0.65], 3, under2=True)
    # Not designs: a text study, and a runs/ folder fitted some other way.
    t = results / "text_cpu"
    rec = _record(t, "t1", 10, 1e12)
    rec["config"]["data"]["kind"] = "text"
    (t / "runs" / "t1.json").write_text(json.dumps(rec))
    _fit(t, [0.1, 0.2], [0.1, 0.2], 1)
    _record(results / "tuning_cpu", "u1", 10, 1e12)
    return results


def _designs(results: Path) -> dict:
    mod = _module()
    designs, left_out = mod.collect(results, results / "cost_curve", results.parent)
    assert sorted(left_out) == ["`text_cpu`: data text, not the synthetic language",
                                "`tuning_cpu`: no fit.json beside its runs/"]
    return {d.name: d for d in designs}


def test_cpu_hours_widths_and_span_are_the_hand_computed_ones(tree):
    d = _designs(tree)
    a, b = d["cosine_cpu"], d["branches_cpu"]
    assert a.cpu_hours == pytest.approx((3600 + 1800 + 2 * 7200) / 3600)
    assert (a.runs, a.branches, a.decades) == (3, 0, pytest.approx(1.0))
    assert a.widths["approach2"].width == pytest.approx(0.2) and a.widths["approach2"].usable
    assert a.widths["chinchilla"].width == pytest.approx(0.4) and a.widths["chinchilla"].usable
    assert b.cpu_hours == pytest.approx((1000 + 100 + 4 * 900) / 3600)
    assert (b.runs, b.branches, b.decades) == (3, 1, pytest.approx(2.0))
    assert b.threads == [1, 4]
    # An under-determined interval is shown but kept out of the trend, and the notes say why.
    assert b.widths["approach2"].width == 0 and not b.widths["approach2"].usable
    assert b.notes == ["approach 2 under-determined (6 resamples fitted)"]
    assert b.widths["chinchilla"].width == pytest.approx(0.2) and b.widths["chinchilla"].usable


def test_a_branch_is_not_double_counted(tree):
    # The branch's steps and its started_at..ended_at span the trunk's steps; its wall_seconds,
    # which is what is summed, does not. The trunk and the branch cost 1,000 + 100 s, not more.
    study = tree / "branches_cpu"
    (study / "runs" / "alone.json").unlink()
    _fit(study, [0.5, 0.5], [0.45, 0.65], 2, under2=True)
    b = _designs(tree)["branches_cpu"]
    assert b.cpu_hours * 3600 == pytest.approx(1000 + 100)
    assert b.notes == ["approach 2 under-determined (6 resamples fitted)"]

    # A branch whose trunk is not in the folder: its shared steps are nowhere, and the notes say so.
    (study / "runs" / "trunk.json").unlink()
    _fit(study, [0.5, 0.5], [0.45, 0.65], 1, under2=True)
    b = _designs(tree)["branches_cpu"]
    assert b.cpu_hours * 3600 == pytest.approx(100)
    assert b.notes[0].startswith("1 branch without its trunk in runs/")


def test_the_trend_is_least_squares_in_log_log():
    mod = _module()

    def design(name, hours, width):
        w = mod.Width(a=0.5, width=width, usable=True)
        return mod.Design(name=name, machines=["m"], threads=[1], runs=1, branches=0, budgets=[1e12],
                          run_seconds=hours * 3600, cpu_seconds=hours * 3600,
                          widths={"approach2": w, "chinchilla": w})

    # Exactly width = 0.5 * hours^-0.5: k = 0.5, and 0.10 at (0.5 / 0.1)^2 = 25 hours.
    designs = [design(f"d{h}", h, 0.5 * h ** -0.5) for h in (1, 4, 9)]
    t = mod.trend(designs, "approach2")
    assert (t.n, t.k, t.c) == (3, pytest.approx(0.5), pytest.approx(0.5))
    assert t.goal_hours == pytest.approx(25) and t.scatter == pytest.approx(1)
    # From the narrowest (9 h, width 1/6) at k = 0.5: 9 * (1/6 / 0.1)^2 = 25 hours as well.
    assert t.narrowest.name == "d9" and t.noise_hours == pytest.approx(25)
    # Widths that do not fall with cost give no extrapolation along the trend.
    flat = [design(f"e{h}", h, 0.3 * h ** 0.1) for h in (1, 2, 4)]
    t = mod.trend(flat, "approach2")
    assert t.k == pytest.approx(-0.1) and t.goal_hours is None
    assert math.isclose(mod.trend(flat[:2], "approach2").noise_hours, 1 * (0.3 / 0.1) ** 2)


@pytest.mark.slow  # runs the script in subprocesses
def test_check_detects_a_stale_readme_and_csv(tree):
    out = _run("--results", str(tree))
    assert out.returncode == 0, out.stderr
    page = tree / "cost_curve" / "README.md"
    assert (tree / "cost_curve" / "cost.csv").is_file() and (tree / "cost_curve" / "width_vs_cpu_hours.png").is_file()
    text = page.read_text()
    assert "| [`cosine_cpu`](../cosine_cpu) |" in text and "| 5.50 | 0.200 | 0.400 |" in text
    assert "(0.000)" in text and str(tree) not in text  # a page names no absolute path
    assert _run("--check", "--results", str(tree)).returncode == 0

    # Prose outside the markers is the user's: editing it leaves the page current.
    page.write_text(text.replace("## Reading the trend", "## Reading the trend (edited)"))
    assert _run("--check", "--results", str(tree)).returncode == 0

    # A refitted study: both the csv and the table are stale, one line each, and nothing is written.
    _fit(tree / "cosine_cpu", [0.4, 0.5], [0.3, 0.7], 3)
    before = page.read_text()
    out = _run("--check", "--results", str(tree))
    assert out.returncode == 1 and out.stderr == ""
    assert sorted(line.split(":")[0] for line in out.stdout.splitlines()) == [
        "results/cost_curve/README.md", "results/cost_curve/cost.csv"]
    assert page.read_text() == before
    assert _run("--results", str(tree)).returncode == 0
    assert "| 5.50 | 0.100 | 0.400 |" in page.read_text() and "(edited)" in page.read_text()
    assert _run("--check", "--results", str(tree)).returncode == 0


@pytest.mark.parametrize("bad, name", [
    ("cosine_cpu/fit.json", "results/cosine_cpu/fit.json: not valid JSON"),
    ("cosine_cpu/runs/a2.json", "results/cosine_cpu/runs/a2.json: not valid JSON"),
])
def test_a_corrupt_fit_file_or_record_is_one_line_naming_it(tree, bad, name):
    (tree / bad).write_text('{"laws": [')
    for args in (["--check"], []):
        out = _run(*args, "--results", str(tree))
        assert out.returncode == 2 and out.stdout == ""
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert lines[0].startswith(f"cost_curve: error: {name}"), lines[0]


@pytest.mark.slow  # runs the script in subprocesses
def test_a_listed_study_that_lost_its_fit_file_is_an_error(tree):
    assert _run("--results", str(tree)).returncode == 0
    (tree / "cosine_cpu" / "fit.json").unlink()
    out = _run("--check", "--results", str(tree))
    assert out.returncode == 2
    assert out.stderr.strip() == ("cost_curve: error: results/cosine_cpu/fit.json: missing "
                                  "(its study is in results/cost_curve/cost.csv)")


@pytest.mark.slow  # over half a second: kept out of the fast loop
def test_the_committed_cost_curve_is_current():
    # Fails when a study is refitted or its runs change and the curve is not regenerated.
    out = _run("--check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout == "" and out.stderr == ""


# ---------------------------------------------------------------- every study: cost and seeds


def _studies(results: Path) -> dict:
    mod = _module()
    return {s.name: s for s in mod.collect_studies(results, results / "cost_curve", results.parent)}


def test_every_study_with_records_gets_its_cost_and_one_seed(tree):
    # Not only the designs of the trend: the text study and the tuning folder without a fit too.
    s = _studies(tree)
    assert sorted(s) == ["branches_cpu", "cosine_cpu", "text_cpu", "tuning_cpu"]
    assert s["cosine_cpu"].cpu_hours == pytest.approx((3600 + 1800 + 2 * 7200) / 3600)
    assert s["branches_cpu"].cpu_hours == pytest.approx((1000 + 100 + 4 * 900) / 3600)
    assert (s["branches_cpu"].records, s["branches_cpu"].runs, s["branches_cpu"].threads) == (3, 3, [1, 4])
    for study in s.values():
        assert (study.seeds, study.replicated) == ("one seed (0) per point", 0)


def test_a_base_seed_with_replicates_at_some_points(tmp_path):
    results = tmp_path / "results"
    study = results / "seeds_cpu"
    for i, c in enumerate([1e12, 2e12, 4e12, 8e12]):
        _record(study, f"s0_{i}", 100, c)
    # Seeds 1 and 2 repeat two of the four points: the replicates.
    for seed in (1, 2):
        for i, c in enumerate([2e12, 4e12]):
            _record(study, f"s{seed}_{i}", 100, c, seed=seed)
    # Seed 3 at a budget seed 0 ran but with another learning rate: a point of its own, not a replicate.
    _record(study, "s3_0", 100, 1e12, seed=3, lr=0.5)
    s = _studies(results)["seeds_cpu"]
    assert s.seeds == "seed 0: 4 runs; seeds 1–2: 2 runs each; seed 3: 1 run; 2 of 5 points run with 2 or more seeds"
    assert (s.replicated, s.runs) == (2, 9)

    # A range holds consecutive seeds with as many runs each: 1 no longer goes with 2, 2 now goes with 3.
    (study / "runs" / "s2_1.json").unlink()
    s = _studies(results)["seeds_cpu"]
    assert s.seeds == "seed 0: 4 runs; seed 1: 2 runs; seeds 2–3: 1 run each; 2 of 5 points run with 2 or more seeds"

    # Two seeds that never meet at a point: no replicates, and the text says so.
    for p in (study / "runs").glob("s[12]_*.json"):
        p.unlink()
    s = _studies(results)["seeds_cpu"]
    assert (s.seeds, s.replicated) == ("seed 0: 4 runs; seed 3: 1 run; no point run with more than one seed", 0)


def test_a_study_spans_its_subfolders_and_counts_a_copied_record_once(tmp_path):
    results = tmp_path / "results"
    rounds = results / "rounds_cpu"
    # Two rounds that both hold a copy of one run (as synthetic_adaptive_cpu's rounds hold
    # demo_porian_cpu's), plus one run each: three runs paid for, four records.
    for r, extra in (("first", 1e12), ("second", 4e12)):
        _record(rounds / r, "shared", 3600, 2e12)
        _record(rounds / r, f"own_{r}", 1800, extra)
    # A subfolder with a README.md of its own is a page, and so a study, of its own.
    page = rounds / "page_cpu"
    _record(page, "p1", 360, 1e12)
    (page / "README.md").write_text("# page\n")
    # A GPU run has no CPU-hours: the study keeps its row and its seeds, without a cost.
    _record(results / "gpu", "g1", 10, 1e12, threads=None, device="NVIDIA H100 80GB HBM3")
    s = _studies(results)
    assert sorted(s) == ["gpu", "rounds_cpu", "rounds_cpu/page_cpu"]
    assert (s["rounds_cpu"].records, s["rounds_cpu"].runs) == (4, 3)
    assert s["rounds_cpu"].cpu_hours == pytest.approx(2.0)
    assert s["rounds_cpu/page_cpu"].cpu_hours == pytest.approx(0.1)
    assert s["gpu"].cpu_hours is None and s["gpu"].seeds == "one seed (0) per point"
    text = _module().studies_csv_text(list(s.values()))
    assert text.splitlines()[0] == "study,machine,threads,records,runs,cpu_hours,seeds,replicated_points"
    assert "gpu,NVIDIA H100 80GB HBM3,,1,1,,one seed (0) per point,0" in text.splitlines()


@pytest.mark.slow  # runs the script in subprocesses
def test_check_covers_studies_csv_and_results_tables_quotes_it(tree):
    assert _run("--results", str(tree)).returncode == 0
    rows = (tree / "cost_curve" / "studies.csv").read_text().splitlines()
    assert rows[2] == "cosine_cpu,AMD EPYC (2 cores),1;2,3,3,5.5000,one seed (0) per point,0"
    # A run added to a study outside the trend changes studies.csv alone.
    _record(tree / "tuning_cpu", "u2", 10, 1e12, seed=1)
    out = _run("--check", "--results", str(tree))
    assert out.returncode == 1
    assert [line.split(":")[0] for line in out.stdout.splitlines()] == ["results/cost_curve/studies.csv"]
    assert _run("--results", str(tree)).returncode == 0

    # The page of a study quotes its row, as scripts/results_tables.py reads the file cost_curve wrote.
    (tree / "cosine_cpu" / "README.md").write_text("# cosine\n")
    tables = ROOT / "scripts" / "results_tables.py"
    out = subprocess.run([sys.executable, str(tables), "--results", str(tree)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert ("Cost: 5.50 CPU-hours summed over 3 runs' records (upper bound where runs shared cores; "
            "see [cost_curve](../cost_curve/README.md)). Seeds: one seed (0) per point.") \
        in (tree / "cosine_cpu" / "README.md").read_text()
