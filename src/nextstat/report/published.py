"""A publication's printed figures beside this suite's (the suite's ``report.published``):
a paper's table reproduced row by row, with the ratio that says who needed less."""

from __future__ import annotations

from ..summary_types import PublishedFigure, Row, Summary, median
from .formatting import num
from .presentation import COST_FIGURES, MEASURED_BY, figure_name, reached_text
from .sink import Sink


def published(summary: Summary, sink: Sink) -> list[str]:
    block = (summary.get("presentation") or {}).get("published")
    if not block:
        return []
    devices = {(r["backend"], r["device"]) for r in summary["rows"]}
    table = []
    for entry in block["figures"]:
        for label in entry["labels"]:
            mine = [r for r in summary["rows"] if r["case"] == entry["case"] and r["label"] == label]
            if not mine:
                table.append(_row(entry, label, None, many_devices=False))
            for row in sorted(mine, key=lambda r: (r["backend"], r["device"])):
                table.append(_row(entry, label, row, many_devices=len(devices) > 1))
    lines = [
        "## Against the published figures",
        "",
        f"Published: {block['source']}. Each of the paper's samplers is set beside this suite's rows that stand for "
        "it; the ratio is the published figure over this suite's for a cost (gradients: above 1, the row here needed "
        "fewer) and this suite's over the published for an efficiency (above 1, the row here did better). This "
        "suite's figure is the median over its seeds, for a cost over the seeds that got there (how many did, where "
        "some did not).",
        "",
    ]
    if block.get("note"):
        lines += [block["note"], ""]
    lines.append(
        sink.table(
            "published",
            table,
            [
                "case",
                "published sampler",
                "figure",
                "published",
                "row here",
                "here",
                "ratio (above 1: the row here did better)",
            ],
            disable_numparse=True,
        )
    )
    return [*lines, ""]


def _row(entry: PublishedFigure, label: str, row: Row | None, many_devices: bool) -> list[str]:
    metric = entry["figure"]
    shown = f"> {num(entry['value'])}" if entry.get("above") else _value(metric, entry["value"])
    name = f"`{label}`" + (f" ({row['backend']}, {row['device']})" if row and many_devices else "")
    head = [entry["case"], entry["sampler"], figure_name(metric).split(" (")[0], shown, name]
    if row is None:
        return [*head, "not in this suite", "—"]
    ours = median(row["metrics"].get(metric))
    text = reached_text(row, metric) if metric in MEASURED_BY else _value(metric, ours)
    return [*head, text, _ratio(entry, metric, ours)]


def _value(metric: str, value: float | None) -> str:
    return num(value) if metric in COST_FIGURES else num(value, 4)


def _ratio(entry: PublishedFigure, metric: str, ours: float | None) -> str:
    if not ours:
        return "—"
    if metric in COST_FIGURES:
        ratio = entry["value"] / ours
        return f"> {ratio:,.2f}x" if entry.get("above") else f"{ratio:,.2f}x"
    if entry.get("above"):  # the paper did better than a value: ours over it is an upper bound
        return f"< {ours / entry['value']:,.2f}x"
    return f"{ours / entry['value']:,.2f}x"
