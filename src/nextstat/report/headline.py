"""The report's first screen: a TL;DR of a few lines whatever the suite's size, and one
headline table per backend and device with the suite's lead figures against the
reference engine (a row per case and engine, or, over many cases, a row per engine with
the distribution of its ratios over the cases)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..summary_types import Row, Summary, median
from .checks import missed_reference, undeclared_flags
from .formatting import num, ratio_text, seeds_text, slug
from .posteriors import MANY_CASES, distribution, ours_first
from .presentation import COST_FIGURES, TIME_FIGURES, figure_name, lead_figures, present_figures
from .scaling import swept_cases
from .sink import Sink

#: up to this many cases, the TL;DR quotes each case's ratio; above, the median over cases
CASES_NAMED = 3
#: engine rows the TL;DR names per table (the rest are in the table)
TLDR_ROWS = 6
#: the TL;DR names one bullet per table up to this many tables
TLDR_TABLES = 4


def tldr(summary: Summary, tables: dict[tuple[str, str], list[Row]], reading: bool) -> list[str]:
    ref = summary["reference_engine"]
    lead = lead_figures(summary)
    runs = summary["runs"]
    failed = sum(r["status"] == "failed" for r in runs)
    skipped = sum(r["status"] == "skipped" for r in runs)
    labels = {r["label"] for r in summary["rows"]}
    cases = {r["case"] for r in summary["rows"]}
    seeds = seeds_text(summary["protocol"]["seeds"])
    lines = [
        "## TL;DR",
        "",
        f"- {len(runs)} runs ({failed} failed, {skipped} skipped): {len(labels)} engine rows on "
        f"{len(cases)} case{'s' if len(cases) != 1 else ''}, seeds {seeds}. "
        f"Ratios are against `{ref}` on the same case (ratio of medians over seeds; above 1x is better).",
    ]
    for (backend, device), rows in list(tables.items())[:TLDR_TABLES]:
        line = _table_line(backend, device, rows, ref, lead)
        if line:
            lines.append(line)
    if len(tables) > TLDR_TABLES:
        lines.append(f"- {len(tables) - TLDR_TABLES} more backend and device tables below.")
    lines.append(_health_line(summary))
    lines.append(_agreement_line(summary))
    caveat = _caveat_line(summary, reading)
    if caveat:
        lines.append(caveat)
    return lines + [""]


def _table_line(backend: str, device: str, rows: list[Row], ref: str, lead: list[str]) -> str | None:
    """One bullet per table: each engine row's first lead figure against the reference,
    per case for a few cases, else the median over cases and the worst."""
    figures = present_figures(rows, lead)
    if not figures:
        return None
    figure = figures[0]
    # the figure a callback-bound row is rated on instead of a time figure
    fallback = next((m for m in figures if m not in TIME_FIGURES), None)
    cases = sorted({r["case"] for r in rows})
    labels = sorted({r["label"] for r in rows if r["label"] != ref})
    by_key = {(r["case"], r["label"]): r for r in rows}
    entries = []
    for label in labels:
        mine = [by_key.get((case, label)) for case in cases]
        values = _values(mine, figure)
        text = _figures_text(values, len(cases))
        if text is None and fallback and fallback != figure and any(r and r.get("time_ratios_withheld") for r in mine):
            other = _figures_text(_values(mine, fallback), len(cases))
            text = f"not quoted (callback-bound; {other} {figure_name(fallback)})" if other else None
        if text is None:
            continue
        unhealthy = sum(r["n_ok"] - r["health_passed"] for r in mine if r)
        total = sum(r["n_ok"] for r in mine if r)
        note = f" (health gate failed on {unhealthy}/{total} runs)" if unhealthy else ""
        present = [v for v in values if v is not None]  # ranked by the median over cases; unquoted rows last
        entries.append((-float(np.median(present)) if present else np.inf, f"`{label}` {text}{note}"))
    if not entries:
        return None
    entries.sort(key=lambda e: e[0])
    named = [text for _, text in entries[:TLDR_ROWS]]
    rest = len(entries) - len(named)
    where = f"on {' / '.join(cases)}" if len(cases) <= CASES_NAMED else f"median over {len(cases)} cases [worst]"
    return (
        f"- **{backend.upper()}, {device}**, {figure_name(figure)} against `{ref}`, {where}: "
        + "; ".join(named)
        + (f"; {rest} more rows in the table" if rest else "")
        + "."
    )


def _values(rows: list[Row | None], metric: str) -> list[float | None]:
    found: list[float | None] = []
    for r in rows:
        ratio = r["ratios"].get(metric) if r else None
        found.append(ratio["ratio_of_medians"] if ratio else None)
    return found


def _figures_text(values: list[float | None], n_cases: int) -> str | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if n_cases <= CASES_NAMED:
        return " / ".join("—" if v is None else f"{v:.2f}x" for v in values)
    text = f"{float(np.median(present)):.2f}x [{min(present):.2f}x]"
    return text if len(present) == n_cases else f"{text} on {len(present)} cases"


def _health_line(summary: Summary) -> str:
    return _runs_health(summary) + _controls_health(summary)


def _controls_health(summary: Summary) -> str:
    controls = [r for r in summary["runs"] if r["status"] == "ok" and r["is_control"]]
    passed = sum(r["verdict"] == "unexpected-pass" for r in controls)
    if not controls:
        return ""
    if passed:
        return f" **{passed} of {len(controls)} control runs passed their health gate**: a control must fail."
    return f" The {len(controls)} runs of pathological controls failed their gate, as they must."


def _runs_health(summary: Summary) -> str:
    runs = [r for r in summary["runs"] if r["status"] == "ok" and not r["is_control"]]
    unhealthy = Counter(r["label"] for r in runs if r["verdict"] != "pass")
    off = Counter(r["label"] for r in runs if missed_reference(r))
    if not unhealthy and not off:
        aside = " (controls aside)" if any(r["is_control"] for r in summary["runs"]) else ""
        return f"- Health: every one of the {len(runs)} successful runs{aside} passed its health gate" + (
            " and matched its reference posterior." if any(r.get("correctness") for r in runs) else "."
        )
    parts = []
    if unhealthy:
        worst = ", ".join(f"`{label}` {n}" for label, n in unhealthy.most_common(4))
        more = "" if len(unhealthy) <= 4 else f", {len(unhealthy) - 4} more rows"
        parts.append(f"{sum(unhealthy.values())} of {len(runs)} runs failed their health gate ({worst}{more})")
    if off:
        parts.append(
            f"{sum(off.values())} missed their reference (|z| past its threshold) ("
            + ", ".join(f"`{label}` {n}" for label, n in off.most_common(4))
            + ")"
        )
    return "- Health: " + "; ".join(parts) + ". Each is named under *Runs that need a look*."


def _agreement_line(summary: Summary) -> str:
    ref = summary["reference_engine"]
    zs = [a["max_z"] for a in summary["agreement"] if a["max_z"] is not None]
    flags = summary["fairness_flags"]
    open_flags = undeclared_flags(summary)
    fairness = (
        "no fairness flags"
        if not flags
        else f"{len(open_flags)} fairness flag(s) (see *Fairness lint*)"
        if open_flags
        else "every difference of settings is one the suite declares (see *Protocol*)"
    )
    agree = (
        f"Posterior means agree with `{ref}` to max |z| = {max(zs):.2f} (seed by seed, every parameter); " if zs else ""
    )
    return f"- {agree}{fairness}."


def _caveat_line(summary: Summary, reading: bool) -> str | None:
    bound = sorted({r["label"] for r in summary["rows"] if r.get("callback_bound")})
    parts = []
    if bound:
        parts.append(
            f"{', '.join(f'`{b}`' for b in bound)} call{'s' if len(bound) == 1 else ''} the density through a "
            "Python callback: rated on ESS per gradient, no ESS/s ratio quoted"
        )
    if reading:
        parts.append("what these figures do not show: [READING.md](READING.md)")
    if not parts:
        return None
    text = "; ".join(parts)
    return f"- {text[0].upper()}{text[1:]}."


def headline_table(summary: Summary, backend: str, device: str, rows: list[Row], sink: Sink) -> list[str]:
    """The suite's lead figures against the reference, one table for the backend and device."""
    ref = summary["reference_engine"]
    figures = present_figures(rows, lead_figures(summary))
    name = slug(f"{backend}-{device}")
    cases = sorted({r["case"] for r in rows})
    if len(cases) >= MANY_CASES or swept_cases(rows) == set(cases):
        # many cases, or every case a size of a sweep whose per-size table "How cost grows" shows:
        # a row per engine here, the per-case table in DETAILS.md
        return _across_cases(summary, rows, figures, cases, ref, sink, name)
    first = figures[0] if figures else None
    table = []
    for r in sorted(rows, key=lambda r: (r["case"], r["label"])):
        cells = [r["case"], f"`{r['label']}`"]
        if first:
            cells.append(_absolute(r, first))
        for metric in figures:
            cells.append(_ratio_cell(r, metric, ref))
        verdict = f"{r['health_passed']}/{r['n_ok']}" + (" (control)" if r["is_control"] else "")
        cells += [verdict, f"{r['n_ok']}/{len(r['seeds'])}"]
        table.append(cells)
    headers = ["case", "engine"]
    if first:
        headers.append(f"{_absolute_name(first)} (median)")
    headers += [f"{figure_name(m)} vs {ref}" for m in figures] + ["health pass", "runs ok"]
    return [
        sink.table(f"headline_{name}", table, headers, disable_numparse=True),
        "",
        "Ratios of medians over seeds, in brackets the envelope over seeds (smallest over largest, largest over "
        "smallest). Every figure of every row, and each engine against each other, is in [DETAILS.md](DETAILS.md).",
        "",
    ]


