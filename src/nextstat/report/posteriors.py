"""Across many posteriors: each engine row's ESS per gradient relative to the reference
engine as a distribution over posteriors (median, quartiles, worst), the figure sampler
papers use, then the per-posterior ratios with each posterior's failures named."""

from __future__ import annotations

import numpy as np

from ..charts import sorted_ratios
from ..summary_types import Row, Summary, median, ratio_of_medians
from .formatting import not_quoted, num, slug
from .presentation import lead_figures
from .sink import CHARTS, Sink

#: a table with at least this many cases gets the view
MANY_CASES = 8
#: the ratios the view shows: (metric, column name)
VIEWED = (
    ("ess_bulk_per_grad", "bulk ESS/grad"),
    ("ess_bulk_per_grad_with_warmup", "bulk ESS/grad, warmup grads counted"),
    ("ess_tail_per_grad", "tail ESS/grad"),
)

#: the pairs of same-adaptation rows also compare bulk ESS/s, where neither row is callback-bound
PER_SECOND = "ess_bulk_per_s"

#: per metric, per engine row, per case: the row's ratio to the reference
Ratios = dict[str, dict[str, dict[str, float]]]


def _viewed(summary: Summary, rows: list[Row]) -> tuple[list[str], list[str], Ratios] | None:
    """The cases, the engine rows other than the reference and their ratios per metric and
    case; None where the table has too few cases or no reference row."""
    ref = summary["reference_engine"]
    cases = sorted({r["case"] for r in rows})
    if len(cases) < MANY_CASES or not any(r["label"] == ref for r in rows):
        return None
    labels = sorted({r["label"] for r in rows if r["label"] != ref}, key=lambda label: ours_first(summary, label))
    ratios = {metric: {label: _ratios(rows, label, metric) for label in labels} for metric, _ in VIEWED}
    return cases, labels, ratios


def across_posteriors(
    summary: Summary, backend: str, device: str, rows: list[Row], sink: Sink
) -> tuple[list[str], list[str]]:
    """The view across many posteriors, for REPORT.md (the sorted-ratio chart, our rows
    against another library's with the same metric adaptation) and for DETAILS.md (each
    row's bulk, warmup-counted and tail ratios over the posteriors, then per posterior, our
    other samplers against our NUTS, the same-adaptation pairs per posterior); nothing
    where the table has too few cases or no reference row."""
    viewed = _viewed(summary, rows)
    if viewed is None:
        return [], []
    cases, labels, ratios = viewed
    ref = summary["reference_engine"]
    name = slug(f"{backend}-{device}")
    overview: list[str] = []
    chart = sorted_ratios(
        {label: ratios["ess_bulk_per_grad"][label] for label in labels},
        {label: ratios["ess_tail_per_grad"][label] for label in labels},
        ref,
        f"ESS per gradient relative to {ref}, posteriors sorted by ratio\n{backend.upper()}, {device}: "
        "ratio of medians over seeds",
        sink.chart(f"sorted_ratios_{name}.png"),
    )
    if chart:
        overview += [f"![ESS per gradient relative to {ref}, sorted]({CHARTS}/{chart.name})", ""]
    overview += _same_adaptation_pairs(summary, rows, cases, sink, name, per_posterior=False)
    details = [
        f"### Across {len(cases)} posteriors: ESS per gradient relative to `{ref}`",
        "",
        f"Per engine row, the ratio of its median ESS per gradient (over seeds) to `{ref}`'s on each posterior, "
        "summarised over the posteriors both ran: the median, the quartiles and the worst posterior. "
        "A ratio counts whatever the runs' health gates said; the failures are named per posterior below.",
        "",
    ]
    table = []
    for label in labels:
        cells: list[str] = [f"`{label}`"]
        for metric, _ in VIEWED:
            cells.append(distribution(np.array(list(ratios[metric][label].values()))))
        bulk = ratios["ess_bulk_per_grad"][label]
        cells.append(f"{sum(v < 1.0 for v in bulk.values())}/{len(bulk)}" if bulk else "—")
        table.append(cells)
    headers = ["engine", *(f"{title}: median [q25, q75], worst" for _, title in VIEWED), "posteriors below 1x (bulk)"]
    details += [sink.table(f"across_posteriors_{name}", table, headers, disable_numparse=True), ""]
    details += _per_posterior(rows, labels, ref, cases, ratios, sink, name)
    if lead_figures(summary)[0] == PER_SECOND:  # where ESS/s leads, per posterior too
        details += _per_posterior_per_second(rows, labels, ref, cases, sink, name)
    details += _ours_pairs(summary, rows, cases, sink, name)
    details += _same_adaptation_pairs(summary, rows, cases, sink, name, per_posterior=True)
    return overview, details


