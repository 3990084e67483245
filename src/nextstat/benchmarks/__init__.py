"""Micro-benchmarks that print their figures: ``python -m nextstat.benchmarks.<name>``."""


def min_bulk_and_tail_ess(draws, names) -> tuple[float, float]:
    """The minimum bulk and tail ESS over parameters of ``(chain, draw, parameter)``
    draws, as every run artifact reports them (``diagnostics.parameter_summary``)."""
    from ..diagnostics import parameter_summary

    summary = parameter_summary(draws, tuple(names))
    return min(p["ess_bulk"] for p in summary.values()), min(p["ess_tail"] for p in summary.values())
