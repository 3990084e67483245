"""Micro-benchmarks that print their figures: ``python -m nextstat.benchmarks.<name>``."""

from typing import cast


def min_bulk_and_tail_ess(draws, names) -> tuple[float, float]:
    """The minimum bulk and tail ESS over parameters of ``(chain, draw, parameter)``
    draws, as every run artifact reports them (``diagnostics.parameter_summary``)."""
    from ..diagnostics import parameter_summary

    # read as numbers: the minima below take every ESS to be finite
    summary = cast(dict[str, dict[str, float]], parameter_summary(draws, tuple(names)))
    return min(p["ess_bulk"] for p in summary.values()), min(p["ess_tail"] for p in summary.values())


def ratio_summary_cells(ratios: dict[str, list[float]]) -> list[str]:
    """A summary row's cells from per-case ratios to a baseline: the median and the worst
    bulk ratio, the median with warmup gradients counted, the median and the worst tail."""
    from statistics import median

    bulk, tail = ratios["bulk"], ratios["tail"]
    return [
        f"{median(bulk):.2f}x",
        f"{min(bulk):.2f}x",
        f"{median(ratios['bulk_with_warmup']):.2f}x",
        f"{median(tail):.2f}x",
        f"{min(tail):.2f}x",
    ]
