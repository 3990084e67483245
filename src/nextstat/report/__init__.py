"""REPORT.md and DETAILS.md from a suite summary.

REPORT.md is what a reader publishes and reads first, one screen of it whatever the
suite's size: a TL;DR, one headline table per backend and device with the suite's lead
figures against the reference engine, the charts, every run that needs a look (grouped,
never dropped), the protocol with its fairness lint, the environment. DETAILS.md holds the
rest: every figure of every row, the engines head to head, each posterior's ratios, the
health gate and correctness per seed, the environments' differences, the engines' own
settings, the harness's overhead.

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
from .calibration import calibration
from .checks import controls, correctness, failures, fairness, health
from .convergence import convergence
from .headline import headline_table, tldr
from .overview import environment, environment_differences, introduction, own_settings, protocol
from .posteriors import across_posteriors
from .provenance import details_introduction, files, harness, reproduce
from .published import published
from .results import caveats, charts, head_to_head, results_heading, results_table, timings
from .scaling import scaling
from .sink import Sink

__all__ = ["write_report", "REPORT", "DETAILS"]

REPORT, DETAILS = "REPORT.md", "DETAILS.md"


def write_report(summary: Summary, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    sink = Sink(out_dir)
    tables = by_table(summary["rows"])
    main = introduction(summary)
    main += tldr(summary, tables, reading=(out_dir / "READING.md").exists())
    details = details_introduction(summary)
    for (backend, device), rows in tables.items():
        # many chains: how fast each ensemble converged leads, what those samplers are built for
        main += [*results_heading(backend, device), *convergence(summary, backend, device, rows, sink)]
        main += headline_table(summary, backend, device, rows, sink)
        main += caveats(rows)
        overview, across = across_posteriors(summary, backend, device, rows, sink)
        main += overview
        main += charts(summary, backend, device, rows, sink)
        main += scaling(backend, device, rows, sink)
        details += results_table(summary, backend, device, rows, sink)
        details += head_to_head(summary, backend, device, rows, sink)
        details += across
    main += published(summary, sink)
    main += calibration(summary, sink)
    main += timings(summary, sink)
    main += failures(summary)
    main += protocol(summary, sink)
    main += fairness(summary)
    main += environment(summary)
    details += health(summary, sink)
    details += controls(summary)
    details += correctness(summary, sink)
    details += environment_differences(summary)
    details += own_settings(summary)
    details += harness(summary)
    main += files(out_dir, exclude=(REPORT, DETAILS))
    main += reproduce(summary)
    # the summary beside the report: `nextstat reproduce <report folder>` reruns its runs from it
    write_json(out_dir / "summary.json", summary, SUMMARY_SCHEMA)
    _write(out_dir / DETAILS, details)
    return _write(out_dir / REPORT, main)


def _write(path: Path, lines: list[str]) -> Path:
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
