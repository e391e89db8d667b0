"""IsoFLOP designs (harness/shapes/design.py), the dense ladder, and harness-plan's wasted-run flags
on the shipped presets (issue 14)."""

import io
import json
import math
from pathlib import Path

import pytest
import yaml

from harness.errors import DesignError, SweepError
from harness.shapes import design, ladder
from harness.shapes.design import (
    Prior,
    bracketed,
    chinchilla_prior,
    design_points,
    parse_point,
)
from harness.sweep.expand import expand
from harness.sweep.plan import plan

ROOT = Path(__file__).resolve().parents[2]
ISOFLOP_PRESETS = ("chinchilla_isoflop", "chinchilla_isoflop_gpu")
# The old chinchilla_isoflop_gpu: 4 budgets crossed with the same 5 named shapes.
OLD_GPU_GRID = ["-m", "+sweep/hparams=porian", "data.seq_len=256", "train.flops_convention=6ND",
                "train.flops=1e15,3e15,1e16,3e16", "model=ladder_xl,ladder_2xl,ladder_3xl,ladder_4xl,ladder_5xl",
                "train.batch_size='${hp.batch:${model},${data.seq_len},2048,0.8,32,512}'"]


def _plan(args, tmp_path):
    out = io.StringIO()
    runs = plan([*args, f"out_dir={tmp_path}", "plan.probe=false"], out=out)
    return runs, out.getvalue()


# -- the dense ladder -------------------------------------------------------------------------------

def test_dense_ladder_is_about_x1_5_apart_and_never_repeats():
    ns = [r.non_embedding for r in ladder.DENSE]
    ratios = [b / a for a, b in zip(ns, ns[1:])]
    assert all(1.4 < q < 1.8 for q in ratios), ratios
    assert len({(r.n_layer, r.d_model) for r in ladder.DENSE}) == len(ladder.DENSE) == 24
    assert ladder.DENSE[0].name == "dense_00" and ladder.DENSE[-1].name == "dense_24"
    for r in ladder.DENSE:  # within 20% of the target, heads of the named ladder's sizes, >= 2 layers
        if r.name != "dense_00":  # as ladder_4xs: 2 layers of width 16 are the floor (6.6K for 4K)
            assert abs(math.log(r.non_embedding / r.target)) < math.log(1.2), r
        assert r.n_layer >= 2 and r.d_model % r.n_head == 0 and r.d_model // r.n_head in (8, 16, 64)
    # every other dense target is a named rung's target
    assert ladder.dense_by_name("dense_08").target == pytest.approx(ladder.by_name("ladder_s").target)
    assert (ladder.dense_by_name("dense_08").n_layer, ladder.dense_by_name("dense_08").d_model) == (2, 80)
    with pytest.raises(KeyError):
        ladder.dense_by_name("dense_01")  # would repeat dense_00


# -- priors -----------------------------------------------------------------------------------------

def test_chinchilla_prior_keeps_20_tokens_per_parameter():
    p = chinchilla_prior()
    for c in (1e12, 1e15, 1e20):
        assert p.tokens_per_param(c) == pytest.approx(20.0)
    assert p.n_opt(1.2e15) == pytest.approx(math.sqrt(1.2e15 / 120))
    assert chinchilla_prior(80).n_opt(1e13) == pytest.approx(math.sqrt(1e13 / 480))


@pytest.mark.parametrize("study, c, n_opt, a", [("synthetic_isoflop_cpu", 1e13, 144086.41763619293, 0.7000337598524101),
                                                ("eltec_isoflop_cpu", 4e12, 85855.67966722885, 0.7753668452946098)])
def test_prior_from_a_committed_fit(study, c, n_opt, a):
    # The presets' priors were measured with Hoffmann's global parabola, kept beside each refit fit.json.
    p = design.prior_from_fit(ROOT / "results" / study / "fit_vertex_global.json")
    assert (p.c_ref, p.n_ref, p.a, p.flops_convention, p.param_convention) == (c, pytest.approx(n_opt), pytest.approx(a),
                                                                     "6ND", "total")
    assert p.n_opt(c) == pytest.approx(n_opt)
    chin = design.prior_from_fit(ROOT / "results" / study / "fit.json", law="chinchilla")
    assert chin.a != pytest.approx(a)
    with pytest.raises(DesignError, match="sweep.design.priors.law"):
        design.prior_from_fit(ROOT / "results" / study / "fit.json", law="nope")


