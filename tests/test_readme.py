"""The README's promises that can be checked without running a sweep: a short front page whose first
block is the two set-up commands, every page it points to present."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

MAX_LINES = 200
MAIN_JOB = "pip install -e . && harness-train -m sweep=demo out_dir=outputs"
TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest'
# Every docs page the README must point a newcomer to (docs/architecture.md is another owner's page).
DOC_PAGES = ["results", "sweeps", "fitting", "data", "gpu_and_cluster", "configuration", "reliability",
             "architecture", "development"]


def _fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)


def test_readme_is_a_five_minute_page():
    assert len(README.splitlines()) <= MAX_LINES


def test_readme_starts_with_exactly_the_two_setup_commands():
    block = _fenced_blocks(README)[0].strip().splitlines()
    assert len(block) == 2
    # The main job first, then the tests; each line as written, comment aside.
    assert block[0].split("#")[0].strip() == MAIN_JOB
    assert block[1].split("#")[0].strip() == TEST_COMMAND
    # The set-up commands come before any section.
    assert README.index("```") < README.index("\n## ")


def test_ci_finds_the_readme_test_command():
    # .ci/run runs the first line matching this (grep -m1 -E '^pip install .*pytest').
    lines = [line for line in README.splitlines() if re.match(r"^pip install .*pytest", line)]
    assert lines and lines[0] == _fenced_blocks(README)[0].strip().splitlines()[1]
    assert "grep -m1 -E '^pip install .*pytest' README.md" in (ROOT / ".ci" / "run").read_text()


def test_readme_links_every_docs_page():
    targets = set(re.findall(r"\]\((docs/[^)#\s]+)", README))
    for page in DOC_PAGES:
        assert f"docs/{page}.md" in targets, page


def test_readme_shows_a_committed_plot():
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README)
    assert images, "no headline figure"
    for path in images:
        assert path.startswith("results/") and path.endswith(".png"), path
        assert (ROOT / path).is_file(), path
