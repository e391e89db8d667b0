"""Cooldown branches (harness/run/branches.py): a branch's record is the standalone run's record."""

from __future__ import annotations

import math

import pytest

from harness import records
from harness.config import ScheduleConfig, validate
from harness.errors import ConfigError
from harness.flops import flops_per_token
from harness.run.branches import branch_config, flops_saved, plan_forks
from harness.run.state import Log
from harness.run.step import TrainStep
from harness.run.train import run
from harness.schedule import lr_factor
from tests.helpers import TINY, make_config

# 200 steps of 256 tokens; branches of 50 and 100 steps fork at steps 40 and 80 (20% cooldowns).
WSD = [*TINY, "train.tokens=51200", "schedule=wsd", "schedule.decay_shape=1-sqrt", "schedule.decay_fraction=0.2",
       "schedule.final_lr_fraction=0.0", "schedule.warmup_tokens=2560", "train.eval_interval=10"]
BRANCHES = "schedule.branches=[12800,25600]"


def _shape(cfg):
    return cfg.model.shape(cfg.data.vocab_size, cfg.data.seq_len)


def _same_record(a: records.RunRecord, b: records.RunRecord) -> None:
    """Everything the run computed, bit for bit (times and where it ran aside)."""
    assert a.run_id == b.run_id
    assert a.status == b.status == "completed"
    assert (a.steps, a.tokens, a.flops, a.params) == (b.steps, b.tokens, b.flops, b.params)
    assert a.val_loss == b.val_loss
    assert [(p.step, p.train_loss, p.val_loss, p.lr) for p in a.curve] == \
        [(p.step, p.train_loss, p.val_loss, p.lr) for p in b.curve]
    # A trunk's config also names its branches (outside the run id); nothing else may differ.
    # (checkpoint_interval_seconds: how often, not what; outside the run id too.)
    def cfg(r):
        return {**r.config, "out_dir": None, "schedule": {**r.config["schedule"], "branches": None},
                "train": {**r.config["train"], "checkpoint_interval_seconds": None}}

    assert cfg(a) == cfg(b)
    assert a.config["schedule"]["branches"] == [] or a.extra["branches"]


def test_one_minus_sqrt_cooldown_by_hand():
    s = ScheduleConfig(name="wsd", decay_fraction=0.5, final_lr_fraction=0.0, decay_shape="1-sqrt")
    # 10 steps, no warmup: flat for 5 steps, then 1 - sqrt(k/5) for the k-th cooldown step.
    assert [lr_factor(i, 10, 0, s) for i in range(5)] == [1.0] * 5
    assert lr_factor(5, 10, 0, s) == pytest.approx(1 - math.sqrt(0.2))  # 0.5528
    assert lr_factor(7, 10, 0, s) == pytest.approx(1 - math.sqrt(0.6))  # 0.2254
    assert lr_factor(9, 10, 0, s) == 0.0
    lin = ScheduleConfig(name="wsd", decay_fraction=0.5, final_lr_fraction=0.0)
    assert lr_factor(7, 10, 0, lin) == pytest.approx(0.4)


def test_branches_and_decay_shape_in_the_run_id():
    base = make_config(WSD)
    assert records.run_id_of(make_config([*WSD, BRANCHES])) == records.run_id_of(base)
    assert records.run_id_of(make_config([*WSD, "schedule.decay_shape=linear"])) != records.run_id_of(base)
    # linear is the default and leaves ids made before decay_shape existed as they were
    old = records.run_id_of(make_config([*TINY, "schedule=wsd"]))
    d = records.portable_config(__import__("dataclasses").asdict(make_config([*TINY, "schedule=wsd"])))
    d["schedule"].pop("decay_shape")
    d["schedule"].pop("branches")
    assert records.run_id_of(d) == old


def test_plan_forks_and_the_flops_saved():
    cfg = make_config([*WSD, BRANCHES])
    shape = _shape(cfg)
    forks = plan_forks(cfg, shape)
    assert [(f.steps, f.fork_step, f.warmup_steps) for f in forks] == [(50, 40, 10), (100, 80, 10)]
    assert forks[0].run_id == records.run_id_of(make_config([*WSD, "train.tokens=12800"]))
    assert forks[0].cfg.train.tokens == 12800 and forks[0].cfg.schedule.branches == []
    per_token = flops_per_token(shape)["6ND"]
    spent, alone = flops_saved(cfg, shape)
    assert alone == pytest.approx(per_token * 256 * (200 + 50 + 100))
    assert spent == pytest.approx(per_token * 256 * (200 + 10 + 20))


