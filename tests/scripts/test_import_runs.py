"""scripts/import_runs.py: records trained elsewhere brought into a results store, keeping their run_ids."""

from __future__ import annotations

import json
from pathlib import Path

from harness import records
from tests.helpers import load_script

DEMO = Path(__file__).resolve().parents[2] / "results" / "demo" / "runs"


def elsewhere(tmp_path: Path, n: int = 3) -> tuple[Path, list[str]]:
    """A sweep folder as another machine left it: three demo records written under its own out_dir."""
    src = tmp_path / "scratch" / "out" / "demo"
    (src / "runs").mkdir(parents=True)
    ids = []
    for path in sorted(DEMO.glob("*.json"))[:n]:
        d = json.loads(path.read_text())
        d["config"]["out_dir"] = str(tmp_path / "scratch" / "out")
        (src / "runs" / path.name).write_text(json.dumps(d))
        ids.append(d["run_id"])
    return src, ids


def test_records_keep_their_ids_and_name_the_store_they_are_in(tmp_path, capsys, monkeypatch):
    mod = load_script("import_runs")
    src, ids = elsewhere(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert mod.main([str(src), "results"]) == 0  # a dry run writes nothing
    assert "3 records to copy (dry run: add --write) into results/demo/runs" in capsys.readouterr().out
    assert not Path("results").exists()
    assert mod.main([str(src), "results", "--write"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 records copied into results/demo/runs (0.") and "0 already there" in out
    for run_id in ids:
        rec = records.read_record(Path("results/demo/runs") / f"{run_id}.json")
        original = records.read_record(DEMO / f"{run_id}.json")
        assert rec.config["out_dir"] == "results" and rec.run_id == records.run_id_of(rec.config) == run_id
        assert rec.val_loss == original.val_loss and rec.curve == original.curve
    # Again: every record is there with the same results, so nothing changes.
    stamps = [p.stat().st_mtime_ns for p in sorted(Path("results/demo/runs").iterdir())]
    assert mod.main([str(src), "results", "--write"]) == 0
    again = capsys.readouterr().out
    assert again.startswith("0 records copied") and "3 already there" in again
    assert [p.stat().st_mtime_ns for p in sorted(Path("results/demo/runs").iterdir())] == stamps


def test_a_renamed_sweep_and_runs_that_did_not_complete(tmp_path, capsys, monkeypatch):
    mod = load_script("import_runs")
    src, ids = elsewhere(tmp_path)
    failed = src / "runs" / f"{ids[0]}.json"
    d = json.loads(failed.read_text())
    d["status"], d["reason"] = "failed", "killed"
    failed.write_text(json.dumps(d))
    monkeypatch.chdir(tmp_path)
    assert mod.main([str(src), "store", "--sweep-name", "demo_xeon", "--write"]) == 0
    out = capsys.readouterr().out
    assert "2 records copied into store/demo_xeon/runs" in out and f"1 not completed, left out: {ids[0]}.json (failed)" in out
    rec = records.read_record(Path("store/demo_xeon/runs") / f"{ids[1]}.json")
    assert rec.sweep_name == rec.config["sweep_name"] == "demo_xeon" and rec.run_id == ids[1]
    assert not (Path("store/demo_xeon/runs") / f"{ids[0]}.json").exists()


def test_conflicts_and_bad_records_stop_the_import_before_anything_is_written(tmp_path, capsys, monkeypatch):
    mod = load_script("import_runs")
    src, ids = elsewhere(tmp_path)
    monkeypatch.chdir(tmp_path)
    # The store already holds one of the runs, with another result.
    there = Path("results/demo/runs")
    there.mkdir(parents=True)
    d = json.loads((src / "runs" / f"{ids[1]}.json").read_text())
    d["val_loss"] += 0.01
    (there / f"{ids[1]}.json").write_text(json.dumps(d))
    before = (there / f"{ids[1]}.json").read_bytes()
    (src / "runs" / f"{ids[2]}.json").write_text("{\"run_id\": ")  # truncated by a full disk
    assert mod.main([str(src), "results", "--write"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and err[-1] == "import_runs: nothing written (2 problem(s) above)"
    assert any(f"{ids[1]}.json: already there with other results" in line for line in err)
    assert any(f"{ids[2]}.json: not valid JSON" in line for line in err)
    assert sorted(p.name for p in there.iterdir()) == [f"{ids[1]}.json"] and (there / f"{ids[1]}.json").read_bytes() == before
    # A folder that is not a sweep is one line too.
    assert mod.main([str(tmp_path), "results"]) == 2
    assert "not a sweep folder" in capsys.readouterr().err


def test_a_record_whose_config_no_longer_gives_its_id_is_named(tmp_path, capsys, monkeypatch):
    mod = load_script("import_runs")
    src, ids = elsewhere(tmp_path, n=1)
    path = src / "runs" / f"{ids[0]}.json"
    d = json.loads(path.read_text())
    d["config"]["optim"]["lr"] *= 2  # edited by hand after the run: the file no longer names its run
    path.write_text(json.dumps(d))
    monkeypatch.chdir(tmp_path)
    assert mod.main([str(src), "results", "--write"]) == 2
    err = capsys.readouterr().err
    assert f"not the {ids[0]} it was written with" in err and "migrate_run_ids.py" in err
    assert not Path("results").exists()
