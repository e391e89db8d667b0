"""The README and the pages under docs/: every relative link resolves (anchors included), every preset
and data group they name exists, and the generated configuration reference is current."""

import re
from pathlib import Path

import pytest

from harness.config_reference import PAGE, page

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """The text without fenced blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(md: Path) -> set[str]:
    """GitHub's heading anchors of a markdown file."""
    seen: dict[str, int] = {}
    out = set()
    text = re.sub(r"^```.*?^```[^\n]*$", "", md.read_text(), flags=re.S | re.M)
    for title in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _links(md: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(md.read_text())) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_the_pages_exist():
    names = {p.name for p in PAGES}
    for name in ("README.md", "results.md", "gpu_and_cluster.md", "configuration.md", "reliability.md",
                 "sweeps.md", "fitting.md"):
        assert name in names, name


@pytest.mark.parametrize("md", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(md):
    broken = []
    for target in _links(md):
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if path.startswith("/"):
            broken.append(f"{target}: an absolute path")
        elif not (ROOT in dest.parents or dest == ROOT):
            broken.append(f"{target}: outside the repository")
        elif not dest.exists():
            broken.append(f"{target}: does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{md.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_checker_sees_links_and_anchors():
    # The checker itself: it finds the README's links, skips code, and slugs headings as GitHub does.
    readme_links = _links(ROOT / "README.md")
    assert "docs/results.md" in readme_links and len(readme_links) >= 10
    assert _prose("a `[x](nowhere.md)` b\n```\n[y](nowhere.md)\n```\n").count("nowhere") == 0
    assert "more-points-per-flop-cooldown-branches-and-the-whole-curve-law" in _anchors(ROOT / "docs" / "sweeps.md")


def test_every_source_path_the_pages_name_exists():
    # A file named in code type (`harness/fit/law.py`, `tests/...`) must not go stale when code moves;
    # placeholders (<name>) and results/ (examples of what a run writes) are left out.
    stale = []
    for md in PAGES:
        text = re.sub(r"^```.*?^```[^\n]*$", "", md.read_text(), flags=re.S | re.M)
        for span in re.findall(r"`([^`\n]+)`", text):
            path = span.split()[0].rstrip(",.;:") if span.split() else ""
            if re.match(r"(harness|tests|scripts|conf|docs|\.ci)/", path) and not re.search(r"[<*]", path):
                if not (ROOT / path).exists():
                    stale.append(f"{md.name}: {path}")
    assert not stale, stale


def test_every_preset_and_data_group_the_pages_name_exists():
    for md in PAGES:
        text = md.read_text()
        for name in set(re.findall(r"\bsweep=(\w+)", text)):
            assert (ROOT / "conf" / "sweep" / f"{name}.yaml").exists(), f"{md.name}: sweep={name}"
        for name in set(re.findall(r"\bdata=(\w+)", text)):
            assert (ROOT / "conf" / "data" / f"{name}.yaml").exists(), f"{md.name}: data={name}"


def test_every_shipped_preset_is_described_in_sweeps_md():
    text = (ROOT / "docs" / "sweeps.md").read_text()
    table = text.split("## The sweep presets", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(\w+)`", "\n".join(line.split("|")[1] for line in table.splitlines()
                                                 if line.startswith("| `"))))
    shipped = {p.stem for p in (ROOT / "conf" / "sweep").glob("*.yaml")}
    assert named == shipped


def test_the_config_reference_page_matches_the_typed_configs():
    committed = (ROOT / PAGE).read_text()
    assert committed == page(), "run: python -m harness.config_reference --write"