def ours_first(summary: Summary, label: str) -> tuple[bool, str]:
    """A sort key: our own engines' rows first, then by label."""
    info = summary["protocol"]["engines"].get(label)
    return (not (info and info.get("ours", False)), label)


def _ratios(rows: list[Row], label: str, metric: str) -> dict[str, float]:
    """case -> the row's ratio to the reference, where it has one."""
    found = {}
    for r in rows:
        ratio = r["ratios"].get(metric) if r["label"] == label else None
        if ratio:
            found[r["case"]] = ratio["ratio_of_medians"]
    return found


def distribution(values: np.ndarray, n_cases: int | None = None) -> str:
    """Ratios over cases: median [quartiles], worst; and on how many, where fewer than ``n_cases``."""
    if not len(values):
        return "—"
    q25, q50, q75 = np.quantile(values, [0.25, 0.5, 0.75])
    text = f"{q50:.2f}x [{q25:.2f}, {q75:.2f}], {values.min():.2f}x"
    return text if n_cases is None or len(values) == n_cases else f"{text} (on {len(values)})"


def _failures(row: Row | None) -> str:
    """What went wrong in a row's runs, briefly: unhealthy, incorrect, failed, skipped seeds."""
    if row is None:
        return "not run"
    marks = []
    if row["n_skipped"]:
        marks.append("skipped")
    if row["n_failed"]:
        marks.append(f"{row['n_failed']} failed")
    unhealthy = row["n_ok"] - row["health_passed"]
    if unhealthy:
        marks.append(f"{unhealthy} unhealthy")
    if row["correctness_failed"]:
        marks.append(f"{row['correctness_failed']} off reference")
    return ", ".join(marks)


def _per_posterior(rows, labels, ref, cases, ratios, sink, name) -> list[str]:
    by_key = {(r["case"], r["label"]): r for r in rows}
    table = []
    for case in cases:
        cells = [case, _failures(by_key.get((case, ref))) or "ok"]
        for label in labels:
            bulk = ratios["ess_bulk_per_grad"][label].get(case)
            tail = ratios["ess_tail_per_grad"][label].get(case)
            text = "—" if bulk is None else f"{bulk:.2f} / {'—' if tail is None else f'{tail:.2f}'}"
            problems = _failures(by_key.get((case, label)))
            cells.append(f"{text} ({problems})" if problems else text)
        table.append(cells)
    headers = ["posterior", f"`{ref}` runs", *(f"`{label}`" for label in labels)]
    return [
        f"#### Per posterior: bulk / tail ESS per gradient relative to `{ref}`",
        "",
        sink.table(f"per_posterior_{name}", table, headers, disable_numparse=True),
        "",
        "In brackets, what went wrong in a row's runs on that posterior (seeds that failed, were skipped, failed "
        "their health gate: R-hat, divergences, E-BFMI, ESS, or whose means are more than 4 MCSE from the "
        "reference); the health section lists each failed check.",
        "",
    ]


