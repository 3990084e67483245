"""The figures: one results table (with its charts) per backend and device, the engines
head to head, and the cold, cached and warm starts."""

from __future__ import annotations

from ..charts import grouped_bars, ratio_bars, start_times
from ..summary_types import Row, Summary, median, ratio_of_medians, timing_modes
from .convergence import CONVERGE, SETTLE
from .formatting import not_quoted, num, pm, ratio_text, slug, time_ratio_text
from .presentation import reached_text
from .sink import CHARTS, Sink

#: the head-to-head columns, efficiencies (higher is better)
HEAD_TO_HEAD = (
    "ess_bulk_per_s",
    "ess_bulk_per_grad",
    "ess_bulk_per_grad_with_warmup",
    "ess_tail_per_s",
    "ess_tail_per_grad",
)
TIME_RATIOS = ("ess_bulk_per_s", "ess_tail_per_s")
#: above this many cases, a bar per case and engine is unreadable
MAX_CHART_CASES = 12


def results_heading(backend: str, device: str) -> list[str]:
    return [f"## Results: {backend.upper()}, {device}", ""]


def results_table(summary: Summary, backend: str, device: str, rows: list[Row], sink: Sink) -> list[str]:
    """Every figure of every row (DETAILS.md)."""
    ref = summary["reference_engine"]
    lines: list[str] = [f"## Every figure: {backend.upper()}, {device}", ""]
    table = []
    for r in sorted(rows, key=lambda r: (r["case"], r["label"])):
        m = r["metrics"]
        ratio = r["ratios"]
        verdict = f"{r['health_passed']}/{r['n_ok']}"
        if r["is_control"]:
            verdict += " (control: expected to fail)"
        table.append(
            [
                r["case"],
                r["label"],
                pm(m.get("ess_bulk_per_s")),
                time_ratio_text(r, "ess_bulk_per_s"),
                pm(m.get("ess_bulk_per_grad"), 4),
                ratio_text(ratio.get("ess_bulk_per_grad")),
                ratio_text(ratio.get("ess_bulk_per_grad_with_warmup")),
                pm(m.get("ess_tail_per_grad"), 4),
                time_ratio_text(r, "ess_tail_per_s"),
                ratio_text(ratio.get("ess_tail_per_grad")),
                num(median(m.get("min_ess_bulk"))),
                num(median(m.get("min_ess_tail"))),
                reached_text(r, "b2_max_grads_per_chain"),
                ratio_text(ratio.get("b2_max_grads_per_chain")),
                num(median(m.get("mean_steps_per_draw")), 1),
                num(median(m.get("sampling_us_per_grad")), 2),
                num(median(m.get("compile_s")), 2),
                num(median(m.get("compile_cold_s")), 1),
                num(median(m.get("warmup_s")), 2),
                num(median(m.get("sampling_s")), 2),
                num(median(m.get("max_rhat")), 3),
                num(median(m.get("divergence_pct")), 2),
                verdict,
                f"{r['n_ok']}/{len(r['seeds'])}",
            ]
        )
    name = slug(f"{backend}-{device}")
    lines.append(
        sink.table(
            f"results_{name}",
            table,
            [
                "case",
                "engine",
                "ESS/s (median ± std)",
                f"ESS/s vs {ref}",
                "ESS/grad (median ± std)",
                f"ESS/grad vs {ref}",
                f"ESS/grad with warmup grads vs {ref}",
                "tail ESS/grad (median ± std)",
                f"tail ESS/s vs {ref}",
                f"tail ESS/grad vs {ref}",
                "min ESS bulk",
                "min ESS tail",
                "grads/chain to b2max < 0.01",
                f"b2max grads vs {ref}",
                "grads/draw",
                "µs/grad",
                "compile s",
                "cold compile s",
                "warmup s",
                "sampling s",
                "max R-hat",
                "div %",
                "health pass",
                "runs ok",
            ],
            disable_numparse=True,
        )
    )
    lines += [
        "",
        "Ratio columns give the ratio of medians and, in brackets, the envelope over seeds. "
        "'with warmup grads' divides the ESS by every gradient the run spent, warmup included. "
        "The tail columns use the minimum tail ESS (of the 5% and 95% quantiles) instead of the bulk ESS: "
        "bulk ESS rewards moves that jump to the other side of the mean (it can exceed the number of draws, "
        "an antithetic chain) even where the spread itself mixes slowly, which tail ESS does not; where the "
        "two ratios disagree, the tail ratio is the safer one to quote. "
        "'grads/chain to b2max < 0.01' is the MAMS paper's cost: the gradients a chain spends after warmup until "
        "the squared bias of its running mean of every x², in units of Var[x²], falls below 0.01 (median over "
        "chains, then over the seeds that got there); its ratio is the reference's over this row's, above 1 where "
        "this row gets there sooner. "
        "ESS/grad measures the sampler's efficiency; µs/grad its cost per step (sampling time per gradient "
        "evaluation); ESS/s is their quotient. `compile s` is this run's compile (a cached Stan model loads in "
        "well under a second); `cold compile s` is a compile that missed every cache.",
        "",
    ]
    return lines


