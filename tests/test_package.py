"""harness installs like a package: its Hydra configs ship inside it (harness.conf) and load from
any folder, for an editable install, `pip install .` and a wheel alike."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import CONF_PACKAGE, conf_dir

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_under_harness_is_listed_for_the_wheel():
    setup = _pyproject()["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "harness").rglob("__init__.py")}
    assert set(setup["packages"]) == on_disk | {CONF_PACKAGE}
    assert setup["package-dir"] == {CONF_PACKAGE: "conf"}
    assert set(setup["package-data"][CONF_PACKAGE]) >= {"*.yaml", "**/*.yaml"}


def test_the_installed_configs_are_the_repositorys_conf_folder():
    # The test environment is the editable install of the README: harness.conf is conf/ itself.
    assert conf_dir().resolve() == (ROOT / "conf").resolve()
    assert (conf_dir() / "config.yaml").is_file() and (conf_dir() / "sweep" / "demo.yaml").is_file()


# A folder of the machine that wrote a file: this checkout, the shared folder beside it, a home.
MACHINE_PATH = re.compile(r"/work/(shared|main)\b|\.\./shared/notes|(?<![\w.~$])/(root|home/\w+|Users/\w+)/")
# A record names its data in the shared folder as $HARNESS_SHARED_DATA/... (harness.paths), never
# by the relative path it was started with.
RECORD_OUTSIDE = re.compile(r'"out_dir": "/|"\.\./shared/')


def test_the_path_checks_see_the_paths_they_are_for():
    assert MACHINE_PATH.search("see /work/" + "main/results") and MACHINE_PATH.search("x /" + "home/me/corpus.txt")
    assert not MACHINE_PATH.search("~/.cache/harness and $HARNESS_SHARED_DATA/eltec_eng/eltec_eng.jsonl.gz")
    assert RECORD_OUTSIDE.search('    "../shared/data/eltec_eng/eltec_eng.jsonl.gz"')
    assert RECORD_OUTSIDE.search('"out_dir": "/scratch/out"')
    assert not RECORD_OUTSIDE.search('    "$HARNESS_SHARED_DATA/eltec_eng/eltec_eng.jsonl.gz"')


def test_no_absolute_machine_paths_in_committed_sources():
    # Records under results/ are generated data (their configs hold resolved cache folders); every
    # other committed file must read the same on any machine.
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if files.returncode != 0:
        pytest.skip("not a git checkout")
    hits = []
    for name in files.stdout.splitlines():
        path = ROOT / name
        if not path.is_file():
            continue
        if name.startswith("results/") and name.endswith(".json"):
            # A record may hold a resolved cache folder, but the folder it was written to is the
            # study's command's, relative (a study run elsewhere and copied in says where it
            # belongs), and its data in the shared folder is named by the folder's variable.
            m = RECORD_OUTSIDE.search(path.read_text(encoding="utf-8"))
            if m:
                hits.append(f"{name}: {m.group(0)!r}")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)]
    assert hits == []


def _copy_sources(dest: Path) -> Path:
    """What a wheel is built from, copied so the build leaves nothing in the repository."""
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("harness", "conf"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


@pytest.mark.slow
def test_a_wheel_trains_and_plans_from_another_folder(tmp_path):
    src = _copy_sources(tmp_path / "src")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(dist), str(src)], check=True)
    wheel = next(dist.glob("harness-*.whl"))
    # A fresh environment on top of this one: torch & co. come from here, nothing is downloaded,
    # and harness itself only from the wheel (its site-packages comes before ours).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bin_dir / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
                    "-q", str(wheel)], check=True)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HARNESS_CACHE=str(tmp_path / "cache"), WANDB_MODE="disabled")
    where = subprocess.run([str(py), "-c", "import harness.conf as c; print(c.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), where

    train = subprocess.run(
        [str(bin_dir / "harness-train"), "data.seq_len=16", "data.val_sequences=8", "model.n_layer=1",
         "model.d_model=16", "model.n_head=2", "train.batch_size=4", "train.tokens=1280", "train.threads=1",
         "logging.quiet=true", "device=cpu", "out_dir=out", "sweep_name=wheel"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    (record,) = (work / "out" / "wheel" / "runs").glob("*.json")
    rec = json.loads(record.read_text())
    assert rec["status"] == "completed" and rec["sweep_name"] == "wheel"
    assert rec["tokens"] == 1280 and rec["steps"] == 20

    plan = subprocess.run([str(bin_dir / "harness-plan"), "sweep=demo", "plan.format=jsonl", "plan.probe=false"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr[-2000:]
    rows = [json.loads(line) for line in plan.stdout.splitlines()]
    assert len(rows) == 12 and {r["state"] for r in rows} == {"new"}
