"""harness-fit's convention flags: --param-convention / --flops-convention, with the older --params /
--flops still read and named as deprecated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.fit import main

DEMO = Path(__file__).resolve().parents[2] / "results" / "demo"


def _fit(tmp_path: Path, *flags: str) -> dict:
    out = tmp_path / "fit.json"
    # Every output named, so nothing is written beside the committed study.
    assert main([str(DEMO), "--law", "approach2", "--bootstrap", "0", "--json", str(out),
                 "--report", str(tmp_path / "report.md"), "--plots", str(tmp_path / "plots"), *flags]) == 0
    return json.loads(out.read_text())


@pytest.mark.slow  # seconds: outside the quick loop
def test_the_new_and_the_deprecated_flags_read_the_same_convention(tmp_path, capsys):
    new = _fit(tmp_path, "--flops-convention", "6ND", "--param-convention", "non_embedding")
    assert capsys.readouterr().err.count("deprecated") == 0
    old = _fit(tmp_path, "--flops", "6ND", "--params", "non_embedding")
    err = capsys.readouterr().err
    assert "--flops is deprecated; it is read as --flops-convention" in err
    assert "--params is deprecated; it is read as --param-convention" in err
    assert (new["c_convention"], new["n_convention"]) == ("6ND", "non_embedding")
    assert new["laws"] == old["laws"]


def test_a_sweep_folder_gets_all_three_outputs_only_when_none_is_named(tmp_path, capsys):
    sweep = tmp_path / "demo"
    (sweep / "runs").mkdir(parents=True)
    for path in sorted((DEMO / "runs").glob("*.json")):
        (sweep / "runs" / path.name).write_bytes(path.read_bytes())
    assert main([str(sweep), "--law", "approach2", "--bootstrap", "0", "--json", str(tmp_path / "elsewhere.json")]) == 0
    assert (tmp_path / "elsewhere.json").exists()
    assert sorted(p.name for p in sweep.iterdir()) == ["runs"]  # no report or plots written over the sweep's own
    assert main([str(sweep), "--law", "approach2", "--bootstrap", "0"]) == 0
    assert sorted(p.name for p in sweep.iterdir()) == ["fit.json", "plots", "report.md", "runs"]
