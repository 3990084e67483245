"""Charts for the report: grouped bars per case and engine, medians with the min/max envelope."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np

from .summary_types import Row, RunRecord, Spread, TimingRecord, median, ratio_spread, timing_modes


def grouped_bars(rows: list[Row], metric: str, ylabel: str, title: str, path: Path) -> Path | None:
    """One group of bars per case, one bar per engine label: median over seeds, whiskers
    from the smallest to the largest seed. Log scale, since engines differ by factors."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = sorted({r["case"] for r in rows})
    labels = sorted({r["label"] for r in rows})
    values = {(r["case"], r["label"]): r["metrics"].get(metric) for r in rows}
    if not any(values.values()):
        return None
    width = 0.8 / len(labels)
    many = len(cases) > 6  # narrower groups, rotated labels: the chart stays readable on a page
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, (1.25 if many else 1.9) * len(cases) + 2.0)), 4.6), dpi=110)
    vertical = many or len(labels) > 4
    colors = _tab10()
    for i, label in enumerate(labels):
        x = np.arange(len(cases)) + (i - (len(labels) - 1) / 2) * width
        stats = [values.get((case, label)) for case in cases]
        centre, low, high = _bar_heights([median(s) for s in stats], stats)
        ax.bar(
            x,
            centre,
            width * 0.92,
            label=label,
            color=colors[i % len(colors)],
            yerr=np.vstack([low, high]),
            capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "0.25"},
        )
        for xi, m, top in zip(x, centre, centre + high):
            if np.isfinite(m):  # above the whisker, so the label never sits on it
                ax.annotate(
                    _short(m),
                    (xi, top),
                    textcoords="offset points",
                    xytext=(0, 2),
                    ha="center",
                    va="bottom",
                    fontsize=6 if vertical else 7,
                    rotation=90 if vertical else 0,
                )
    ax.set_yscale("log")
    ax.set_xticks(
        np.arange(len(cases)),
        cases,
        rotation=20 if many else 0,
        ha="right" if many else "center",
        fontsize=8 if many else 10,
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.margins(y=0.25)
    ax.grid(axis="y", which="major", alpha=0.35)
    ax.legend(
        fontsize=8,
        frameon=False,
        ncols=min(len(labels), 4),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.3 if many else -0.1),
    )  # below the (rotated) case names
    fig.tight_layout()
    return save_figure(fig, path)


