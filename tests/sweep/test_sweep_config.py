"""Sweep configuration without training: ladder files vs their rule, the hyperparameter rule,
every preset composing, the planner, and the multi-GPU device rule."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.budget import resolve_budget
from harness.errors import SweepError
from harness.run import devices
from harness.shapes import ladder
from harness.shapes.rules import batch_rule, lr_rule
from harness.sweep.expand import expand
from harness.sweep.plan import plan
from tests.helpers import make_config

ROOT = Path(__file__).resolve().parents[2]
PRESETS = sorted(p.stem for p in (ROOT / "conf" / "sweep").glob("*.yaml") if p.stem != "none")
REQUIRED = {"demo", "kaplan_nd", "chinchilla_isoflop", "ladder", "shape", "batch_size", "data_repetition",
            "kaplan_nd_gpu", "chinchilla_isoflop_gpu", "ladder_gpu"}


def test_ladder_files_follow_the_rule():
    for r in ladder.LADDER:
        path = ROOT / "conf" / "model" / f"{r.name}.yaml"
        assert path.read_text() == ladder.ladder_yaml(r), f"{path} drifted from harness/shapes/ladder.py"
    ns = [r.non_embedding for r in ladder.LADDER]
    ratios = [b / a for a, b in zip(ns, ns[1:])]
    assert all(1.7 < q < 3.6 for q in ratios), ratios  # about 2.5x per rung
    assert ns[0] < 2e4 and ladder.by_name("ladder_l").non_embedding > 5e5  # spans the CPU range
    assert all(r.n_layer >= 2 and r.d_model % r.n_head == 0 for r in ladder.LADDER)


def test_the_hyperparameter_rule_scales_with_n_and_stays_overridable(tmp_path):
    small = make_config(["model=ladder_3xs", "+sweep/hparams=porian", "train.tokens=100000"], tmp_path)
    big = make_config(["model=ladder_l", "+sweep/hparams=porian", "train.tokens=1000000"], tmp_path)
    assert small.optim.lr > big.optim.lr and small.train.batch_size <= big.train.batch_size
    assert big.schedule.warmup_tokens == ladder.by_name("ladder_l").non_embedding  # warmup = N tokens
    assert lr_rule(1e5, 6e-3, -0.36) == 6e-3
    assert lr_rule(1e6, 6e-3, -0.36) == pytest.approx(6e-3 * 10 ** -0.36, rel=1e-2)
    assert batch_rule(1e5, 64, 2048, 0.8, 1, 1024) == 32 and batch_rule(1e3, 64, 2048, 0.8, 8, 1024) == 8
    over = make_config(["model=ladder_l", "+sweep/hparams=porian", "train.tokens=1000000", "optim.lr=1e-3",
                        "train.batch_size=7"], tmp_path)
    assert over.optim.lr == 1e-3 and over.train.batch_size == 7


@pytest.mark.slow  # composes every preset
def test_every_preset_is_documented_and_composes(tmp_path):
    assert REQUIRED <= set(PRESETS), REQUIRED - set(PRESETS)
    for name in PRESETS:
        text = (ROOT / "conf" / "sweep" / f"{name}.yaml").read_text()
        comments = [ln for ln in text.splitlines() if ln.startswith("#") and "@package" not in ln]
        assert len(comments) >= 3, f"{name}: the header must document the preset"
        # The preset composes (its jobs are listed, not composed: test_every_preset_s_jobs_compose).
        master, jobs = expand([f"sweep={name}", f"out_dir={tmp_path}"], select=lambda k, n: False)
        # The preset names its folder once, in sweep_name (there is no second name to drift).
        assert master.sweep_name == name and "name" not in master.sweep
        assert [ln for ln in text.splitlines() if "name:" in ln.split("#")[0]] == [f"sweep_name: {name}"]
        assert len(jobs) >= 4, name


@pytest.mark.slow  # Hydra composes two jobs of each of the 13 presets
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_s_jobs_compose(tmp_path, name):
    # Composing costs Hydra ~0.1 s a job: the first and last job of each grid stand for the rest
    # (the planner test and the launcher tests compose whole grids).
    _, jobs = expand([f"sweep={name}", f"out_dir={tmp_path}"], select=lambda k, n: k in (0, n - 1))
    jobs = [jobs[0], jobs[-1]]
    bad = [j for j in jobs if j.cfg is None]
    assert not bad, f"{name}: {bad[0].error}"
    for j in jobs:  # every run's budget resolves to at least one step
        resolve_budget(j.cfg, j.cfg.model.shape(j.cfg.data.vocab_size, j.cfg.data.seq_len))


@pytest.mark.slow  # over a second: outside the quick loop
def test_expansion_matches_hydra_order_and_command_line_wins(tmp_path):
    _, jobs = expand(["-m", "sweep=demo", "model=ladder_xs,ladder_s", f"out_dir={tmp_path}"])
    # the preset's train.flops (3 values) x the command line's model (2 values), preset keys first
    assert [j.overrides[:2] for j in jobs][:2] == [["train.flops=4000000000000.0", "model=ladder_xs"],
                                                    ["train.flops=4000000000000.0", "model=ladder_s"]]
    assert len(jobs) == 6


def test_bad_input_is_a_clean_error(tmp_path):
    with pytest.raises(SweepError, match="sweep"):
        expand(["sweep=nope"])
    with pytest.raises(SweepError):
        expand(["model.d_model=="])


@pytest.mark.slow  # three Python start-ups
def test_bad_input_is_one_line_from_the_console_scripts(tmp_path):
    # A misspelt key (with Hydra's suggested +) plans every run as invalid: the plan is printed and
    # the exit status stops `harness-plan ... && harness-train -m ...`.
    for args in (["sweep=nope"], ["sweep=demo", "plan.format=xml"], ["sweep=demo", "+model.widht=64"]):
        out = subprocess.run([sys.executable, "-m", "harness.cli.plan", *args], capture_output=True, text=True)
        assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.startswith("harness-plan:")
    out = subprocess.run([sys.executable, "-m", "harness.cli.train", "-m", "sweep=nope", f"out_dir={tmp_path}"],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "Traceback" not in out.stderr and "sweep/nope" in out.stderr


@pytest.mark.slow  # composes all 18 runs of the design
def test_planner_prints_the_gpu_isoflop_plan_with_totals(tmp_path, capsys):
    runs = plan(["sweep=chinchilla_isoflop_gpu", f"out_dir={tmp_path}", "plan.probe=false"])
    out = capsys.readouterr().out
    assert "total:" in out and "H100" in out and len(runs) == 18
    assert "IsoFLOP design: 4 budgets" in out and "flagged: 0 of 18 runs" in out
    assert "minima bracketed: 8 of 8" in out  # 4 budgets x 2 priors (synthetic, text)
    for r in runs:  # each run's tokens are C / (6 N_total): the IsoFLOP design
        c = r.job.cfg.train.flops
        assert r.info["flops"]["6ND"] == pytest.approx(c, rel=0.05)
    plan(["sweep=chinchilla_isoflop_gpu", f"out_dir={tmp_path}", "plan.probe=false", "plan.format=jsonl"])
    lines = capsys.readouterr().out.strip().splitlines()
    objs = [json.loads(ln) for ln in lines]
    assert len(objs) == len(runs)
    assert set(objs[0]["flops"]) == {"6ND", "6ND_nonemb", "kaplan", "chinchilla"}
    assert all(o["steps"] >= 1 and o["run_id"] for o in objs)


@pytest.mark.slow  # composes the 52 runs of the three committed synthetic studies
def test_committed_study_presets_keep_their_run_ids():
    # demo and the synthetic IsoFLOP studies reproduce committed records: the planner finds every one
    # of them (the sweep.design schema is outside the run id), in results/ as the presets leave it
    for name, n in (("demo", 12), ("synthetic_isoflop_cpu", 20), ("synthetic_isoflop_tuned_cpu", 20)):
        runs = plan([f"sweep={name}", f"out_dir={ROOT / 'results'}", "plan.probe=false", "plan.format=jsonl"],
                    out=__import__("io").StringIO())
        assert len(runs) == n and all(r.status == "completed" for r in runs), name


def test_planner_probe_gives_a_time_per_run(tmp_path, capsys):
    args = ["-m", "model=ladder_3xs,ladder_2xs", "train.tokens=20480", "train.threads=1", f"out_dir={tmp_path}",
            "plan.probe_steps=2", "plan.format=jsonl"]
    plan(args)
    objs = [json.loads(ln) for ln in capsys.readouterr().out.strip().splitlines()]
    assert len(objs) == 2 and all(o["est_seconds"] and o["est_seconds"] > 0 for o in objs)


# -- the multi-GPU device rule, with a faked GPU count --------------------------------------------

def test_round_robin_rule():
    assert [devices.preferred_gpu(k, 4) for k in range(6)] == [0, 1, 2, 3, 0, 1]
    assert devices.slot_order(1, 3, 2) == [(1, 0), (1, 1), (2, 0), (2, 1), (0, 0), (0, 1)]


def test_explicit_device_single_gpu_or_no_job_leave_the_device_alone(tmp_path):
    for device, job, n in (("cpu", 3, 4), ("cuda:1", 3, 4), ("auto", 3, 1), ("auto", None, 4), ("auto", 3, 0)):
        with devices.job_device(device, str(tmp_path), "s", job, 1, n_gpus=n) as d:
            assert d == device


def test_jobs_take_their_own_gpu_and_share_only_up_to_runs_per_gpu(tmp_path):
    with devices.job_device("auto", str(tmp_path), "s", 5, 1, n_gpus=4) as d:
        assert d == "cuda:1"
    # Two GPUs, one run each: job 0 holds GPU 0, job 2 (which prefers GPU 0) gets GPU 1.
    with devices.job_device("auto", str(tmp_path), "s", 0, 1, n_gpus=2) as a:
        with devices.job_device("auto", str(tmp_path), "s", 2, 1, n_gpus=2) as b:
            assert (a, b) == ("cuda:0", "cuda:1")
            got = []
            t = threading.Thread(target=lambda: got.append(_take(tmp_path, 4)))
            t.start()
            time.sleep(0.5)
            assert got == []  # both GPUs full: the third job waits
        t.join(5)
        assert got == ["cuda:1"]
    # runs_per_gpu=2: two jobs share GPU 0
    with devices.job_device("auto", str(tmp_path), "t", 0, 2, n_gpus=2) as a:
        with devices.job_device("auto", str(tmp_path), "t", 2, 2, n_gpus=2) as b:
            assert a == b == "cuda:0"


def _take(tmp_path, job):
    with devices.gpu_slot(Path(tmp_path) / "s" / ".gpu-slots", job, 2, 1, poll_seconds=0.05) as g:
        return f"cuda:{g}"


def test_a_killed_holder_frees_its_gpu(tmp_path):
    code = ("import sys,time; from harness.run.devices import job_device\n"
            f"cm = job_device('auto', {str(tmp_path)!r}, 's', 0, 1, n_gpus=2)\n"
            "print(cm.__enter__(), flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert p.stdout.readline().strip() == "cuda:0"
    with devices.job_device("auto", str(tmp_path), "s", 0, 1, n_gpus=2) as d:
        assert d == "cuda:1"  # GPU 0 is held
    p.kill()
    p.wait()
    with devices.job_device("auto", str(tmp_path), "s", 0, 1, n_gpus=2) as d:
        assert d == "cuda:0"
