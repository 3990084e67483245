"""The suite's simulation-based calibration (its ``sbc:`` block, ``summary["calibration"]``):
one line per case and engine row with its verdict, the rank histograms and the rank ECDF
differences with their simultaneous band."""

from __future__ import annotations

from ..sbc import rank_histograms
from ..sbc_ecdf import BAND_PROB, band_exits, ecdf_difference_chart
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
        exits = band_exits(entry)
        table.append(
            [
                entry["case"],
                f"`{entry['label']}`",
                f"{entry['replications_done']}"
                + (f" ({len(entry.get('failures') or [])} failed)" if entry.get("failures") else ""),
                entry["verdict"] if not failed else f"**miscalibrated**: {', '.join(failed)}",
                f"{p_values[worst]:.2g} ({worst})",
                ", ".join(exits) or "none",
                str(entry.get("replications_below_ess", 0)),
            ]
        )
        stem = f"sbc_{slug(entry['case'] + '-' + entry['label'])}"
        chart = rank_histograms(entry, sink.out_dir / CHARTS / f"{stem}.png")
        ecdf = ecdf_difference_chart(entry, sink.out_dir / CHARTS / f"{stem}_ecdf.png")
        charts.append(
            f"![SBC {entry['label']} on {entry['case']}]({CHARTS}/{chart.name}) "
            f"![SBC rank ECDF, {entry['label']} on {entry['case']}]({CHARTS}/{ecdf.name})"
        )
    level = entries[0]["test"]["level_per_parameter"] * len(entries[0]["parameters"])
    return [
        "## Calibration (SBC)",
        "",
        "Simulation-based calibration: per replication, parameters drawn from the prior, data simulated from them, "
        "the engine's posterior draws thinned to about their ESS, and the rank of each true parameter among "
        f"{entries[0]['draws_per_rank']} of them; calibrated, every parameter's ranks are uniform. The verdict is a "
        f"chi-square test per parameter at level {level:g} split over the parameters (Bonferroni). 'below ESS' "
        "counts replications whose thinned draws were fewer than the ranks need (their draws are correlated, which "
        "pushes ranks towards the ends). The second opinion the SBC papers prefer: the ECDF of the ranks minus the "
        f"uniform CDF against its simultaneous {BAND_PROB:.0%} band (Säilynoja et al. 2022); 'outside the band' "
        "names the parameters that leave it anywhere (a calibrated parameter does so 5% of the time).",
        "",
        sink.table(
            "calibration",
            table,
            [
                "case",
                "engine",
                "replications",
                "verdict",
                "smallest p (parameter)",
                f"outside the {BAND_PROB:.0%} ECDF band",
                "below ESS",
            ],
            disable_numparse=True,
        ),
        "",
        *charts,
        "",
    ]
