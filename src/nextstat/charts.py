"""Charts for the report: grouped bars per case and engine, medians with the min/max envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def grouped_bars(rows: list[dict[str, Any]], metric: str, ylabel: str, title: str, path: Path) -> Path | None:
    """One group of bars per case, one bar per engine label: median over seeds, whiskers
    from the smallest to the largest seed. Log scale, since engines differ by factors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = sorted({r["case"] for r in rows})
    labels = sorted({r["label"] for r in rows})
    values = {(r["case"], r["label"]): r["metrics"].get(metric) for r in rows}
    if not any(values.values()):
        return None
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.9 * len(cases) + 2.0), 4.2), dpi=110)
    colors = plt.get_cmap("tab10").colors
    for i, label in enumerate(labels):
        x = np.arange(len(cases)) + (i - (len(labels) - 1) / 2) * width
        stats = [values.get((case, label)) for case in cases]
        median = np.array([s["median"] if s else np.nan for s in stats])
        low = np.array([s["median"] - s["min"] if s else 0.0 for s in stats])
        high = np.array([s["max"] - s["median"] if s else 0.0 for s in stats])
        ax.bar(x, median, width * 0.92, label=label, color=colors[i % len(colors)],
               yerr=np.vstack([low, high]), capsize=3, error_kw={"elinewidth": 1, "ecolor": "0.25"})
        for xi, m in zip(x, median):
            if np.isfinite(m):
                ax.annotate(_short(m), (xi, m), textcoords="offset points", xytext=(0, 3), ha="center",
                            va="bottom", fontsize=7, rotation=90 if len(labels) > 3 else 0)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(cases)), cases)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.margins(y=0.25)
    ax.grid(axis="y", which="major", alpha=0.35)
    ax.legend(fontsize=8, frameon=False, ncols=min(len(labels), 4), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _short(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"
