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

# Third-party packages slow enough to import that a command which does not need them (harness-plan
# without a probe, harness-fit) should start without them: a function may import a harness module
# that loads one of these, where it is needed, instead of at the top.
SLOW_TO_IMPORT = ("torch", "matplotlib", "transformers", "datasets", "wandb")


def _module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _top_level_imports(name: str) -> set[str]:
    """What a module imports when it is imported: module-level statements (inside module-level
    if/try too), not function bodies; a package's parents are imported first."""
    f = _module_file(name)
    if f is None:
        return set()
    found = {name.rsplit(".", 1)[0]} if "." in name else set()
    todo = list(ast.parse(f.read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}"))
        elif isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            for h in getattr(node, "handlers", []):
                todo += h.body
    return found


def loads_slow_package(name: str) -> bool:
    seen, todo = set(), [name]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if m.split(".")[0] in SLOW_TO_IMPORT:
            return True
        if m.startswith("harness"):
            todo += _top_level_imports(m)
    return False


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
    ("harness/records/store.py", "from harness.run import train"),  # a record reaching up into the run
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
            light += [f"{path.relative_to(ROOT)}:{line}: {m}" for m in mods if not loads_slow_package(m)]
    assert not light, "import these at the top of the module:\n" + "\n".join(light)


@pytest.mark.slow  # seconds: outside the quick loop
def test_the_static_reading_of_what_loads_torch_agrees_with_python():
    # The exemption above rests on loads_slow_package; check it against real imports.
    code = ("import sys, importlib; importlib.import_module(sys.argv[1]); "
            "print(any(m.split('.')[0] in sys.argv[2].split(',') for m in sys.modules))")
    for mod in ("harness.model", "harness.run.train", "harness.data", "harness.fit.api", "harness.sweep.plan",
                "harness.records", "harness.run.state"):
        r = subprocess.run([sys.executable, "-c", code, mod, ",".join(SLOW_TO_IMPORT)], cwd=ROOT,
                           capture_output=True, text=True, check=True)
        assert r.stdout.strip() == str(loads_slow_package(mod)), mod