def caveats(rows: list[Row]) -> list[str]:
    """What the report must say about the table's frontends, and rows that predate a setting."""
    lines: list[str] = []
    found = dict.fromkeys(r.get("frontend_caveat") for r in sorted(rows, key=lambda r: (r["case"], r["label"])))
    for caveat in filter(None, found):
        lines += [caveat, ""]
    return lines + _unrecorded(rows)


def charts(summary: Summary, backend: str, device: str, rows: list[Row], sink: Sink) -> list[str]:
    """ESS per second, ESS per gradient and the ratios to the reference, a bar per case and
    engine; none above ``MAX_CHART_CASES`` cases (the sorted-ratio chart instead)."""
    ref = summary["reference_engine"]
    name = slug(f"{backend}-{device}")
    lines: list[str] = []
    if len({r["case"] for r in rows}) > MAX_CHART_CASES:
        return lines
    for metric, ylabel, title, chart_name in (
        ("ess_bulk_per_s", "min bulk ESS per second (sampling)", "ESS per second", "ess_per_s"),
        ("ess_bulk_per_grad", "min bulk ESS per gradient (sampling)", "ESS per gradient evaluation", "ess_per_grad"),
    ):
        chart = grouped_bars(
            rows,
            metric,
            ylabel,
            f"{title}\n{backend.upper()}, {device}: median over seeds, whiskers min to max",
            sink.chart(f"{chart_name}_{name}.png"),
        )
        if chart:
            lines += [f"![{title}]({CHARTS}/{chart.name})", ""]
    chart = ratio_bars(
        rows,
        ref,
        f"Ratios to {ref}\n{backend.upper()}, {device}: ratio of medians, whiskers the envelope over seeds",
        sink.chart(f"ratios_{name}.png"),
    )
    if chart:
        lines += [f"![Ratios to {ref}]({CHARTS}/{chart.name})", ""]
    return lines


def _unrecorded(rows: list[Row]) -> list[str]:
    """Rows whose artifacts predate one of their engine's settings: what they ran as."""
    found = sorted(
        {(r["label"], name, str(value)) for r in rows for name, value in (r.get("settings_unrecorded") or {}).items()}
    )
    if not found:
        return []
    ran_as = "; ".join(f"`{label}` as `{name}: {value}`" for label, name, value in found)
    return [
        f"**Rows run before a setting of their engine existed** (their artifacts do not record it): {ran_as}. "
        "The engine's default is different today; rerun the suite to measure it.",
        "",
    ]


