"""The suite's simulation-based calibration (its ``sbc:`` block, ``summary["calibration"]``):
one line per case and engine row with its verdict, and the rank histograms."""

from __future__ import annotations

from ..sbc import rank_histograms
from ..summary_types import Summary
from .formatting import slug
from .sink import CHARTS, Sink


def calibration(summary: Summary, sink: Sink) -> list[str]:
    entries = summary.get("calibration") or []
    if not entries:
        return []
    table, charts = [], []
    for entry in sorted(entries, key=lambda e: (e["case"], e["label"])):
        p_values = entry["test"]["p_value"]
        worst = min(p_values, key=lambda name: p_values[name])
        failed = entry["miscalibrated_parameters"]
        table.append(
            [
                entry["case"],
                f"`{entry['label']}`",
                f"{entry['replications_done']}"
                + (f" ({len(entry.get('failures') or [])} failed)" if entry.get("failures") else ""),
                entry["verdict"] if not failed else f"**miscalibrated**: {', '.join(failed)}",
                f"{p_values[worst]:.2g} ({worst})",
                str(entry.get("replications_below_ess", 0)),
            ]
        )
        chart = rank_histograms(entry, sink.out_dir / CHARTS / f"sbc_{slug(entry['case'] + '-' + entry['label'])}.png")
        charts.append(f"![SBC {entry['label']} on {entry['case']}]({CHARTS}/{chart.name})")
    level = entries[0]["test"]["level_per_parameter"] * len(entries[0]["parameters"])
    return [
        "## Calibration (SBC)",
        "",
        "Simulation-based calibration: per replication, parameters drawn from the prior, data simulated from them, "
        "the engine's posterior draws thinned to about their ESS, and the rank of each true parameter among "
        f"{entries[0]['draws_per_rank']} of them; calibrated, every parameter's ranks are uniform. The verdict is a "
        f"chi-square test per parameter at level {level:g} split over the parameters (Bonferroni). 'below ESS' "
        "counts replications whose thinned draws were fewer than the ranks need (their draws are correlated, which "
        "pushes ranks towards the ends).",
        "",
        sink.table(
            "calibration",
            table,
            ["case", "engine", "replications", "verdict", "smallest p (parameter)", "below ESS"],
            disable_numparse=True,
        ),
        "",
        *charts,
        "",
    ]