def ratio_bars(rows: list[Row], reference: str, title: str, path: Path) -> Path | None:
    """A panel each for ESS/s, bulk and tail ESS per gradient (those with ratios) as
    ratios to the reference engine: one group per case, one bar per other engine, the
    ratio of medians with the per-seed envelope as whiskers, on a log scale around the line at 1 (parity)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics: tuple[tuple[str, str], ...] = (
        ("ess_bulk_per_s", "ESS/s"),
        ("ess_bulk_per_grad", "ESS per gradient"),
        ("ess_tail_per_grad", "tail ESS per gradient"),
    )
    metrics = tuple((m, name) for m, name in metrics if any(r["ratios"].get(m) for r in rows))
    rated = [r for r in rows if any(r["ratios"].get(m) for m, _ in metrics)]
    if not rated:
        return None
    cases = sorted({r["case"] for r in rated})
    labels = sorted({r["label"] for r in rated})
    width = 0.8 / len(labels)
    colors = _tab10()
    all_labels = sorted({r["label"] for r in rows})  # the same colour per engine as in the other charts
    stacked = len(cases) > 4  # many cases: one panel above the other, each as wide as the page
    if stacked:
        fig, axes = plt.subplots(
            len(metrics),
            1,
            figsize=(min(16.0, max(8.0, 1.1 * len(cases) + 2.0)), 4.2 * len(metrics)),
            dpi=110,
            squeeze=False,
        )
    else:
        fig, axes = plt.subplots(
            1,
            len(metrics),
            figsize=(max(8.0, 1.6 * len(metrics) * len(cases) + 2.0), 4.4),
            dpi=110,
            sharey=True,
            squeeze=False,
        )
    panels = list(axes.flat)
    for ax, (metric, name) in zip(panels, metrics):
        for i, label in enumerate(labels):
            x = np.arange(len(cases)) + (i - (len(labels) - 1) / 2) * width
            ratios = [
                next((r["ratios"].get(metric) for r in rated if r["case"] == c and r["label"] == label), None)
                for c in cases
            ]
            value, low, high = _bar_heights(
                [q["ratio_of_medians"] if q else None for q in ratios], [ratio_spread(q) if q else None for q in ratios]
            )
            ax.bar(
                x,
                value,
                width * 0.92,
                label=label,
                color=colors[all_labels.index(label) % len(colors)],
                yerr=np.vstack([low, high]),
                capsize=3,
                error_kw={"elinewidth": 1, "ecolor": "0.25"},
            )
            for xi, v, top in zip(x, value, value + high):
                if np.isfinite(v):
                    ax.annotate(
                        f"{v:.2f}x",
                        (xi, top),
                        textcoords="offset points",
                        xytext=(0, 2),
                        ha="center",
                        va="bottom",
                        fontsize=6 if len(labels) * len(cases) > 8 else 7,
                        rotation=90 if len(labels) * len(cases) > 12 and not stacked else 0,
                    )
        ax.axhline(1.0, color="0.2", linewidth=1, linestyle="--")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.yaxis.set_minor_formatter(
            matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x" if f"{v:g}"[0] in "25" else "")
        )
        ax.set_xticks(
            np.arange(len(cases)),
            cases,
            rotation=20 if len(cases) > 3 else 0,
            ha="right" if len(cases) > 3 else "center",
            fontsize=8,
        )
        ax.set_title(f"{name} / {reference}", fontsize=10)
        ax.set_ylabel(f"ratio to {reference} (1 = parity)" if stacked or ax is panels[0] else "")
        ax.margins(y=0.2)
        ax.grid(axis="y", which="both", alpha=0.3)
    handles, names = panels[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, frameon=False, ncols=min(len(labels), 4), loc="lower center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05 if stacked else 0.08, 1, 1))
    return save_figure(fig, path)


def _bar_heights(values: list[float | None], spreads: Sequence[Spread | None]) -> tuple[np.ndarray, ...]:
    """Bar heights (nan where a figure is missing) and the whiskers' lengths below and
    above them, to the range over seeds (none where there is no range)."""
    height = np.array([np.nan if v is None else v for v in values])
    low = np.array([v - s["min"] if v is not None and s else 0.0 for v, s in zip(values, spreads)])
    high = np.array([s["max"] - v if v is not None and s else 0.0 for v, s in zip(values, spreads)])
    return height, low, high


def _tab10() -> tuple[tuple[float, float, float], ...]:
    """matplotlib's tab10 palette, its colours (RGB) in order: one per engine label."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    palette = cast(ListedColormap, plt.get_cmap("tab10"))
    return cast(tuple[tuple[float, float, float], ...], palette.colors)