def _across_cases(summary, rows, figures, cases, ref, sink, name) -> list[str]:
    labels = sorted({r["label"] for r in rows}, key=lambda label: (label == ref, *ours_first(summary, label)))
    by_label: dict[str, list[Row]] = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    first = figures[0] if figures else None
    table = []
    for label in labels:
        members = by_label[label]
        cells = [f"`{label}`"]
        for metric in figures:
            values = np.array([r["ratios"][metric]["ratio_of_medians"] for r in members if metric in r["ratios"]])
            cells.append(distribution(values, len(cases)) if label != ref else "—")
        below = [r["ratios"][first]["ratio_of_medians"] < 1.0 for r in members if first and first in r["ratios"]]
        cells.append(f"{sum(below)}/{len(below)}" if below else "—")
        ok = sum(r["n_ok"] for r in members)
        cells += [
            f"{sum(r['health_passed'] for r in members)}/{ok}",
            str(sum(r["correctness_failed"] for r in members)),
            f"{ok}/{sum(len(r['seeds']) for r in members)}",
        ]
        table.append(cells)
    headers = [
        "engine",
        *(f"{figure_name(m)} vs {ref}: median [q25, q75], worst" for m in figures),
        f"cases below 1x ({figure_name(first)})" if first else "cases below 1x",
        "health pass",
        "runs off reference",
        "runs ok",
    ]
    return [
        sink.table(f"headline_{name}", table, headers, disable_numparse=True),
        "",
        f"Per engine row, its ratio to `{ref}` on each of the {len(cases)} cases (ratio of medians over seeds), "
        "summarised over the cases both ran: median, quartiles, worst (and on how many, where fewer than all). "
        "Health and |z| count runs, whatever the ratio. Each case's ratios, and each row's figures, are in "
        "[DETAILS.md](DETAILS.md).",
        "",
    ]


def _ratio_cell(r: Row, metric: str, ref: str) -> str:
    if r["label"] == ref:
        return "—"
    withheld = r.get("time_ratios_withheld")
    if metric in TIME_FIGURES and withheld and metric not in r["ratios"]:
        return "not quoted: callback-bound"
    return ratio_text(r["ratios"].get(metric))


def _absolute_name(metric: str) -> str:
    if metric in COST_FIGURES:
        return figure_name(metric).split(" (")[0]
    return figure_name(metric)


def _absolute(r: Row, metric: str) -> str:
    value = median(r["metrics"].get(metric))
    if value is None:
        return "—"
    if metric in COST_FIGURES or metric in TIME_FIGURES:
        return num(value) + (" (callback-bound)" if metric in TIME_FIGURES and r.get("callback_bound") else "")
    return num(value, 4)
