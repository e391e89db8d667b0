"""harness-train's checks before Hydra starts (issue 22): an unknown key however it arrives, the SLURM
launcher without SLURM and an unwritable results folder are one line and an exit status, and
nothing is written, where before the run trained the default, or Hydra printed a traceback after
making its output folder."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.cli.train import main, preflight
from harness.errors import ConfigError, ResultsNotWritable

T = "train.tokens=100000"


def _main(monkeypatch, *args: str) -> int:
    """``harness-train args`` in this process: its exit status. Hydra's global state and the logging
    it configures for a job are put back as they were, whatever it did."""
    from hydra.core.global_hydra import GlobalHydra

    monkeypatch.setattr("sys.argv", ["harness-train", *args])
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with pytest.raises(SystemExit) as e:
            main()
    finally:
        GlobalHydra.instance().clear()
        for h in set(root.handlers) - set(handlers):
            root.removeHandler(h)
            h.close()
        root.setLevel(level)
    return e.value.code


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


@pytest.mark.parametrize("args", [
    [T, "+model.widht=64"],          # the fix Hydra's own message suggests for model.widht=64
    [T, "++model.widht=64"],
    [T, "model.widht=64"],           # Hydra refuses this one itself, in six lines that suggest the +
    ["-m", T, "+model.widht=64"],
])
def test_an_unknown_key_is_one_line_exit_2_and_nothing_is_written(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    assert _main(monkeypatch, *args, f"out_dir={tmp_path / 'out'}") == 2
    assert capsys.readouterr().err == ("harness-train: invalid config: model.widht: unknown key "
                                       "(did you mean model.d_model?)\n")
    assert _files(tmp_path) == []  # no record, no checkpoint, not even Hydra's folder


def test_a_typo_inside_a_preset_names_the_key_and_the_preset(tmp_path, monkeypatch, capsys):
    presets = tmp_path / "conf"
    (presets / "sweep").mkdir(parents=True)
    (presets / "sweep" / "typo.yaml").write_text("# @package _global_\ntrain:\n  tokns: 5000\n")
    (presets / "model").mkdir()
    (presets / "model" / "wide.yaml").write_text("defaults:\n  - model_schema\n  - _self_\nn_layer: 1\nwidht: 64\n")
    out = tmp_path / "out"
    for preset, line in (("sweep=typo", "train.tokns: unknown key (did you mean train.tokens?) (set in sweep/typo)"),
                         ("model=wide", "model.widht: unknown key (did you mean model.d_model?) (set in model/wide)")):
        code = _main(monkeypatch, "-m", T, preset, f"hydra.searchpath=[file://{presets}]", f"out_dir={out}")
        assert (code, capsys.readouterr().err) == (2, f"harness-train: invalid config: {line}\n")
    assert not out.exists()


def test_the_projects_own_presets_and_extra_groups_pass(tmp_path):
    # Nothing valid is refused: a design preset (resolvers, a swept sweep.design.point), the demo
    # (a launcher override, a sweep/hparams group), a group added with +, Hydra's own keys.
    for args in (["-m", "sweep=demo"], ["-m", "sweep=chinchilla_isoflop", "seed=0,1"],
                 [T, "model=ladder_s", "+sweep/hparams=porian", "+lr_mult=x2", "hydra.job.chdir=false"]):
        preflight([*args, f"out_dir={tmp_path / 'out'}"])
    assert _files(tmp_path) == []


def test_the_slurm_launcher_without_slurm_is_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # neither sbatch nor srun can be found
    monkeypatch.chdir(tmp_path)
    assert _main(monkeypatch, "-m", T, "hydra/launcher=slurm", f"out_dir={tmp_path / 'out'}") == 2
    assert capsys.readouterr().err == ("harness-train: invalid config: hydra/launcher=slurm needs SLURM's sbatch "
                                       "and srun on PATH; on one machine use hydra/launcher=local_cluster (the "
                                       "same jobs through submitit) or hydra/launcher=joblib\n")
    assert _files(tmp_path) == []


def test_the_slurm_launcher_passes_where_slurm_is_installed_and_a_single_run_ignores_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    # One run never launches through the launcher: nothing to check.
    preflight([T, "hydra/launcher=slurm", f"out_dir={tmp_path / 'out'}"])
    (tmp_path / "bin").mkdir()
    for cmd in ("sbatch", "srun"):
        (tmp_path / "bin" / cmd).write_text("#!/bin/sh\n")
        (tmp_path / "bin" / cmd).chmod(0o755)
    preflight(["-m", T, "hydra/launcher=slurm", f"out_dir={tmp_path / 'out'}"])
    (tmp_path / "bin" / "srun").unlink()
    with pytest.raises(ConfigError, match=r"^hydra/launcher=slurm needs SLURM's srun on PATH;"):
        preflight(["-m", T, "hydra/launcher=slurm", f"out_dir={tmp_path / 'out'}"])


# -- an unwritable results folder ------------------------------------------------------------------


def _chattr_works(where: Path) -> bool:
    """Whether `chattr +i` makes a folder refuse files here (root ignores modes; containers may
    forbid chattr), as scripts/fault_inject.py probes it."""
    if shutil.which("chattr") is None:
        return False
    probe = where / "chattr-probe"
    probe.mkdir()
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
            return False
        try:
            (probe / "x").touch()
            return False
        except OSError:
            return True
    finally:
        subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
        shutil.rmtree(probe, ignore_errors=True)


@pytest.fixture
def unwritable(tmp_path):
    """A function making a folder refuse new files even for root: chmod for a user, chattr +i for
    root where it works, else the folder replaced by a plain file (what fault_inject.py does)."""
    undo = []

    def make(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            folder.chmod(0o555)
            undo.append(lambda: folder.chmod(0o755))
        elif _chattr_works(tmp_path):
            subprocess.run(["chattr", "+i", str(folder)], check=True)
            undo.append(lambda: subprocess.run(["chattr", "-i", str(folder)], capture_output=True))
        else:
            folder.rmdir()
            folder.write_text("not a folder\n")

    yield make
    for u in reversed(undo):
        u()


@pytest.mark.parametrize("multirun", [True, False])
def test_an_unwritable_results_folder_is_one_line_before_hydra_makes_its_folder(tmp_path, monkeypatch, capsys,
                                                                                 unwritable, multirun):
    out = tmp_path / "results"
    unwritable(out)
    monkeypatch.chdir(tmp_path)
    code = _main(monkeypatch, *(["-m"] if multirun else []), T, f"out_dir={out}")
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"harness-train: cannot write to {out / 'default'}: ")
    assert err.count("\n") == 1 and "Traceback" not in err and "PermissionError" not in err


def test_a_file_in_place_of_the_results_folder_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "results").write_text("not a folder\n")
    monkeypatch.chdir(tmp_path)
    assert _main(monkeypatch, "-m", T, "out_dir=results", "sweep_name=s") == 1
    assert capsys.readouterr().err == "harness-train: cannot write to results/s: results is not a folder\n"
    assert _files(tmp_path) == [Path("results")]


def test_hydra_s_own_output_folder_is_checked_too(tmp_path):
    # The records' folder takes files, but the folder Hydra makes first (here outside out_dir) does not.
    (tmp_path / "elsewhere").write_text("")
    with pytest.raises(ResultsNotWritable, match=f"^cannot write to {tmp_path / 'elsewhere'}/sweep: "):
        preflight(["-m", T, f"out_dir={tmp_path / 'out'}", f"hydra.sweep.dir={tmp_path / 'elsewhere' / 'sweep'}"])
    assert _files(tmp_path) == [Path("elsewhere")]