def test_the_presets_priors_are_the_committed_fits():
    # The presets state the numbers (an installed harness has no results/ folder); they must be the files'.
    fits = {"synthetic": design.prior_from_fit(ROOT / "results/synthetic_isoflop_cpu/fit_vertex_global.json"),
            "text": design.prior_from_fit(ROOT / "results/eltec_isoflop_cpu/fit_vertex_global.json")}
    seen = 0
    for name in ISOFLOP_PRESETS:
        cfg = yaml.safe_load((ROOT / "conf" / "sweep" / f"{name}.yaml").read_text())
        for spec in cfg["sweep"]["design"]["priors"]:
            fit = fits[spec["source"].split(":")[0]]
            assert spec["source"].split(":")[1].strip().startswith(str(Path("results") / Path(fit.source).parent.name))
            assert float(spec["c"]) == fit.c_ref
            assert float(spec["n_opt"]) == pytest.approx(fit.n_ref, rel=1e-5)
            assert float(spec["a"]) == pytest.approx(fit.a, abs=5e-4)
            seen += 1
    assert seen == 3


# -- designs ----------------------------------------------------------------------------------------

def _n_total(r):
    return design.shape_counts(r, "gpt2", 128, 64).total


def test_a_design_brackets_every_prior_by_construction():
    priors = [Prior(1e13, 144086, 0.70), chinchilla_prior()]
    for span in (1.3, 1.5, 2.0, 3.0):
        pts = design_points([3e12, 1e13, 1e14], priors, span, _n_total)
        for c in (3e12, 1e13, 1e14):
            ns = [p.n for p in pts if p.budget == c]
            assert ns == sorted(ns) and len(set(ns)) == len(ns)
            for pr in priors:
                assert bracketed(pr.n_opt(c), ns, span)  # reaches a factor span on both sides
            # and no more than one shape beyond each end
            lo, hi = min(pr.n_opt(c) for pr in priors) / span, max(pr.n_opt(c) for pr in priors) * span
            assert sum(n <= lo for n in ns) == 1 and sum(n >= hi for n in ns) == 1
    # ... as far as the ladder goes: at 1e12, N_opt / 3 = 9.6K is below its smallest shape (9.7K total)
    low = [p.n for p in design_points([1e12], priors, 3.0, _n_total)]
    assert low[0] == 9664 and not bracketed(priors[0].n_opt(1e12), low, 3.0)
    assert bracketed(priors[0].n_opt(1e12), low, 2.0)
    with pytest.raises(DesignError, match="sweep.design.span"):
        design_points([1e12], priors, 1.0, _n_total)


def test_points_are_labelled_budget_at_shape():
    assert design.point_label(3e15, "dense_14") == "3e15@dense_14"
    assert design.point_label(1.5e16, "dense_14") == "1.5e16@dense_14"
    assert parse_point("3e15@dense_14") == (3e15, "dense_14")
    with pytest.raises(DesignError, match="sweep.design.point"):
        parse_point(None)
    with pytest.raises(DesignError, match="sweep.design.point"):
        parse_point("lots@dense_14")


def test_the_planner_expands_a_design_as_hydra_instantiates_its_sweeper(tmp_path):
    from hydra.core.plugins import Plugins
    from omegaconf import OmegaConf

    master, jobs = expand(["sweep=chinchilla_isoflop", f"out_dir={tmp_path}"], select=lambda k, n: k in (0, n - 1))
    # Hydra builds the sweeper from hydra.sweeper (interpolations resolved; what instantiate_sweeper
    # does at launch): the same (budget, shape) list
    sweeper = Plugins.instance()._instantiate(OmegaConf.select(master, "hydra.sweeper"))
    points = sweeper.params["sweep.design.point"].split(",")
    assert [j.overrides[0] for j in jobs] == [f"sweep.design.point={p}" for p in points]
    assert points[0] == "1e12@dense_02" and points[-1] == "3e13@dense_11" and len(points) == 21
    for j in (jobs[0], jobs[-1]):  # each job's budget and shape are its point's
        c, name = parse_point(j.cfg.sweep.design.point)
        r = ladder.dense_by_name(name)
        assert j.cfg.train.flops == c and j.cfg.model.name == name
        assert (j.cfg.model.n_layer, j.cfg.model.d_model, j.cfg.model.n_head) == (r.n_layer, r.d_model, r.n_head)