def head_to_head(summary: Summary, backend: str, device: str, rows: list[Row], sink: Sink) -> list[str]:
    """Every pair of engines other than the reference engine, on each case both ran: our
    own samplers (``ours`` in the summary's protocol) are the numerator where a pair has one."""
    ref = summary["reference_engine"]
    if len({r["case"] for r in rows}) > MAX_CHART_CASES:
        return []  # a pair per case is hundreds of lines: the view across posteriors pairs our samplers instead
    engines = summary["protocol"]["engines"]
    converging = any(r["metrics"].get(CONVERGE) for r in rows)
    by_case: dict[str, list[Row]] = {}
    for r in rows:
        if r["label"] != ref:
            by_case.setdefault(r["case"], []).append(r)
    table = []
    for case, members in sorted(by_case.items()):
        members.sort(key=lambda r: (not engines[r["label"]].get("ours", False), r["label"]))
        for i, mine in enumerate(members):
            for theirs in members[i + 1 :]:
                bound = [r["label"] for r in (mine, theirs) if r.get("callback_bound")]
                cells = [
                    None
                    if bound and name in TIME_RATIOS
                    else ratio_of_medians(mine["metrics"].get(name), theirs["metrics"].get(name), theirs["label"])
                    for name in HEAD_TO_HEAD
                ]
                if converging:  # costs: theirs over mine, so that above 1 is mine doing better here too
                    cells += [
                        ratio_of_medians(theirs["metrics"].get(name), mine["metrics"].get(name), theirs["label"])
                        for name in (CONVERGE, SETTLE)
                    ]
                health = f"{mine['health_passed']}/{mine['n_ok']} vs {theirs['health_passed']}/{theirs['n_ok']}"
                texts = [
                    not_quoted(bound) if bound and name in TIME_RATIOS else ratio_text(cell)
                    for name, cell in zip((*HEAD_TO_HEAD, CONVERGE, SETTLE), cells)
                ]
                table.append([case, f"{mine['label']} / {theirs['label']}", *texts, health])
    if not table:
        return []
    headers = ["case", "engines", "ESS/s", "ESS/grad", "ESS/grad with warmup grads", "tail ESS/s", "tail ESS/grad"]
    headers += ["grads/chain to converge, theirs / mine", "to settle, theirs / mine"] if converging else []
    return [
        f"### Head to head, without `{ref}`",
        "",
        sink.table(
            f"head_to_head_{slug(f'{backend}-{device}')}", table, headers + ["health pass"], disable_numparse=True
        ),
        "",
        "Ratios of medians over seeds, the envelope over seeds in brackets.",
        "",
    ]


def timings(summary: Summary, sink: Sink) -> list[str]:
    records = summary.get("timings") or []
    if not records:
        return []
    lines = [
        "## Cold, cached and warm starts",
        "",
        "One run per case and engine (first seed), started three ways: **cold** (fresh process, empty "
        "compilation caches: JAX's persistent cache, httpstan's model cache), **cached** (fresh process, the "
        "caches the cold run filled), **warm** (the same run again in the cached process). Time to result "
        "counts from process start, imports included. A JAX engine's backend (XLA client; on a GPU the CUDA "
        "context) starts before the engine's clock, once per process, whatever the caches hold: its seconds "
        "are a column of their own, in time to result but not in the run's time.",
        "",
    ]
    rows = []
    for t in sorted(records, key=lambda t: (t["case"], t["label"])):
        if t["status"] != "ok":
            rows.append([t["case"], t["label"], f"failed: {t['reason']}", "", "", "", "", "", "", ""])
            continue
        modes = timing_modes(t)
        cold, cached, warm = (modes[m] for m in ("cold", "cached", "warm"))
        ratio = cached["engine_wall_s"] / warm["engine_wall_s"] if warm["engine_wall_s"] > 0 else None
        rows.append(
            [
                t["case"],
                t["label"],
                num(cold["time_to_result_s"], 1),
                num(cold["compile_s"], 2),
                num(cached["time_to_result_s"], 1),
                num(cached.get("backend_start_s"), 2),
                num(cached["compile_s"], 2),
                num(cached["engine_wall_s"], 2),
                num(warm["engine_wall_s"], 2),
                f"{ratio:.2f}x" if ratio else "—",
            ]
        )
    lines.append(
        sink.table(
            "timings",
            rows,
            [
                "case",
                "engine",
                "cold: time to result s",
                "cold: compile s",
                "cached: time to result s",
                "cached: backend start s",
                "cached: compile s",
                "cached: run s",
                "warm: run s",
                "cached run / warm run",
            ],
            disable_numparse=True,
        )
    )
    chart = start_times(records, sink.chart("start_times.png"))
    if chart:
        lines += ["", f"![Cold, cached and warm starts]({CHARTS}/{chart.name})"]
    return lines + [""]
