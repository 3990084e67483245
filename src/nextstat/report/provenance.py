"""Where the figures come from: the harness's overhead, the benchmarks kept beside the
report, and the command that reproduces a run."""

from __future__ import annotations

from pathlib import Path

from ..summary_types import Summary


def harness(summary: Summary) -> list[str]:
    h = summary["harness"]
    lines = ["## Harness overhead", ""]
    if h["harness_share_of_runs"] is not None:
        lines.append(
            f"Run processes took {h['run_process_s']:.1f} s in all, of which the engines (compile, warmup, "
            f"sampling and their frontends) took {h['engine_wall_s']:.1f} s; the harness's own work (process start, "
            f"imports, fingerprint, diagnostics, writing) took {h['harness_s']:.1f} s, "
            f"**{100 * h['harness_share_of_runs']:.1f}%**."
        )
    rule_wall = h.get("rule_wall_s")
    if rule_wall:
        lines.append("")
        lines.append(
            "Wall time per workflow stage (Snakemake benchmarks): "
            + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in rule_wall.items())
            + "."
        )
    return lines + [""]


def details_introduction(summary: Summary) -> list[str]:
    return [
        f"# nextstat report: `{summary['suite']}`, the details",
        "",
        "Every figure behind [REPORT.md](REPORT.md): each row's figures, the engines head to head, each "
        "case's ratios, the health gate and correctness per run, the environments, the engines' own settings "
        f"and the harness's overhead. Figures are medians over seeds; ratios are against "
        f"`{summary['reference_engine']}` on the same case, backend and device. Every table is also a CSV in "
        "[tables/](tables).",
        "",
    ]


def files(out_dir: Path, exclude: tuple[str, ...]) -> list[str]:
    """The report's other files: DETAILS.md, the CSV tables, and the markdown kept beside it
    (side-by-side benchmarks, ``nextstat.benchmarks``, and notes on reading the figures),
    each under its own first heading."""
    found = []
    for path in sorted(out_dir.glob("*.md")):
        if path.name in exclude:
            continue
        heading = next(
            (line.lstrip("# ").strip() for line in path.read_text().splitlines() if line.startswith("#")), path.stem
        )
        found.append(f"- [{path.name}]({path.name}): {heading}")
    lines = [
        "## More",
        "",
        "- [DETAILS.md](DETAILS.md): every figure of every row and run, per seed.",
        "- [tables/](tables): every table of both files as CSV.",
    ]
    if found:
        lines += ["", "Kept beside this report (side-by-side benchmarks and notes on reading the figures):", "", *found]
    return lines + [""]


def reproduce(summary: Summary) -> list[str]:
    example = next((r for r in summary["runs"] if r["status"] == "ok"), summary["runs"][0])
    # summaries written before aggregate kept each run's command name the run instead
    command = example.get("command") or (
        f"nextstat run --case {example['case']} --engine {example['engine']} --seed {example['seed']} ..."
    )
    return [
        "## Reproduce",
        "",
        "Every run artifact records the command that reproduces it, e.g.:",
        "",
        "```",
        command,
        "```",
        "",
        "`nextstat reproduce` reruns this report's runs from `summary.json` beside it and says, per run, whether "
        "it reproduced exactly (same code, software, CPU and seed: identical draws), statistically (posterior "
        "means, ESS per gradient and health as recorded, with what differs listed) or not: "
        "`nextstat reproduce <this folder> --sample 1` reruns one seed per row, and in a clone of nextstat "
        "`--checkout auto` reruns each run with the commit it ran at (found by its recorded source digest).",
        "",
    ]