@pytest.mark.slow  # about a second: outside the quick loop
def test_a_bad_design_is_one_line_naming_the_key(tmp_path):
    with pytest.raises(SweepError, match="sweep.design.span"):
        expand(["sweep=chinchilla_isoflop", "sweep.design.span=1", f"out_dir={tmp_path}"])
    with pytest.raises(SweepError, match="train.flops_convention"):
        expand(["sweep=chinchilla_isoflop", "train.flops_convention=kaplan", f"out_dir={tmp_path}"])
    with pytest.raises(SweepError, match="sweep.design.priors.kind"):
        expand(["sweep=chinchilla_isoflop", "sweep.design.priors=[{kind:magic}]", f"out_dir={tmp_path}"])
    with pytest.raises(SweepError, match=r"^sweep.design.priors.fit_file: cannot read nope.json"):
        expand(["sweep=chinchilla_isoflop", "sweep.design.priors=[{kind:fit,fit_file:nope.json}]",
                f"out_dir={tmp_path}"])
    assert design.EXIT_ON_ERROR  # the planner's expansion raised; a launch would exit with one line


@pytest.mark.slow  # a Python start-up and a Hydra launch
def test_a_bad_design_at_launch_is_one_line_and_exit_2(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "harness.cli.train", "-m", "sweep=chinchilla_isoflop",
                          "sweep.design.span=1", f"out_dir={tmp_path}"], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "harness-train: invalid config: sweep.design.span: must be above 1, got 1"


# -- the planner's flags ----------------------------------------------------------------------------

def test_short_runs_and_long_warmups_are_flagged(tmp_path):
    # ladder_3xs, 64-token sequences, batch 32: 40 steps (a batch of 12 would give 100) and 200 steps
    runs, out = _plan(["-m", "model=ladder_3xs", "train.tokens=81920,409600", "train.batch_size=32",
                       "schedule.warmup_tokens=40960"], tmp_path)
    assert [r.info["steps"] for r in runs] == [40, 200]
    assert runs[0].flags == ["steps", "batch", "warmup"] and runs[1].flags == []
    assert "flagged: 1 of 2 runs" in out and "minima bracketed" not in out  # no IsoFLOP grid here
    assert runs[0].info["tokens_per_param"] == pytest.approx(81920 / 19104, rel=1e-3)


@pytest.mark.slow  # composes the 20 runs of the old grid
def test_the_old_gpu_cross_product_is_flagged(tmp_path):
    runs, out = _plan(OLD_GPU_GRID, tmp_path)
    by = {(r.job.cfg.train.flops, r.job.cfg.model.name): r for r in runs}
    worst = by[(1e15, "ladder_5xl")]
    assert worst.info["steps"] == 13 and worst.info["tokens_per_param"] == pytest.approx(0.017, abs=5e-4)
    assert worst.flags == ["steps", "batch", "warmup", "D/N", "bracket"]
    # the count: 7 of 20 runs under 100 steps or below 1 token per parameter
    assert sum(bool({"steps", "D/N"} & set(r.flags)) for r in runs) == 7
    assert sum(bool(r.flags) for r in runs) == 12
    # at 1e15, Chinchilla's N_opt (2.9M) sits on the smallest shape (2.5M): not bracketed
    assert "C=1e+15: N_opt 2.89M predicted, shapes 2.51M..100M NOT BRACKETED" in out
    assert "minima bracketed: 3 of 4" in out and "flagged: 12 of 20 runs" in out


