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
    if ratio.get("envelope"):
        low, high = ratio["envelope"]
        text += f" [{low:.2f}, {high:.2f}]"
    return text


def slug(text: str) -> str:
    """A file-name part: lower case letters and digits joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def brief(value: Any) -> str:
    """A value on one line: a mapping as key=value pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