def _short(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    if value >= 0.01:
        return f"{value:.3f}"
    return f"{value:.1e}"  # two significant digits, e.g. a pathological control's 1.4e-04


def start_times(timings: list[TimingRecord], path: Path) -> Path | None:
    """Time to result of each case x engine row, started cold, cached and warm (log scale)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [t for t in timings if t["status"] == "ok"]
    if not rows:
        return None
    rows.sort(key=lambda t: (t["case"], t["label"]))
    labels = [f"{t['case']}\n{t['label']}" for t in rows]
    modes = (("cold", "time_to_result_s"), ("cached", "time_to_result_s"), ("warm", "engine_wall_s"))
    height = 0.8 / len(modes)
    fig, ax = plt.subplots(figsize=(7.5, 0.2 * len(rows) * len(modes) + 1.5), dpi=110)
    for i, (mode, key) in enumerate(modes):
        y = np.arange(len(rows)) + (i - 1) * height
        values = [timing_modes(t)[mode][key] for t in rows]
        ax.barh(y, values, height * 0.9, label=f"{mode}", color=("#c0392b", "#e67e22", "#27ae60")[i])
        for yi, v in zip(y, values):
            ax.annotate(f"{v:.1f} s", (v, yi), textcoords="offset points", xytext=(3, 0), va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds to result (cold and cached: from process start; warm: the repeated run)")
    ax.set_title("Cold, cached and warm starts", fontsize=11)
    ax.margins(x=0.2)
    ax.grid(axis="x", alpha=0.35)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path)


def convergence_curves(runs: list[RunRecord], threshold: float, path: Path) -> Path | None:
    """One panel per case: the ensemble's squared second-moment bias (b2_max) against the
    cumulative gradients per chain, one line per run (colour by engine), log-log, with the
    convergence threshold drawn across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in runs if r.get("convergence_curve")]
    if not runs:
        return None
    cases = sorted({r["case"] for r in runs})
    labels = sorted({r["label"] for r in runs})
    colors = dict(zip(labels, _tab10()))
    columns = min(len(cases), 3)
    rows_n = -(-len(cases) // columns)
    fig, axes = plt.subplots(rows_n, columns, figsize=(4.2 * columns, 3.2 * rows_n + 0.6), dpi=110, squeeze=False)
    for ax, case in zip(axes.flat, cases):
        for run in (r for r in runs if r["case"] == case):
            curve = run["convergence_curve"] or []
            points = np.array([(g, b) for g, b in curve if b is not None and g > 0 and b > 0])
            if len(points):
                ax.plot(points[:, 0], points[:, 1], color=colors[run["label"]], lw=1.1, alpha=0.8)
        ax.axhline(threshold, color="0.3", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(case, fontsize=9)
        ax.set_xlabel("gradients per chain", fontsize=8)
        ax.set_ylabel("max squared bias of E[x²] / Var[x²]", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="major")
    for ax in list(axes.flat)[len(cases) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=colors[label], lw=2) for label in labels]
    fig.legend(handles, labels, loc="lower center", ncols=min(len(labels), 4), fontsize=8, frameon=False)
    fig.suptitle(f"Ensemble convergence (one line per seed; dashed: threshold {threshold:g})", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save_figure(fig, path)


def sorted_ratios(
    bulk: dict[str, dict[str, float]], tail: dict[str, dict[str, float]], reference: str, title: str, path: Path
) -> Path | None:
    """Two panels, bulk and tail ESS per gradient: per engine row, its ratios to the
    reference over posteriors, sorted from worst to best and spread over [0, 1] (the
    fraction of posteriors at or below a ratio), on a log axis with parity at 1."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(bulk.values()):
        return None
    colors = _tab10()
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.6), dpi=110, sharey=True)
    for ax, (panel, ratios) in zip(axes, (("bulk ESS per gradient", bulk), ("tail ESS per gradient", tail))):
        for i, (label, by_case) in enumerate(ratios.items()):
            values = np.sort(np.array(list(by_case.values()), dtype=float))
            if not len(values):
                continue
            fraction = (np.arange(len(values)) + 0.5) / len(values)
            ax.plot(
                fraction, values, marker="o", markersize=3, linewidth=1.2, label=label, color=colors[i % len(colors)]
            )
        ax.axhline(1.0, color="0.2", linewidth=1, linestyle="--")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of posteriors (sorted by ratio)")
        ax.set_title(f"{panel} / {reference}", fontsize=10)
        ax.grid(which="both", alpha=0.3)
    axes[0].set_ylabel(f"ratio to {reference} (1 = parity)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, frameon=False, ncols=min(len(names), 4), loc="lower center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return save_figure(fig, path)


def parameter_panels(names: Sequence[str], draw, title: str, path: Path) -> Path:
    """One small panel per parameter, five to a row: ``draw(ax, name)`` fills each; the
    unused panels are hidden, the title set and the figure saved."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(len(names), 5)
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.1 * rows + 0.5), dpi=110, squeeze=False)
    for ax, name in zip(axes.flat, names):
        draw(ax, name)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (its folder made where missing) and free it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