@pytest.mark.parametrize("extra, key", [
    (["schedule=cosine", BRANCHES], "schedule.branches"),  # no constant stretch to fork from
    (["schedule.warmup_tokens=null", BRANCHES], "schedule.warmup_tokens"),
    (["schedule.branches=[51200]"], "schedule.branches"),
    (["schedule.branches=[-5]"], "schedule.branches"),
])
def test_invalid_branches_name_the_key(extra, key):
    with pytest.raises(ConfigError, match=f"^{key}:"):
        validate(make_config([*WSD, *extra]))


def test_a_branch_inside_the_warmup_trains_alone():
    cfg = make_config([*WSD, "schedule.branches=[1280,12800]"])  # 5 steps, inside the 10-step warmup
    validate(cfg)
    short, ok = plan_forks(cfg, _shape(cfg))
    assert short.alone and short.alone.startswith("5 steps, not longer than the warmup of 10 steps")
    assert ok.alone is None and ok.fork_step == 40
    per_token = flops_per_token(_shape(cfg))["6ND"]
    assert flops_saved(cfg, _shape(cfg))[0] == pytest.approx(per_token * 256 * (200 + 5 + 10))


@pytest.mark.slow
def test_a_branch_that_cannot_fork_is_the_standalone_run_too(tmp_path):
    alone = run(make_config([*WSD, "train.tokens=1280"], tmp_path / "alone"), Log(True))
    trunk = run(make_config([*WSD, "schedule.branches=[1280]"], tmp_path / "b"), Log(True))
    assert trunk.extra["branches"][0]["alone"]
    got = records.find_record(tmp_path / "b", "default", alone.run_id)
    _same_record(got, alone)
    assert "branch" not in got.extra


def _reference(tmp_path):
    """The three runs trained alone, one by one."""
    out = {}
    for tokens in (12800, 25600, 51200):
        rec = run(make_config([*WSD, f"train.tokens={tokens}"], tmp_path / "alone"), Log(True))
        out[rec.run_id] = rec
    return out


@pytest.mark.slow
def test_branch_records_are_the_standalone_records(tmp_path):
    alone = _reference(tmp_path)
    cfg = make_config([*WSD, BRANCHES], tmp_path / "branched")
    trunk = run(cfg, Log(True))
    got = {r.run_id: r for r in records.read_sweep(tmp_path / "branched" / "default")}
    assert set(got) == set(alone)
    for rid, rec in got.items():
        _same_record(rec, alone[rid])
    forks = plan_forks(cfg, _shape(cfg))
    assert trunk.extra["branches"] == [{"budget": f.budget, "run_id": f.run_id, "fork_step": f.fork_step}
                                       for f in forks]
    per_token = flops_per_token(_shape(cfg))
    for f in forks:
        b = got[f.run_id].extra["branch"]
        assert b["trunk"] == trunk.run_id and b["fork_step"] == f.fork_step
        assert b["flops_spent"]["6ND"] == pytest.approx(per_token["6ND"] * (f.steps - f.fork_step) * 256)
    assert not list((tmp_path / "branched" / "default" / "checkpoints").glob("*.pt"))
    # A sweep that lists a branch as a run of its own finds it done.
    assert run(branch_config(cfg, 12800), Log(True)).ended_at == got[forks[0].run_id].ended_at


@pytest.mark.slow
def test_a_killed_trunk_resumes_and_finished_branches_are_kept(tmp_path, monkeypatch):
    alone = _reference(tmp_path)
    cfg = make_config([*WSD, BRANCHES, "train.checkpoint_interval_seconds=0"], tmp_path / "killed")
    calls = {"n": 0}
    real = TrainStep.__call__

    def dying(self, batch):
        calls["n"] += 1
        if calls["n"] == 61:  # past the first fork (step 40), before the second (step 80)
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(TrainStep, "__call__", dying)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, Log(True))
    sweep = tmp_path / "killed" / "default"
    assert not (sweep / "runs").exists() or not list((sweep / "runs").glob("*.json"))
    assert len(list((sweep / "checkpoints").glob("*.pt"))) == 2  # the trunk's and the first fork's
    monkeypatch.setattr(TrainStep, "__call__", real)

    run(cfg, Log(True))
    got = {r.run_id: r for r in records.read_sweep(sweep)}
    assert set(got) == set(alone)
    for rid, rec in got.items():
        _same_record(rec, alone[rid])
    before = {rid: r.ended_at for rid, r in got.items()}
    run(cfg, Log(True))  # all done: nothing is trained again
    assert {r.run_id: r.ended_at for r in records.read_sweep(sweep)} == before


