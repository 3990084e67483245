"""How the report writes numbers, spreads, ratios and names."""

from __future__ import annotations

import re
from typing import Any

from ..summary_types import Ratio, Stats


def num(value: float | None, digits: int = 0) -> str:
    """A figure with thousands separators; — where there is none."""
    if value is None:
        return "—"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def pm(stats: Stats | None, digits: int = 0) -> str:
    """Median ± standard deviation over seeds."""
    if not stats:
        return "—"
    return f"{num(stats['median'], digits)} ± {num(stats['std'], digits)}"


def ratio_text(ratio: Ratio | None) -> str:
    """The ratio of medians and, in brackets, its envelope over seeds."""
    if not ratio:
        return "—"
    text = f"{ratio['ratio_of_medians']:.2f}x"
    bounds = ratio.get("envelope")
    if bounds:
        low, high = bounds
        text += f" [{low:.2f}, {high:.2f}]"
    return text


def time_ratio_text(row, metric: str) -> str:
    """An ESS/s ratio column: the ratio, or why it is not quoted (a callback-bound side)."""
    withheld = row.get("time_ratios_withheld")
    if withheld and not row["ratios"].get(metric):
        return not_quoted(withheld)
    return ratio_text(row["ratios"].get(metric))


def not_quoted(callback_bound: list[str]) -> str:
    """In place of an ESS/s ratio where a side's time is a callback's (rows' labels)."""
    return "not quoted: " + ", ".join(f"`{label}`" for label in callback_bound) + " callback-bound"


def seeds_text(seeds: list[int]) -> str:
    """Seeds as a reader scans them: a run of consecutive seeds as its range (1-30)."""
    ordered = sorted(seeds)
    if len(ordered) > 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]} ({len(ordered)} seeds)"
    return ", ".join(map(str, ordered))


def slug(text: str) -> str:
    """A file-name part: lower case letters and digits joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def brief(value: Any) -> str:
    """A value on one line: a mapping as key=value pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
