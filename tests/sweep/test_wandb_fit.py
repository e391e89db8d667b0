"""The end-of-sweep fit in W&B, read back from what an offline run wrote: a `fit` run in the
sweep's group with the parameters' table, the figures and fit.json as an artifact; and a W&B
that fails costs the sweep nothing."""

import base64
import hashlib
import json

import pytest
from omegaconf import OmegaConf

from harness.fit.api import FitReport, fit_points, write_outputs
from harness.fit.results import Allocation, LawResult
from harness.sweep.callback import SweepCallback
from harness.sweep.fit_settings import FitSettings
from harness.sweep.wandb_fit import (
    COLUMNS,
    WandbTarget,
    artifact_name,
    figures_on_disk,
    figures_written,
    log_fit,
    parameter_rows,
)
from tests.fit.law_examples import isoflop_points
from tests.sweep.wandb_files import offline_runs


def offline_wandb(monkeypatch, tmp_path):
    """W&B offline, every folder it writes (runs, artifact staging, cache, settings) under tmp_path."""
    for var, sub in (("WANDB_DIR", "wandb_dir"), ("WANDB_DATA_DIR", "wandb_data"), ("WANDB_CACHE_DIR", "wandb_cache"),
                     ("WANDB_CONFIG_DIR", "wandb_config"), ("WANDB_ARTIFACT_DIR", "wandb_artifacts")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture(scope="module")
def report():
    # Approach 2 on an IsoFLOP grid: parameters with intervals, an allocation, its figures.
    return fit_points(isoflop_points(), ["approach2"], bootstrap=10)


def _law(law, params, ci, allocation=None, dataset=None):
    return LawResult(law=law, n_points=12, params=params, ci=ci, objective=0.1, converged=True,
                     allocation=allocation, dataset=dataset, flops_convention="kaplan")


def _config(tmp_path, mode="offline", name="iso sweep"):
    return OmegaConf.create({"out_dir": str(tmp_path / "out"), "sweep_name": name,
                             "logging": {"wandb": mode, "project": "scaling", "entity": None}})


def test_the_target_follows_the_runs_mirror_and_is_none_when_wandb_is_off(tmp_path):
    assert WandbTarget.of(_config(tmp_path, mode="disabled")) is None
    t = WandbTarget.of(_config(tmp_path))
    assert (t.mode, t.project, t.entity, t.group) == ("offline", "scaling", None, "iso sweep")
    assert t.folder == tmp_path / "out" / "iso sweep"  # where the sweep's runs mirror to
    assert artifact_name("iso sweep/2") == "fit-iso_sweep_2"


def test_the_table_has_each_parameter_with_its_interval_and_the_allocation():
    alloc = Allocation(a=0.5, b=0.5, G=None, tokens_per_param={"1e+18": 21.0}, n_opt={"1e+18": 9e7},
                       d_opt={"1e+18": 1.9e9}, ci={"tokens_per_param@1e+18": [18.0, 25.0]})
    rep = FitReport(source="s", n_points=12, param_convention="total", flops_convention="kaplan", notes=[],
                    results=[_law("chinchilla", {"E": 1.8, "alpha": 0.34, "A": float("nan")},
                                  {"E": [1.7, 1.9], "alpha": [0.3, float("inf")]}, alloc),
                             _law("approach2", {"a": 0.49}, {"a": [0.45, 0.53]}, dataset="web")],
                    skipped={})
    assert parameter_rows(rep) == [
        ["chinchilla", "E", 1.8, 1.7, 1.9, 12, "kaplan"],
        ["chinchilla", "alpha", 0.34, 0.3, None, 12, "kaplan"],  # a non-finite bound is an empty cell
        ["chinchilla", "A", None, None, None, 12, "kaplan"],
        ["chinchilla", "N_opt@1e+18", 9e7, None, None, 12, "kaplan"],
        ["chinchilla", "D_opt@1e+18", 1.9e9, None, None, 12, "kaplan"],
        ["chinchilla", "tokens_per_param@1e+18", 21.0, 18.0, 25.0, 12, "kaplan"],
        ["approach2@web", "a", 0.49, 0.45, 0.53, 12, "kaplan"],
    ]
    assert len(COLUMNS) == 7


def test_only_the_figures_this_fit_wrote_count_as_its_own(tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    for name in ("stale", "redrawn"):
        (plots / f"{name}.png").write_bytes(b"an earlier fit")
    before = figures_on_disk(plots)
    # The fitter writes by rename (harness.files.atomic_write): same name, same size, new inode.
    (plots / "redrawn.tmp").write_bytes(b"an earlier fit")
    (plots / "redrawn.tmp").rename(plots / "redrawn.png")
    (plots / "new.png").write_bytes(b"drawn now")
    (plots / "new.svg").write_bytes(b"the same figure as svg")
    assert figures_written(plots, before) == {"new": plots / "new.png", "redrawn": plots / "redrawn.png"}
    assert figures_written(tmp_path / "none", {}) == {}


@pytest.mark.slow  # W&B's offline init, the figures and the artifact: about 4 s
def test_the_fit_is_a_fit_run_in_the_sweeps_group_with_table_images_and_artifact(tmp_path, monkeypatch, report):
    offline_wandb(monkeypatch, tmp_path)
    target = WandbTarget.of(_config(tmp_path))
    sweep = target.folder
    (sweep / "plots").mkdir(parents=True)
    (sweep / "plots" / "old_law.png").write_bytes(b"an earlier fit's figure")
    before = figures_on_disk(sweep / "plots")
    write_outputs(report, json_path=sweep / "fit.json", plots_dir=sweep / "plots", report_path=sweep / "report.md")
    figures = figures_written(sweep / "plots", before)
    assert "old_law" not in figures and "loss_vs_compute" in figures
    run_id = log_fit(report, sweep, target, figures, FitSettings(laws=("approach2",), bootstrap=10))

    [run] = offline_runs(tmp_path)
    assert run.run.run_id == run_id and run.group == "iso sweep" and run.job_type == "fit"
    assert run.run.project == "scaling" and run.run.display_name == "iso sweep fit"
    assert run.folder.parent.parent == sweep  # beside the sweep's training runs
    [row] = run.history
    table = json.loads(run.file(row["fit/parameters"]["path"]).read_text())
    assert table["columns"] == COLUMNS
    assert table["data"] == json.loads(json.dumps(parameter_rows(report)))
    images = {k[len("fit/plots/"):]: v for k, v in row.items() if k.startswith("fit/plots/")}
    assert sorted(images) == sorted(figures) and len(images) >= 3
    for v in images.values():
        assert v["_type"] == "image-file" and run.file(v["path"]).stat().st_size > 1000
    assert run.summary["approach2/a"] == report.get("approach2").params["a"]
    assert [run.summary["approach2/a"], *report.get("approach2").ci["a"]] == table["data"][0][2:5]
    [art] = [a for a in run.artifacts if a.type == "scaling-law-fit"]
    assert art.name == "fit-iso_sweep" and json.loads(art.metadata)["n_points"] == 24
    digests = {c.path: c.digest for c in art.manifest.contents}
    assert digests == {name: base64.b64encode(hashlib.md5((sweep / name).read_bytes()).digest()).decode()
                       for name in ("fit.json", "report.md")}


def test_a_wandb_failure_is_one_line_and_leaves_the_fit(tmp_path, monkeypatch, capsys):
    def broken(*a, **k):
        raise RuntimeError("api.wandb.ai unreachable\nsecond line of detail")

    monkeypatch.setattr("harness.sweep.callback.log_fit", broken)
    target = WandbTarget.of(_config(tmp_path))
    rep = FitReport(source="s", n_points=12, param_convention="total", flops_convention="6ND", notes=[],
                    results=[_law("approach2", {"a": 0.49}, {"a": [0.45, 0.53]})], skipped={})
    SweepCallback._log_fit(rep, target.folder, target, {}, FitSettings())
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"wandb: the fit was not logged (RuntimeError: api.wandb.ai unreachable); its files are in "
                   f"{target.folder}"]
