"""How a suite wants its report to read (its configuration's ``report:`` block, kept in
the summary): which ratios lead, and which differences of settings are on purpose."""

from __future__ import annotations

from ..summary_types import DEFAULT_LEAD, HEADLINE_FIGURES, DeclaredDifference, FairnessFlag, Row, Summary, median
from .convergence import CONVERGE, SETTLE
from .formatting import num

#: many-chain suites lead with how fast the ensemble converged, what those samplers are built for
TRACED_LEAD = [SETTLE, CONVERGE, "ess_tail_per_grad", "ess_bulk_per_grad", "ess_bulk_per_s"]
#: the figures that are a sampling speed (seconds), not quoted where a side is callback-bound
TIME_FIGURES = ("ess_bulk_per_s", "ess_tail_per_s", "ess_bulk_per_s_end_to_end")
#: costs: fewer is better, their ratio is the reference's over the row's
COST_FIGURES = (
    SETTLE,
    CONVERGE,
    "b2_max_grads_per_chain",
    "b2_max_grads_per_chain_with_warmup",
    "b2_avg_grads_per_chain",
    "b2_avg_grads_per_chain_with_warmup",
)


#: a cost figure -> the figure every run that measured it has, whether or not it got there
MEASURED_BY = {
    SETTLE: "convergence_b2_final",
    CONVERGE: "convergence_b2_final",
    "b2_max_grads_per_chain": "b2_max_final",
    "b2_max_grads_per_chain_with_warmup": "b2_max_final",
    "b2_avg_grads_per_chain": "b2_avg_final",
    "b2_avg_grads_per_chain_with_warmup": "b2_avg_final",
}


def reached_text(row: Row, metric: str) -> str:
    """A cost's median over the seeds that got there, and how many did where some did not
    (— where no run measured it, as in artifacts made before it existed)."""
    final = row["metrics"].get(MEASURED_BY[metric])
    measured = final["n"] if final else 0
    stats = row["metrics"].get(metric)
    reached = stats["n"] if stats else 0
    if reached == measured:
        return num(median(stats))
    return f"{num(median(stats))} ({reached}/{measured} got there)" if reached else f"never (0/{measured})"


def lead_figures(summary: Summary) -> list[str]:
    """The headline figures in order: the suite's choice, else ESS/s first (or, where
    rows traced their ensemble's convergence, gradients per chain to settle first)."""
    chosen = (summary.get("presentation") or {}).get("lead")
    if chosen:
        return list(chosen)
    if any(median(r["metrics"].get("convergence_b2_final")) is not None for r in summary["rows"]):
        return list(TRACED_LEAD)
    return list(DEFAULT_LEAD)


def figure_name(metric: str) -> str:
    return HEADLINE_FIGURES[metric]


def present_figures(rows: list[Row], lead: list[str]) -> list[str]:
    """The lead figures some row of a table has a ratio for (a cost figure only where rows
    traced it; ESS/s only where some row is not callback-bound)."""
    return [metric for metric in lead if any(metric in r["ratios"] for r in rows)]


def declared(summary: Summary) -> list[DeclaredDifference]:
    return list((summary.get("presentation") or {}).get("declared") or [])


def is_declared(flag: FairnessFlag, differences: list[DeclaredDifference]) -> bool:
    """A fairness flag the suite declared on purpose: set aside the rows it names for the
    flag's setting, and the others agree."""
    labels = {label for d in differences if d["field"] == flag["field"] for label in d["labels"]}
    if not labels:
        return False
    rest = {repr(value) for label, value in flag["values"].items() if label not in labels}
    return len(rest) <= 1
