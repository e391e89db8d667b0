"""The layers of docs/architecture.md hold: import-linter's contracts in pyproject.toml pass, and
they fail on a deliberately wrong import; ruff passes; an import inside a function is only of a
module that pulls in torch (kept off a command's start), never of a light one."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Modules whose import loads torch: a function may import these where they are needed, so that a
# command which never trains (harness-plan without a probe, harness-fit) starts without torch.
HEAVY = ("harness.data", "harness.hardware", "harness.model", "harness.run.step", "harness.run.train",
         "harness.cli")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first, so that the package analysed is the one under cwd, not the installed one.
    env = {"PYTHONPATH": str(cwd), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True)


def test_the_import_contracts_are_kept():
    r = _lint_imports(ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in r.stdout


@pytest.mark.parametrize("module, wrong", [
    ("harness/errors.py", "import harness.fit.api"),          # the bottom layer reaching the top
    ("harness/records.py", "from harness.run import train"),  # a record reaching up into the run
    ("harness/shapes/ladder.py", "from harness.shapes import design"),  # a circle: design imports ladder
])
def test_a_wrong_import_breaks_a_contract(tmp_path, module, wrong):
    shutil.copytree(ROOT / "harness", tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{wrong}  # deliberately wrong\n")
    r = _lint_imports(tmp_path)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "BROKEN" in r.stdout


def test_ruff_passes():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def _inner_imports(path: Path):
    tree = ast.parse(path.read_text())
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    if node.module == "harness":
                        yield node.lineno, [f"harness.{a.name}" for a in node.names]
                    elif node.module.startswith("harness."):
                        yield node.lineno, [node.module]
                elif isinstance(node, ast.Import):
                    yield node.lineno, [a.name for a in node.names if a.name.startswith("harness")]


def test_imports_inside_functions_are_only_of_modules_that_load_torch():
    light = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        for line, mods in _inner_imports(path):
            for m in mods:
                if not any(m == h or m.startswith(h + ".") for h in HEAVY):
                    light.append(f"{path.relative_to(ROOT)}:{line}: {m}")
    assert not light, "import these at the top of the module:\n" + "\n".join(light)


def test_the_heavy_modules_are_the_ones_that_load_torch():
    # The exemption above is only as good as this list: each one really imports torch, and a
    # light module (the fitter's entry, the planner) does not.
    code = ("import sys, importlib; importlib.import_module(sys.argv[1]); "
            "print('torch' in sys.modules)")
    for mod, loads in [("harness.model", True), ("harness.run.train", True), ("harness.data", True),
                       ("harness.fit.api", False), ("harness.sweep.plan", False), ("harness.records", False)]:
        r = subprocess.run([sys.executable, "-c", code, mod], cwd=ROOT, capture_output=True, text=True, check=True)
        assert r.stdout.strip() == str(loads), mod
