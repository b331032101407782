"""The docs build strictly (a broken link, anchor or nav entry fails), and the README's links land."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_mkdocs_build_is_strict_and_clean(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "engine" / "index.html").exists()


def test_strict_build_fails_on_a_broken_anchor(tmp_path):
    """The check has teeth: a copy of the docs with one link to a missing anchor does not build."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in (ROOT / "docs").glob("*.md"):
        (docs / page.name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    with (docs / "index.md").open("a", encoding="utf-8") as index:
        index.write("\nSee [the options](engine.md#no-such-section).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(tmp_path / "site")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no-such-section" in done.stderr


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slugify(m.group(1).strip(), "-") for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def test_readme_links_point_at_files_and_sections_that_exist():
    broken = []
    for target in LINK.findall(README.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        path, _, anchor = target.partition("#")
        file = ROOT / path
        if not file.exists() or (anchor and anchor not in _anchors(file)):
            broken.append(target)
    assert not broken


def test_readme_is_a_front_page():
    """What, install, the two commands, a quickstart per framework, links: the reference lives in docs/."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400
    sections = re.findall(r"^## (.+)$", text, re.M)
    assert sections[:3] == ["Install", "The two commands", "Quickstart: core"]
    assert {"Quickstart: LlamaIndex", "Quickstart: LangChain", "Documentation"} <= set(sections)
    assert "pending" not in text.lower()


def test_changelog_has_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# Changelog" and "## Unreleased" in text
