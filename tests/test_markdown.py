"""The committed markdown, read as a reader's renderer reads it: every table row has its
header's cells, every relative link and image resolves inside the repository, and the
pages people read first fit their targets (README 250 lines; a report 250, or 400 for
posteriordb, with a TL;DR of at most 12 lines)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "reports").glob("*/*.md"),
        *ROOT.glob("examples/**/*.md"),
    ]
)
README_LINES = 250
REPORT_LINES = {"posteriordb": 400}
DEFAULT_REPORT_LINES = 250
TLDR_LINES = 12
#: an unescaped pipe: a cell boundary
CELL_BOUNDARY = re.compile(r"(?<!\\)\|")


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def _cells(line: str) -> int:
    """Cells of a table row in its source: pipes outside code spans that are not escaped."""
    text = re.sub(r"`[^`]*`", lambda m: m.group(0).replace("|", "x"), line.strip())
    text = text.removeprefix("|").removesuffix("|") if text.startswith("|") else text
    return len(CELL_BOUNDARY.split(text))


def table_errors(text: str) -> list[str]:
    """Rows whose cell count differs from their table's header (a renderer pads or drops
    cells silently, so a figure lands in the wrong column or vanishes)."""
    lines = text.splitlines()
    errors = []
    for token in _parser().parse(text):
        if token.type != "table_open" or token.map is None:
            continue
        start, end = token.map
        header = _cells(lines[start])
        for number in range(start + 2, end):
            if lines[number].strip() and _cells(lines[number]) != header:
                errors.append(f"line {number + 1}: {_cells(lines[number])} cells, header {header}")
    return errors


def link_errors(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links and images whose target is not a file or folder of the repository."""
    errors = []
    for token in _parser().parse(path.read_text()):
        for child in token.children or []:
            target = child.attrs.get("href") if child.type == "link_open" else child.attrs.get("src")
            if not isinstance(target, str) or not target:
                continue
            parsed = urlparse(target)
            if parsed.scheme or target.startswith("#"):
                continue
            resolved = (path.parent / unquote(parsed.path)).resolve()
            if not resolved.exists():
                errors.append(f"{target}: no such file")
            elif root not in resolved.parents and resolved != root:
                errors.append(f"{target}: outside the repository")
    return errors


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", PAGES, ids=_id)
def test_every_table_row_has_its_headers_cells(path):
    assert table_errors(path.read_text()) == []


@pytest.mark.parametrize("path", PAGES, ids=_id)
def test_every_relative_link_resolves(path):
    assert link_errors(path) == []


def test_the_checks_catch_a_short_row_a_piped_cell_and_a_dead_link(tmp_path):
    bad = "| a | b |\n|---|---|\n| 1 |\n| 1 | 2 |\n| z |z| | 3 |\n"
    assert table_errors(bad) == ["line 3: 1 cells, header 2", "line 5: 4 cells, header 2"]
    assert table_errors("| a | b |\n|---|---|\n| \\|z\\| | `x|y` |\n") == []
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [gone](missing.md#x) ![img](charts/none.png) [web](https://x.org) [a](#h)\n")
    assert link_errors(page, root=tmp_path) == ["missing.md#x: no such file", "charts/none.png: no such file"]
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "up.md").write_text("[out](../page.md)\n")
    assert link_errors(tmp_path / "inner" / "up.md", root=tmp_path / "inner") == ["../page.md: outside the repository"]


def test_the_readme_fits_its_target():
    assert len((ROOT / "README.md").read_text().splitlines()) <= README_LINES


REPORTS = sorted(path.parent for path in (ROOT / "reports").glob("*/REPORT.md"))


@pytest.mark.parametrize("folder", REPORTS, ids=lambda folder: folder.name)
def test_a_report_fits_one_screen_up_front(folder):
    assert (folder / "DETAILS.md").is_file()
    lines = (folder / "REPORT.md").read_text().splitlines()
    assert len(lines) <= REPORT_LINES.get(folder.name, DEFAULT_REPORT_LINES)
    start = lines.index("## TL;DR")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    assert end - start - 1 <= TLDR_LINES