def _per_posterior_per_second(rows, labels, ref, cases, sink, name) -> list[str]:
    """Bulk ESS/s relative to the reference per posterior, for the rows that are not
    callback-bound (theirs would measure the callback), with each row's own figure."""
    by_key = {(r["case"], r["label"]): r for r in rows}
    bound = {r["label"] for r in rows if r.get("callback_bound")}
    quoted = [label for label in labels if label not in bound]
    if not quoted or ref in bound:
        return []
    table = []
    for case in cases:
        mine = by_key.get((case, ref))
        cells = [case, num(median(mine["metrics"].get(PER_SECOND)), 0) if mine else "not run"]
        for label in quoted:
            row = by_key.get((case, label))
            ratio = ratio_of_medians(
                row["metrics"].get(PER_SECOND) if row else None, mine["metrics"].get(PER_SECOND) if mine else None, ref
            )
            cells.append("—" if ratio is None else f"{ratio['ratio_of_medians']:.2f}x")
        table.append(cells)
    left_out = f" (not quoted, callback-bound: {', '.join(f'`{label}`' for label in sorted(bound))})" if bound else ""
    return [
        f"#### Per posterior: bulk ESS/s relative to `{ref}`",
        "",
        f"Medians over seeds; `{ref}`'s own ESS/s in its column, each other row's as a ratio to it{left_out}.",
        "",
        sink.table(
            f"per_posterior_per_second_{name}",
            table,
            ["posterior", f"`{ref}` ESS/s", *(f"`{label}`" for label in quoted)],
            disable_numparse=True,
        ),
        "",
    ]


def _ours_pairs(summary: Summary, rows: list[Row], cases: list[str], sink: Sink, name: str) -> list[str]:
    """Each of our other samplers against our NUTS (the row labelled as its engine, with its
    default settings), per posterior: where ``method="auto"`` learns which to pick."""
    engines = summary["protocol"]["engines"]
    ours = {label: e for label, e in engines.items() if e.get("ours")}
    nuts_label = next((label for label, e in ours.items() if e.get("nuts") and label == e["engine"]), None)
    others = [label for label, e in ours.items() if not e.get("nuts")]
    if nuts_label is None or not others:
        return []
    by_key = {(r["case"], r["label"]): r for r in rows}
    table = []
    for case in cases:
        nuts = by_key.get((case, nuts_label))
        if nuts is None:
            continue
        cells = [case]
        for label in others:
            mine = by_key.get((case, label))
            for metric in ("ess_bulk_per_grad", "ess_tail_per_grad"):
                ratio = ratio_of_medians(
                    mine["metrics"].get(metric) if mine else None, nuts["metrics"].get(metric), nuts_label
                )
                cells.append("—" if ratio is None else f"{ratio['ratio_of_medians']:.2f}x")
        table.append(cells)
    headers = ["posterior", *(f"`{label}` {kind}" for label in others for kind in ("bulk", "tail"))]
    return [
        f"#### Our other samplers against `{nuts_label}`, per posterior (ESS per gradient)",
        "",
        sink.table(f"ours_vs_nuts_{name}", table, headers, disable_numparse=True),
        "",
    ]


def _same_adaptation_pairs(
    summary: Summary, rows: list[Row], cases: list[str], sink: Sink, name: str, per_posterior: bool
) -> list[str]:
    """Pairs of rows that estimate the same metric: each of our rows against each other
    library's row that declares the same ``adaptation`` setting (two implementations of one
    estimator: our Fisher metric against nutpie's, say), and each of our other samplers
    against our NUTS with the same ``adaptation`` (or, both at their defaults, the rows
    labelled as their engines: our MAMS against our NUTS): summarised over posteriors, or
    per posterior."""
    engines = summary["protocol"]["engines"]
    ref = summary["reference_engine"]

    def adaptation(label: str):
        return engines[label].get("settings", {}).get("adaptation")

    def default(label: str) -> bool:
        return label == engines[label]["engine"]

    ours = [label for label, e in engines.items() if e.get("ours") and adaptation(label)]
    theirs = [label for label, e in engines.items() if not e.get("ours") and label != ref and adaptation(label)]
    our_nuts = [label for label in ours if engines[label].get("nuts")]
    groups = (
        (
            "same_adaptation",
            "Our rows against another library's with the same metric adaptation",
            [(mine, other) for mine in ours for other in theirs if adaptation(mine) == adaptation(other)],
        ),
        (
            "ours_same_adaptation",
            "Our other samplers against our NUTS with the same metric adaptation (or both at their defaults)",
            [
                (mine, other)
                for mine in ours
                if not engines[mine].get("nuts")
                for other in our_nuts
                if adaptation(mine) == adaptation(other) or (default(mine) and default(other))
            ],
        ),
    )
    lines: list[str] = []
    for key, title, pairs in groups:
        if pairs:
            lines += _pair_tables(key, title, pairs, adaptation, rows, cases, sink, name, per_posterior)
    return lines