@pytest.mark.slow
def test_a_branch_added_after_the_trunk_is_forked_from_a_retrained_trunk(tmp_path):
    alone = _reference(tmp_path)
    out = tmp_path / "late"
    run(make_config([*WSD, "schedule.branches=[25600]"], out), Log(True))
    run(make_config([*WSD, BRANCHES], out), Log(True))
    got = {r.run_id: r for r in records.read_sweep(out / "default")}
    assert set(got) == set(alone)
    for rid, rec in got.items():
        _same_record(rec, alone[rid])


@pytest.mark.slow  # composes a 20-run design
def test_an_isoflop_design_under_wsd_plans_one_trunk_per_shape():
    import io

    from harness.sweep.plan import plan

    def pairs(runs):
        return sorted((r.job.cfg.train.flops, r.info["model"]["name"]) for r in runs if r.info)

    cosine = plan(["sweep=chinchilla_isoflop", "plan.probe=false"], out=io.StringIO())
    text = io.StringIO()
    wsd = plan(["sweep=chinchilla_isoflop", "schedule=wsd", "plan.probe=false"], out=text)
    # The same (budget, shape) runs, now as trunks with branches: one trunk per shape.
    assert pairs(wsd) == pairs(cosine)
    trunks = [r for r in wsd if r.info["spent_fraction"] == 1.0]
    assert len(trunks) == len({name for _, name in pairs(cosine)})
    for t in trunks:
        shape_budgets = sorted(c for c, name in pairs(cosine) if name == t.info["model"]["name"])
        assert t.job.cfg.train.flops == shape_budgets[-1]
        assert sorted(t.job.cfg.schedule.branches) == shape_budgets[:-1]
        assert [b.job.cfg.schedule.branches for b in t.branches] == [[]] * len(shape_budgets[:-1])
    spent = sum(r.info["flops"]["6ND"] * r.info["spent_fraction"] for r in wsd)
    total = sum(r.info["flops"]["6ND"] for r in wsd)
    assert f"FLOPs spent (6ND) {spent:.3g} against {total:.3g}" in text.getvalue()
    assert 0.5 < spent / total < 1.0


CONSTANT = [*TINY, "train.tokens=51200", "schedule=constant", "schedule.warmup_tokens=2560", "train.eval_interval=10"]


@pytest.mark.slow
def test_constant_schedule_branches_are_the_trunk_at_their_last_step(tmp_path):
    alone = {}
    for tokens in (12800, 25600, 51200):
        rec = run(make_config([*CONSTANT, f"train.tokens={tokens}"], tmp_path / "alone"), Log(True))
        alone[rec.run_id] = rec
    cfg = make_config([*CONSTANT, BRANCHES], tmp_path / "branched")
    assert [(f.fork_step, f.steps) for f in plan_forks(cfg, _shape(cfg))] == [(50, 50), (100, 100)]
    assert flops_saved(cfg, _shape(cfg))[0] == pytest.approx(flops_per_token(_shape(cfg))["6ND"] * 256 * 200)
    run(cfg, Log(True))
    got = {r.run_id: r for r in records.read_sweep(tmp_path / "branched" / "default")}
    assert set(got) == set(alone)
    for rid, rec in got.items():
        _same_record(rec, alone[rid])
        if "branch" in rec.extra:
            assert rec.extra["branch"]["cooldown_steps"] == 0 and rec.extra["branch"]["flops_spent"]["6ND"] == 0


def test_branches_need_a_schedule_with_a_constant_stretch():
    with pytest.raises(ConfigError, match="^schedule.branches: branches need schedule=wsd or constant"):
        validate(make_config([*CONSTANT, "schedule=cosine", BRANCHES]))


def test_one_shape_with_branches_is_not_judged_as_an_isoflop_grid():
    import io

    from harness.sweep.plan import plan

    out = io.StringIO()
    runs = plan(["model=ladder_s", "+sweep/hparams=porian", "schedule=wsd", "train.flops=1e13",
                 "schedule.branches=[1e12,2e12,5e12]", "plan.probe=false"], out=out)
    assert len(runs) == 4 and not any(r.flags for r in runs)
    assert "minima bracketed" not in out.getvalue() and "3 branches" in out.getvalue()
