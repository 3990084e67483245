"""Where the report's charts and CSV tables go, beside REPORT.md."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

from tabulate import tabulate

CHARTS, TABLES = "charts", "tables"


class Sink:
    """``charts/`` and ``tables/`` in the report's folder, emptied first so that a chart of
    a row that is gone does not linger."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        for name in (CHARTS, TABLES):
            shutil.rmtree(out_dir / name, ignore_errors=True)
            (out_dir / name).mkdir(parents=True)

    def chart(self, name: str) -> Path:
        return self.out_dir / CHARTS / name

    def table(self, name: str, rows: list[list[Any]], headers: list[str], **options) -> str:
        """The markdown table, and the same rows in ``tables/<name>.csv``."""
        with (self.out_dir / TABLES / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(headers)
            writer.writerows(rows)
        return markdown_table(rows, headers, **options)


def markdown_table(rows: list[list[Any]], headers: list[str], **options) -> str:
    """A GitHub markdown table; a literal ``|`` in a cell (``|z|``) is escaped, so that every
    row keeps its header's columns."""

    def escaped(value: Any) -> Any:
        return value.replace("|", "\\|") if isinstance(value, str) else value

    return tabulate(
        [[escaped(cell) for cell in row] for row in rows],
        headers=[escaped(h) for h in headers],
        tablefmt="github",
        **options,
    )
