"""REPORT.md from a suite summary: headline, protocol, environment, one table per
backend and device, health gates, correctness, fairness lint, failures, overhead.

The report reads the summary and nothing else (besides linking the other markdown files
in its folder): what it says about an engine, and the command that reproduces a run,
``aggregate`` wrote into the summary. Charts go to ``charts/`` and every table also to
``tables/<name>.csv`` beside the markdown: the Snakemake HTML report shows both folders
as report items."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..artifacts import SUMMARY_SCHEMA, write_json
from ..summary_types import Row, Summary
from .checks import controls, correctness, failures, fairness, health
from .convergence import convergence
from .overview import environment, introduction, protocol, tldr
from .posteriors import across_posteriors
from .provenance import beside, harness, reproduce
from .results import head_to_head, results_heading, results_table, timings
from .sink import Sink

__all__ = ["write_report"]


def write_report(summary: Summary, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    sink = Sink(out_dir)
    tables = by_table(summary["rows"])
    lines = introduction(summary)
    lines += tldr(summary, tables)
    lines += protocol(summary, sink)
    lines += environment(summary)
    for (backend, device), rows in tables.items():
        ensembles = convergence(summary, backend, device, rows, sink)
        # many posteriors: the distribution of each row's ratios over them comes before the long table
        ensembles += across_posteriors(summary, backend, device, rows, sink)
        figures = results_table(summary, backend, device, rows, sink)
        figures += head_to_head(summary, backend, device, rows, sink)
        # many chains: the table leads with how fast each ensemble converged, what those samplers are built for
        lines += [*results_heading(backend, device), *ensembles, *figures]
    lines += timings(summary, sink)
    lines += health(summary, sink)
    lines += controls(summary)
    lines += correctness(summary, sink)
    lines += fairness(summary)
    lines += failures(summary)
    lines += harness(summary)
    lines += beside(out_dir)
    lines += reproduce(summary)
    # the summary beside the report: `nextstat reproduce <report folder>` reruns its runs from it
    write_json(out_dir / "summary.json", summary, SUMMARY_SCHEMA)
    path = out_dir / "REPORT.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines).rstrip() + "\n")
    tmp.replace(path)
    return path


def by_table(rows: list[Row]) -> dict[tuple[str, str], list[Row]]:
    """Rows grouped by backend and device: no table mixes CPU with GPU, or two devices."""
    tables: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        tables[(row["backend"], row["device"])].append(row)
    return dict(sorted(tables.items()))