def _pair_tables(key, title, pairs, adaptation, rows, cases, sink, name, per_posterior) -> list[str]:
    """One group of pairs (mine, other): per pair the ratio of medians over seeds on each
    posterior both ran, summarised over posteriors, or per posterior."""
    by_key = {(r["case"], r["label"]): r for r in rows}
    ratios: dict[tuple[str, str], dict[str, dict[str, float]]] = {
        pair: {metric: {} for metric in (*(m for m, _ in VIEWED), PER_SECOND)} for pair in pairs
    }
    bound: set[str] = set()  # rows whose ESS/s measures a callback: no ESS/s ratio for their pairs
    for (mine, other), found in ratios.items():
        for case in cases:
            a, b = by_key.get((case, mine)), by_key.get((case, other))
            bound |= {r["label"] for r in (a, b) if r and r.get("callback_bound")}
            for metric in found:
                if metric == PER_SECOND and any(r and r.get("callback_bound") for r in (a, b)):
                    continue
                ratio = ratio_of_medians(
                    a["metrics"].get(metric) if a else None, b["metrics"].get(metric) if b else None, other
                )
                if ratio:
                    found[metric][case] = ratio["ratio_of_medians"]
    if per_posterior:
        per_posterior_table = []
        for case in cases:
            cells = [case]
            for pair in pairs:
                bulk_ratio = ratios[pair]["ess_bulk_per_grad"].get(case)
                tail_ratio = ratios[pair]["ess_tail_per_grad"].get(case)
                tail_text = "—" if tail_ratio is None else f"{tail_ratio:.2f}"
                cells.append("—" if bulk_ratio is None else f"{bulk_ratio:.2f} / {tail_text}")
            per_posterior_table.append(cells)
        return [
            f"#### {title}, per posterior",
            "",
            "Bulk / tail ESS per gradient, the first row's over the second's (ratio of medians over seeds).",
            "",
            sink.table(
                f"{key}_per_posterior_{name}",
                per_posterior_table,
                ["posterior", *(f"`{mine}` / `{other}`" for mine, other in pairs)],
                disable_numparse=True,
            ),
            "",
        ]
    summary_table = []
    for (mine, other), found in ratios.items():
        bulk = found["ess_bulk_per_grad"]
        pair_bound = sorted({mine, other} & bound)
        both = (
            adaptation(mine) if adaptation(mine) == adaptation(other) else f"{adaptation(mine)} / {adaptation(other)}"
        )
        summary_table.append(
            [
                f"`{mine}` / `{other}`",
                both,
                *(distribution(np.array(list(found[metric].values()))) for metric, _ in VIEWED),
                not_quoted(pair_bound) if pair_bound else distribution(np.array(list(found[PER_SECOND].values()))),
                f"{sum(v < 1.0 for v in bulk.values())}/{len(bulk)}" if bulk else "—",
            ]
        )
    headers = [
        "first / second",
        "adaptation",
        *(f"{title}: median [q25, q75], worst" for _, title in VIEWED),
        "bulk ESS/s: median [q25, q75], worst",
    ]
    return [
        f"#### {title}",
        "",
        "Per pair, the ratio of the first row's median ESS per gradient (and per second, where neither row is "
        "callback-bound) over seeds to the second's on each posterior both ran, summarised over posteriors (per "
        "posterior in [DETAILS.md](DETAILS.md)).",
        "",
        sink.table(f"{key}_{name}", summary_table, [*headers, "posteriors below 1x (bulk)"], disable_numparse=True),
        "",
    ]
