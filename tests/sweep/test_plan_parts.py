"""The planner's parts without composing a sweep: its options, its flags on hand-made runs, the
numbers its table writes, and the end-of-sweep fit settings it checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from harness.errors import SweepError
from harness.machine import peak_flops
from harness.sweep.describe import PlannedRun
from harness.sweep.expand import Job
from harness.sweep.fit_settings import FitSettings
from harness.sweep.flags import flag_runs, flag_summary
from harness.sweep.plan_options import PlanOptions
from harness.sweep.render import H100_NAME, h100_seconds
from harness.sweep.units import duration, ratio, si

ROOT = Path(__file__).resolve().parents[2]


# --- plan.k=v options --------------------------------------------------------------------------

def test_plan_options_are_typed_and_leave_the_rest_to_hydra():
    opts, rest = PlanOptions.parse(["sweep=demo", "plan.probe=FALSE", "plan.probe_steps=2", "plan.mfu=0.5",
                                    "plan.format=jsonl", "-m", "plan.tuning=results/t", "plan.gpus=3"])
    assert rest == ["sweep=demo", "-m"]
    assert opts == PlanOptions(format="jsonl", probe=False, probe_steps=2, mfu=0.5, tuning="results/t", gpus=3)
    assert opts.min_steps == 100 and opts.bracket == 1.5 and opts.pack_slowdown == 2.0  # the defaults
    assert PlanOptions.parse(["plan.min_steps=10", "plan.min_steps=20"])[0].min_steps == 20  # the last one wins


@pytest.mark.parametrize("arg, message", [
    ("plan.foo=1", "plan.foo=1: unknown planner option; choose from plan.format, plan.probe, plan.probe_steps, "
                   "plan.overhead_s, plan.mfu, plan.max_probe_s, plan.min_steps, plan.max_warmup, plan.dn_min, "
                   "plan.dn_max, plan.dn_slack, plan.bracket, plan.gpus, plan.pack_slowdown, plan.tuning"),
    ("plan.probe", "plan.probe: unknown planner option; choose from plan.format"),
    ("plan.probe_steps=x", "plan.probe_steps=x: expected a int"),
    ("plan.probe_steps=2.5", "plan.probe_steps=2.5: expected a int"),
    ("plan.mfu=high", "plan.mfu=high: expected a float"),
    ("plan.probe=yes", "plan.probe=yes: expected a bool"),
    ("plan.format=csv", "plan.format=csv: plan.format is table or jsonl"),
    ("plan.pack_slowdown=0.5", "plan.pack_slowdown=0.5: a run sharing a GPU is not faster than alone (>= 1)"),
])
def test_a_bad_plan_option_is_one_line(arg, message):
    with pytest.raises(SweepError) as e:
        PlanOptions.parse(["sweep=demo", arg])
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


# --- flags on hand-made runs -------------------------------------------------------------------

def _run(num: int, steps: int, tokens: int, warmup: int, tokens_per_param: float, batch: int = 32) -> PlannedRun:
    info = {"steps": steps, "tokens": tokens, "seq_len": 64, "batch_size": batch, "warmup_steps": warmup,
            "tokens_per_param": tokens_per_param, "params": {"total": 1000, "non_embedding": 800}}
    return PlannedRun(Job(num, [], None), info=info)


def test_each_run_is_flagged_by_the_thresholds_it_misses():
    runs = [_run(0, 1000, 2_048_000, 10, 20.0),  # nothing wasted
            _run(1, 50, 102_400, 1, 20.0),  # 50 steps; batch 16 would give 100
            _run(2, 50, 102_400, 1, 20.0, batch=1),  # too short, and no smaller batch helps
            _run(3, 1000, 2_048_000, 300, 20.0),  # warmup 30% of the run
            _run(4, 1000, 2_048_000, 10, 0.5),  # D/N below 1
            PlannedRun(Job(5, ["model.n_head=5"], None), error="invalid config")]
    assert flag_runs(runs, None, PlanOptions()) == []  # no train.flops groups: no bracket to check
    assert [r.flags for r in runs] == [[], ["steps", "batch"], ["steps"], ["warmup"], ["D/N"], []]
    assert flag_summary(runs, [], PlanOptions()) == [
        "flagged: 4 of 6 runs (<100 steps: 2, batch above the budget's: 1, warmup >25%: 1, D/N out of range: 1)"]
    looser = [_run(1, 50, 102_400, 1, 0.5)]
    flag_runs(looser, None, PlanOptions(min_steps=10, dn_min=0.1))
    assert looser[0].flags == []


# --- numbers as the table writes them ----------------------------------------------------------

def test_counts_durations_and_ratios_are_short():
    assert [si(x) for x in (950, 19104, 2.5e6, 3.41e9, -1200)] == ["950", "19.1K", "2.5M", "3.41G", "-1.2K"]
    assert [duration(s) for s in (None, 1.5, 42.4, 600, 9000)] == ["-", "1.5s", "42s", "10.0m", "2.5h"]
    assert [ratio(x) for x in (1785.2, 23.4, 0.2712)] == ["1785", "23", "0.27"]


def test_the_h100_line_uses_the_h100_sxm_datasheet_peak():
    peak = peak_flops(H100_NAME, "bf16")
    assert peak == 989.5e12  # NVIDIA's H100 SXM datasheet: 1,979 TFLOPS bf16 with sparsity, halved
    run = PlannedRun(Job(0, [], None), info={"flops": {"chinchilla": 0.35 * peak * 60},
                                             "spent_fraction": 0.5})
    done = PlannedRun(Job(1, [], None), status="completed", info=dict(run.info))
    assert h100_seconds([run, done], 0.35) == pytest.approx(30.0)  # half the run, the recorded one not at all


@pytest.mark.slow  # composes the demo sweep in a fresh interpreter
def test_planning_without_a_probe_does_not_load_torch(tmp_path):
    code = ("import io, sys; from harness.sweep.plan import plan; "
            f"plan(['sweep=demo', 'out_dir={tmp_path.as_posix()}', 'plan.probe=false', 'plan.gpus=2'], out=io.StringIO()); "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


# --- the end-of-sweep fit settings -------------------------------------------------------------

def test_fit_settings_come_from_the_sweep_node_with_the_schema_s_defaults():
    fs = FitSettings.of(OmegaConf.create({"sweep": {"fit_laws": ["chinchilla", "kaplan"], "fit_holdout": 2,
                                                    "fit_tuning": "results/t", "fit_undertuned_weight": 0.25}}))
    assert fs == FitSettings(laws=("chinchilla", "kaplan"), bootstrap=200, holdout=2, param_convention="total", flops_convention="6ND",
                             tuning="results/t", undertuned_weight=0.25)
    assert FitSettings.of(OmegaConf.create({"sweep": {}})) == FitSettings(laws=())
    assert FitSettings.of(OmegaConf.create({"seed": 0})) is None and FitSettings.of(None) is None


@pytest.mark.parametrize("sweep, message", [
    ({"fit_laws": ["chinchilla", "chinchila"]}, "sweep.fit_laws: unknown law 'chinchila'; choose from"),
    ({"fit_undertuned_weight": 0.25},
     "sweep.fit_undertuned_weight needs a tuning result to flag runs (--tuning / sweep.fit_tuning)"),
    ({"fit_undertuned_weight": 1.5, "fit_tuning": "results/t"},
     "sweep.fit_undertuned_weight 1.5: the weight of a flagged run must be in (0, 1)"),
])
def test_unusable_fit_settings_are_one_line(sweep, message):
    with pytest.raises(SweepError) as e:
        FitSettings.from_sweep(OmegaConf.create(sweep))
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