@pytest.mark.slow  # composes every run of the IsoFLOP presets (~20 each)
@pytest.mark.parametrize("name, extra, n_runs, n_checks", [
    ("chinchilla_isoflop", [], 21, 4),
    ("chinchilla_isoflop_gpu", [], 18, 8),
    ("chinchilla_isoflop_gpu", ["data=eltec"], 25, 8),  # text: vocabulary 4096 makes total N larger
    ("demo", [], 12, 3),  # the README's first command: a fixed grid, checked against its stated prior
    ("chinchilla_isoflop", ["schedule=wsd"], 21, 4),  # the same design as wsd trunks and branches
    ("chinchilla_isoflop_gpu", ["schedule=wsd"], 18, 8),
    ("chinchilla_isoflop_gpu", ["schedule=wsd", "data=eltec"], 25, 8),
    ("synthetic_isoflop_wsd_long_cpu", [], 21, 5),  # the issue-11 study that spends what branches save
])
def test_shipped_isoflop_presets_plan_no_wasted_run_and_bracket_every_minimum(tmp_path, name, extra, n_runs, n_checks):
    runs, out = _plan([f"sweep={name}", *extra], tmp_path)
    assert len(runs) == n_runs and all(r.info for r in runs)
    assert [r.flags for r in runs if r.flags] == []
    assert f"flagged: 0 of {n_runs} runs" in out
    assert f"minima bracketed: {n_checks} of {n_checks}" in out and "NOT BRACKETED" not in out
    assert min(r.info["steps"] for r in runs) >= 100
    assert all(r.info["warmup_steps"] <= 0.25 * r.info["steps"] for r in runs)
    assert all(1 <= r.info["tokens_per_param"] <= 1e4 for r in runs)
    runs_jsonl = plan([f"sweep={name}", *extra, f"out_dir={tmp_path}", "plan.probe=false", "plan.format=jsonl"],
                      out=(buf := io.StringIO()))
    objs = [json.loads(ln) for ln in buf.getvalue().splitlines()]
    assert len(objs) == len(runs_jsonl) == n_runs and all(o["flags"] == [] for o in objs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kaplan_nd", "kaplan_nd_gpu", "ladder", "ladder_gpu"])
def test_shipped_grid_presets_plan_no_wasted_run(tmp_path, name):
    runs, out = _plan([f"sweep={name}"], tmp_path)
    assert all(r.info for r in runs) and [r.flags for r in runs if r.flags] == []
    assert f"flagged: 0 of {len(runs)} runs" in out
    assert min(r.info["steps"] for r in runs) >= 100
    assert all(1 <= r.info["tokens_per_param"] <= 1e4 for r in runs)


# The presets of committed studies reproduce their records as they ran (changing them would orphan
# the records); what the planner flags in them is pinned here and said in their headers and READMEs.
@pytest.mark.slow
@pytest.mark.parametrize("name, flagged", [
    ("synthetic_isoflop_cpu", {("ladder_m", 1e12): ["steps", "batch", "warmup", "D/N"], ("ladder_m", 2e12): ["warmup"]}),
    ("synthetic_isoflop_wsd_cpu", {("ladder_m", 1e12): ["steps", "batch", "warmup", "D/N"], ("ladder_m", 2e12): ["warmup"]}),
    # the same grids on the tuned rule: the flags are about steps, batch and warmup, which it leaves alone
    ("synthetic_isoflop_tuned_cpu", {("ladder_m", 1e12): ["steps", "batch", "warmup", "D/N"], ("ladder_m", 2e12): ["warmup"]}),
    ("synthetic_isoflop_wsd_tuned_cpu", {("ladder_m", 1e12): ["steps", "batch", "warmup", "D/N"],
                                         ("ladder_m", 2e12): ["warmup"]}),
])
def test_study_presets_flag_exactly_what_their_readmes_say(tmp_path, name, flagged):
    runs, out = _plan([f"sweep={name}"], tmp_path)
    got = {(r.info["model"]["name"], r.job.cfg.train.flops): r.flags for r in runs if r.flags}
    assert got == flagged
    assert f"flagged: {len(flagged)} of 20 runs" in out and "NOT BRACKETED" not in out


@pytest.mark.slow
def test_the_text_study_preset_flags_the_budgets_its_readme_says(tmp_path, shared_data):
    runs, out = _plan(["sweep=eltec_isoflop_cpu"], tmp_path)
    # Under the allocation the study itself measured, its two smallest budgets are not bracketed.
    assert "C=5e+11: N_opt 17.1K predicted, shapes 27.1K..258K NOT BRACKETED" in out
    assert "C=1e+12: N_opt 29.3K predicted, shapes 27.1K..258K NOT BRACKETED" in out
    assert "minima bracketed: 2 of 4" in out and "flagged: 10 of 20 runs" in out
