"""How cost grows: where a table's cases include three or more sizes of one sized family
(``sizes.py``: std_normal_d2, _d10, _d100, ...), each engine's figures against the size on
log-log axes, the fitted slope, and where one engine overtakes another."""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

from ..sizes import family_and_size
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


def sweeps(rows: list[Row]) -> dict[str, dict[str, dict[int, Row]]]:
    """family -> engine label -> size -> row, for the families with MIN_SIZES sizes or more."""
    found: dict[str, dict[str, dict[int, Row]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        sized = family_and_size(row["case"])
        if sized:
            found[sized[0]][row["label"]][sized[1]] = row
    return {
        family: dict(by_label)
        for family, by_label in sorted(found.items())
        if len({size for sizes in by_label.values() for size in sizes}) >= MIN_SIZES
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
        "Each engine's figures against the size (the dimension d) on log-log axes; the slope is the "
        "least-squares fit of log(figure) on log(d) over the sizes it ran (medians over seeds): ESS/s falling as "
        "d^-1.3 has slope -1.3. A crossover is a pair of consecutive sizes between which two engines swap places.",
        "",
    ]
    for family, by_label in found.items():
        sizes = sorted({size for per in by_label.values() for size in per})
        chart = _chart(family, by_label, sink.out_dir / CHARTS / f"scaling_{slug(f'{backend}-{device}-{family}')}.png")
        table = []
        for label, per in sorted(by_label.items()):
            ess = {size: median(row["metrics"].get("ess_bulk_per_s")) for size, row in per.items()}
            first, last = min(per), max(per)
            table.append(
                [
                    f"`{label}`",
                    ", ".join(str(s) for s in sorted(per)),
                    f"{num(ess[first], 1)} → {num(ess[last], 1)}",
                    *[_slope_text(per, metric) for metric, _, _ in FIGURES],
                ]
            )
        headers = ["engine", "d", "ESS/s, smallest → largest d", *[f"slope: {label}" for _, label, _ in FIGURES]]
        name = slug(f"scaling_{backend}-{device}-{family}")
        lines += [
            f"**{family}**, d = {', '.join(map(str, sizes))}",
            "",
            sink.table(name, table, headers, disable_numparse=True),
            "",
        ]
        swaps = [
            f"{label}: `{winner}` ahead of `{loser}` from d = {high} (behind at d = {low})"
            for metric, label, better in FIGURES[:2]
            for winner, loser, low, high in crossovers(by_label, metric, better)
        ]
        lines += [f"- Crossovers ({family}): " + ("; ".join(swaps) if swaps else "none: no two engines swap places.")]
        if chart:
            lines += ["", f"![{family}]({CHARTS}/{chart.name})"]
        lines.append("")
    return lines


def _slope_text(per: dict[int, Row], metric: str) -> str:
    fitted = slope({size: median(row["metrics"].get(metric)) for size, row in per.items()})
    return "—" if fitted is None else f"{fitted:+.2f}"


def _chart(family: str, by_label: dict[str, dict[int, Row]], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..charts import _tab10

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
        ax.set_xlabel("d", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="major")
    if not drawn:
        plt.close(fig)
        return None
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(len(labels), 5), fontsize=8, frameon=False)
    fig.suptitle(f"How cost grows: {family} (medians over seeds)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
