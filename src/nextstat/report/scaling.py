"""How cost grows: where a table's cases include three or more sizes of one sized family
(``sizes.py``: std_normal_d2, _d10, _d100, ...), each engine's figures against the size on
log-log axes, the fitted slope, and where one engine overtakes another; likewise, per case,
against the chain count where a row is swept over it (``<label>_chains<n>`` rows, a suite
row's ``chains: [...]``)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from ..charts import save_figure
from ..sizes import chain_sweep_member, family_and_size
from ..summary_types import Row, median
from .formatting import num, slug
from .sink import CHARTS, Sink

#: at least this many sizes make a family a sweep
MIN_SIZES = 3
#: the figures plotted and fitted: (metric, axis label, higher is better)
FIGURES = (
    ("ess_bulk_per_s", "bulk ESS / s", True),
    ("ess_bulk_per_grad", "bulk ESS / gradient", True),
    ("sampling_us_per_grad", "µs / gradient", False),
    ("peak_rss_mb", "peak resident MiB", False),
)


@dataclass(frozen=True)
class Sweep:
    """One sweep: its title (the family, or the case a chain sweep ran on), what its axis
    counts (``d`` or ``chains``) and engine label -> size -> row."""

    title: str
    axis: str
    by_label: dict[str, dict[int, Row]]


def sweeps(rows: list[Row]) -> list[Sweep]:
    """The size sweeps (families with MIN_SIZES sizes or more), then the chain sweeps (per
    case, rows of one label at MIN_SIZES chain counts or more)."""
    sized: dict[str, dict[str, dict[int, Row]]] = defaultdict(lambda: defaultdict(dict))
    chained: dict[str, dict[str, dict[int, Row]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        member = chain_sweep_member(row["label"])
        if member and row["budget"]["chains"] == member[1]:
            chained[row["case"]][member[0]][member[1]] = row
            continue  # a chain sweep's rows belong to its own view, not to the size sweep
        family = family_and_size(row["case"])
        if family:
            sized[family[0]][row["label"]][family[1]] = row
    found = [Sweep(family, "d", dict(by_label)) for family, by_label in sorted(sized.items())]
    found += [Sweep(f"chains on {case}", "chains", dict(by_label)) for case, by_label in sorted(chained.items())]
    return [sweep for sweep in found if len({n for per in sweep.by_label.values() for n in per}) >= MIN_SIZES]


def swept_cases(rows: list[Row]) -> set[str]:
    """The cases that are sizes of a dimension sweep the scaling view shows."""
    return {
        row["case"]
        for sweep in sweeps(rows)
        if sweep.axis == "d"
        for per in sweep.by_label.values()
        for row in per.values()
    }


def slope(points: dict[int, float | None]) -> float | None:
    """The least-squares slope of log(figure) against log(size) over the sizes with a
    positive figure; None with fewer than MIN_SIZES of them."""
    usable = [(size, value) for size, value in sorted(points.items()) if value is not None and value > 0]
    if len(usable) < MIN_SIZES:
        return None
    x, y = np.log([s for s, _ in usable]), np.log([v for _, v in usable])
    return float(np.polyfit(x, y, 1)[0])


def crossovers(
    by_label: dict[str, dict[int, Row]], metric: str, higher_better: bool
) -> list[tuple[str, str, int, int]]:
    """(ahead above, ahead below, size below, size above) for every pair of engines whose
    order on ``metric`` swaps between two consecutive sizes both ran."""
    out = []
    for a, b in combinations(sorted(by_label), 2):
        sizes = sorted(set(by_label[a]) & set(by_label[b]))
        signs = []
        for size in sizes:
            va, vb = median(by_label[a][size]["metrics"].get(metric)), median(by_label[b][size]["metrics"].get(metric))
            signs.append(
                None if not va or not vb else math.copysign(1, math.log(va / vb) * (1 if higher_better else -1))
            )
        for (low, s_low), (high, s_high) in zip(zip(sizes, signs), zip(sizes[1:], signs[1:])):
            if s_low is not None and s_high is not None and s_low != s_high:
                winner, loser = (a, b) if s_high > 0 else (b, a)
                out.append((winner, loser, low, high))
    return out


def scaling(backend: str, device: str, rows: list[Row], sink: Sink) -> list[str]:
    found = sweeps(rows)
    if not found:
        return []
    lines = [
        "### How cost grows",
        "",
        "Each engine's figures against the size (the dimension d, or the number of chains) on log-log axes; the "
        "slope is the least-squares fit of log(figure) on log(size) over the sizes it ran (medians over seeds): "
        "ESS/s falling as d^-1.3 has slope -1.3. A crossover is a pair of consecutive sizes between which two "
        "engines swap places.",
        "",
    ]
    if any(sweep.axis == "chains" for sweep in found):
        lines += [
            "Against the chain count, µs per gradient is the wall time of a gradient of every chain together "
            "(lockstep chains share one), and ESS counts the chains a row diagnoses (its `report_chains`).",
            "",
        ]
    lines += _subset_notes(found)
    for sweep in found:
        family, by_label, axis = sweep.title, sweep.by_label, sweep.axis
        sizes = sorted({size for per in by_label.values() for size in per})
        chart = _chart(sweep, sink.out_dir / CHARTS / f"scaling_{slug(f'{backend}-{device}-{family}')}.png")
        table = []
        for label, per in sorted(by_label.items()):
            ess = {size: median(row["metrics"].get("ess_bulk_per_s")) for size, row in per.items()}
            table.append(
                [
                    f"`{label}`",
                    *[num(ess[size], 1) if size in ess else "—" for size in sizes],
                    *[_slope_text(per, metric) for metric, _, _ in FIGURES],
                ]
            )
        headers = [
            "engine",
            *[f"ESS/s at {axis} = {size}" for size in sizes],
            *[f"slope: {label}" for _, label, _ in FIGURES],
        ]
        name = slug(f"scaling_{backend}-{device}-{family}")
        lines += [
            f"**{family}**, {axis} = {', '.join(map(str, sizes))}",
            "",
            sink.table(name, table, headers, disable_numparse=True),
            "",
        ]
        # the crossovers named are on ESS/s, the wall-clock question (the chart shows the rest)
        passes = _passes(crossovers(by_label, "ess_bulk_per_s", higher_better=True))
        if passes:
            lines += [
                f"Crossovers on ESS/s ({family}): who overtakes whom between two consecutive sizes.",
                "",
                sink.table(
                    f"{name}_crossovers", passes, [f"{axis} from → to", "engine", "now ahead of"], disable_numparse=True
                ),
                "",
            ]
        elif len(by_label) > 1:
            lines += [f"No two engines swap places on ESS/s over {family}'s sizes.", ""]
        if chart:
            lines += [f"![{family}]({CHARTS}/{chart.name})"]
        lines.append("")
    return lines


def _subset_notes(found: list[Sweep]) -> list[str]:
    """Where a size sweep's row diagnoses fewer chains than it runs (``report_chains``), its
    ESS/s sets those chains' ESS against every chain's time: say by how much that undercounts."""
    subsets = sorted(
        {
            (label, int(row["settings"]["report_chains"]), int(row["budget"]["chains"]))
            for sweep in found
            if sweep.axis == "d"
            for label, per in sweep.by_label.items()
            for row in per.values()
            if 0 < int((row.get("settings") or {}).get("report_chains") or 0) < int(row["budget"]["chains"])
        }
    )
    if not subsets:
        return []
    each = "; ".join(f"`{label}` {report:,} of {chains:,} ({chains / report:g}x)" for label, report, chains in subsets)
    return [
        "ESS counts the chains a row diagnoses; a row that runs more in lockstep sets their ESS against the time of "
        f"every chain, so its ESS/s undercounts the ensemble's by chains run over chains diagnosed: {each}.",
        "",
    ]


def _passes(found: list[tuple[str, str, int, int]]) -> list[list[str]]:
    """Crossovers grouped: one line per (pair of sizes, engine ahead), naming every engine
    it passed there."""
    grouped: dict[tuple[int, int, str], list[str]] = defaultdict(list)
    for winner, loser, low, high in found:
        grouped[(low, high, winner)].append(loser)
    return [
        [f"{low} → {high}", f"`{winner}`", ", ".join(f"`{loser}`" for loser in sorted(losers))]
        for (low, high, winner), losers in sorted(grouped.items())
    ]


def _slope_text(per: dict[int, Row], metric: str) -> str:
    fitted = slope({size: median(row["metrics"].get(metric)) for size, row in per.items()})
    return "—" if fitted is None else f"{fitted:+.2f}"


def _chart(sweep: Sweep, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..charts import _tab10

    by_label = sweep.by_label
    colors = dict(zip(sorted(by_label), _tab10() * 3))
    fig, axes = plt.subplots(1, len(FIGURES), figsize=(3.6 * len(FIGURES), 3.4), dpi=110)
    drawn = False
    for ax, (metric, label, _) in zip(axes, FIGURES):
        for engine, per in sorted(by_label.items()):
            points = [(s, median(per[s]["metrics"].get(metric))) for s in sorted(per)]
            points = [(s, v) for s, v in points if v is not None and v > 0]
            if points:
                drawn = True
                ax.plot(*zip(*points), marker="o", ms=3, lw=1.2, color=colors[engine], label=engine)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(sweep.axis, fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="major")
    if not drawn:
        plt.close(fig)
        return None
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(len(labels), 5), fontsize=8, frameon=False)
    fig.suptitle(f"How cost grows: {sweep.title} (medians over seeds)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return save_figure(fig, path)
