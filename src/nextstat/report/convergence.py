"""Many-chain engines: gradients per chain until the ensemble's second moments match the
reference (``diagnostics.ensemble_convergence``), the many-chain papers' headline."""

from __future__ import annotations

from collections import defaultdict

from ..charts import convergence_curves
from ..diagnostics import CONVERGENCE_THRESHOLD, SETTLE_ITERATIONS
from ..summary_types import Row, RunRecord, Summary, median
from .formatting import num, pm, ratio_text, slug
from .sink import CHARTS, Sink

#: the many-chain convergence figures (costs: fewer gradients per chain is better): the
#: first crossing of the threshold, and the first that lasts (diagnostics.ensemble_convergence)
CONVERGE, SETTLE = "grads_per_chain_to_converge", "grads_per_chain_to_settle"


def convergence(summary: Summary, backend: str, device: str, rows: list[Row], sink: Sink) -> list[str]:
    ref = summary["reference_engine"]
    members = [r for r in rows if r["metrics"].get("convergence_b2_final")]
    if not members:
        return []
    runs = [
        run
        for run in summary["runs"]
        if run["backend"] == backend and run["device"] == device and run["status"] == "ok"
    ]
    table = []
    for r in sorted(members, key=lambda r: (r["case"], r["label"])):
        mine = [run for run in runs if run["case"] == r["case"] and run["label"] == r["label"]]
        traced = [run for run in mine if run["metrics"].get("convergence_b2_final") is not None]
        converged = sum(run["metrics"].get(CONVERGE) is not None for run in traced)
        settle_traced = [run for run in traced if run["metrics"].get("convergence_settle_iterations")]
        settled = sum(run["metrics"].get(SETTLE) is not None for run in settle_traced)
        table.append(
            [
                r["case"],
                r["label"],
                pm(r["metrics"].get(CONVERGE)),
                f"{converged}/{len(traced)}",
                ratio_text(r["ratios"].get(CONVERGE)),
                pm(r["metrics"].get(SETTLE)),
                f"{settled}/{len(settle_traced)}",
                ratio_text(r["ratios"].get(SETTLE)),
                num(median(r["metrics"].get("convergence_b2_final")), 4),
            ]
        )
    name = slug(f"{backend}-{device}")
    lines = [
        "### Ensemble convergence: gradients per chain until the moments match the reference",
        "",
        f"Per iteration, warmup included, the mean over **all** chains of each parameter's square is set "
        f"against the reference: b2 = max over parameters of (E_chains[x²] − E[x²])² / Var[x²]. A run "
        f"converges at the first iteration where b2 < {CONVERGENCE_THRESHOLD:g} (the squared bias of an estimate "
        "from about 100 independent draws); the figure is the gradients each chain had spent by then, a "
        "one-chain tuning run's included. This is the many-chain papers' headline: their ESS per gradient "
        f"is {1 / CONVERGENCE_THRESHOLD:g} over this count, so its ratio column is a ratio of that ESS per "
        f"gradient. A run **settles** at the first iteration that starts {SETTLE_ITERATIONS} in a row below "
        "the threshold: a dip that does not last (an unadjusted phase passing through the target on its way "
        "to a biased plateau) converges but does not settle. Both measure warmup and sampling together, "
        "from each engine's own start; the ESS per gradient of the results table measures sampling only, on "
        "the report chains.",
        "",
        sink.table(
            f"convergence_{name}",
            table,
            [
                "case",
                "engine",
                "grads/chain to converge (median ± std)",
                "runs converged",
                f"vs {ref} ({ref} / this)",
                "grads/chain to settle (median ± std)",
                "runs settled",
                f"vs {ref} ({ref} / this)",
                "final b2 (median)",
            ],
            disable_numparse=True,
        ),
        "",
        "Runs that never crossed (or settled) are left out of the median and counted beside it; artifacts "
        "made before the settle figure existed count as not traced for it (—).",
        "",
    ]
    lines += _variance_of_square_note(runs, members)
    chart = convergence_curves(
        [run for run in runs if run["label"] in {r["label"] for r in members}],
        CONVERGENCE_THRESHOLD,
        sink.chart(f"convergence_{name}.png"),
    )
    if chart:
        lines += [f"![Ensemble convergence]({CHARTS}/{chart.name})", ""]
    return lines


def _variance_of_square_note(runs: list[RunRecord], members: list[Row]) -> list[str]:
    """Which Var[x²] scaled b2, case by case: the reference draws' own, or the Gaussian
    form from mean and sd (exact for Gaussian marginals, too small for skewed ones)."""
    labels = {r["label"] for r in members}
    sources: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        variance = run.get("convergence_variance")
        if run["label"] in labels and variance:
            sources[run["case"]].add(variance)
    gaussian = sorted(case for case, found in sources.items() if "gaussian from mean and sd" in found)
    if not gaussian:
        return ["Var[x²] is each reference's own, measured over its draws.", ""]
    return [
        f"Var[x²] is each reference's own, measured over its draws, except on {', '.join(gaussian)}: there "
        "(analytic references, or runs made before the references kept it) it is the Gaussian 2 sd⁴ + 4 mean² "
        "sd², exact for a Gaussian marginal and too small for a skewed one, which inflates b2 and its noise "
        "floor.",
        "",
    ]
