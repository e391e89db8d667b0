"""scripts/refit_studies.py knows every committed study that approach 2 fits, and refits one into
its folder with the global parabola's comparison beside it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.fit import load_sweep
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "refit_studies.py"


@pytest.fixture(scope="module")
def mod():
    return load_script("refit_studies")


def test_every_committed_fit_of_approach2_is_a_study_it_refits(mod):
    fitted = set()
    for f in (ROOT / "results").rglob("fit.json"):
        if any(law["law"] == "approach2" for law in json.loads(f.read_text()).get("laws", [])):
            fitted.add(f.parent.relative_to(ROOT / "results").as_posix())
    names = {s.name for s in mod.STUDIES}
    assert fitted <= names, sorted(fitted - names)
    # and no entry is stale: every study it lists has its committed fit (some fit no approach 2,
    # e.g. a curve law's ablation without --profiles)
    assert all((ROOT / "results" / n / "fit.json").is_file() for n in names), sorted(names)


def test_an_unknown_study_is_one_line_and_exit_2(mod, capsys):
    assert mod.main(["nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["refit_studies: error: not a study here: nope (see --list)"]


def test_list_names_each_study_with_relative_paths_only(mod, capsys):
    assert mod.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "synthetic_isoflop_wsd_cpu/annealing: harness-fit results/synthetic_isoflop_wsd_cpu --law annealing" in out
    assert str(ROOT) not in out


def test_a_refit_writes_no_absolute_path(mod):
    assert not mod.RESULTS.is_absolute()


@pytest.mark.slow  # two fits of the demo's 12 runs
def test_a_refit_writes_the_fit_and_the_global_parabolas_beside_it(mod, tmp_path, monkeypatch):
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "demo" / "runs", results / "demo" / "runs")
    monkeypatch.chdir(tmp_path)  # main() moves to ROOT; the test's own folder stands in for it
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    monkeypatch.setattr(mod, "STUDIES", (mod.Study("demo", ("--bootstrap", "5")),))
    assert mod.main(["demo"]) == 0
    fit = json.loads((results / "demo" / "fit.json").read_text())
    a2 = next(law for law in fit["laws"] if law["law"] == "approach2")
    assert a2["details"]["vertex"] == "local"
    assert (results / "demo" / "report.md").is_file() and (results / "demo" / "plots").is_dir()
    glob = json.loads((results / "demo" / mod.GLOBAL).read_text())
    assert [law["law"] for law in glob["laws"]] == ["approach2"]
    assert glob["laws"][0]["details"]["vertex"] == "global" and not glob["laws"][0]["details"]["weighted"]
    shutil.rmtree(results / "demo" / "runs")
    assert mod.main(["demo"]) == 2


def test_the_decades_holdout_is_its_whole_largest_budget(mod):
    # A replicate seed adds runs at 3e13; a holdout of fewer runs would fit some of that budget.
    (study,) = [s for s in mod.STUDIES if s.name == "synthetic_isoflop_decades_cpu/holdout"]
    k = int(study.args[study.args.index("--holdout") + 1])
    c = load_sweep(study.source()).c
    assert k == int(np.sum(c > 0.95 * c.max()))
