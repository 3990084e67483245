"""Per-run checks: health gates, pathological controls, correctness, fairness lint, and
the runs that failed or were skipped."""

from __future__ import annotations

from collections import defaultdict

from ..diagnostics import MAX_CORRECTNESS_Z
from ..summary_types import CORRECTNESS_FAILURES, Agreement, FairnessFlag, RunRecord, Summary
from .formatting import num
from .presentation import declared, is_declared
from .sink import Sink, markdown_table


def health(summary: Summary, sink: Sink) -> list[str]:
    lines = [
        "## Health gates, per seed",
        "",
        "Strict NUTS gate: max R-hat < 1.01, no divergences, E-BFMI >= 0.2, bulk and tail ESS >= 400.",
        "",
    ]
    rows = []
    for run in sorted(summary["runs"], key=lambda r: (r["backend"], r["case"], r["label"], r["seed"])):
        if run["status"] != "ok":
            continue
        m = run["metrics"]
        rows.append(
            [
                run["case"],
                run["label"],
                run["seed"],
                run["verdict"],
                num(m["max_rhat"], 3) + (f" (nested {m['max_nested_rhat']:.4f})" if m.get("max_nested_rhat") else ""),
                num(m["divergence_pct"], 2),
                num(m["min_ebfmi"], 2),
                num(m["min_ess_bulk"]),
                num(m["min_ess_tail"]),
                num(m["tree_depth_saturation_pct"], 1),
                ", ".join(run["failed_checks"]) or "—",
            ]
        )
    lines.append(
        sink.table(
            "health",
            rows,
            [
                "case",
                "engine",
                "seed",
                "verdict",
                "max R-hat",
                "div %",
                "min E-BFMI",
                "min ESS bulk",
                "min ESS tail",
                "depth sat. %",
                "failed checks",
            ],
            disable_numparse=True,
        )
    )
    return lines + [""]


def controls(summary: Summary) -> list[str]:
    """Pathological controls pass when they fail: a control that passes is a red flag
    for the sampler or for the gates, and is shouted about."""
    runs = [r for r in summary["runs"] if r["is_control"] and r["status"] == "ok"]
    if not runs:
        return []
    lines = [
        "## Pathological controls",
        "",
        "A control is a posterior the samplers are expected to fail on; it passes when its health gate fails.",
        "",
    ]
    for run in sorted(runs, key=lambda r: (r["case"], r["label"], r["seed"])):
        if run["verdict"] == "unexpected-pass":
            lines.append(
                f"- **WARNING: `{run['case']}` / `{run['label']}` / seed {run['seed']} PASSED its health "
                "gate.** A control must keep failing: check the sampler and the gates."
            )
        else:
            lines.append(
                f"- `{run['case']}` / `{run['label']}` / seed {run['seed']}: expected-fail "
                f"({', '.join(run['failed_checks'])})."
            )
    return lines + [""]


def correctness(summary: Summary, sink: Sink) -> list[str]:
    ref = summary["reference_engine"]
    lines = [
        "## Correctness",
        "",
        f"Agreement of posterior means with `{ref}`, run by run on the same seed: the largest over parameters of "
        "|mean - mean_ref| / sqrt(mcse^2 + mcse_ref^2). Values below 4 are within Monte Carlo error.",
        "",
    ]
    by_row: dict[tuple[str, str], dict[int, Agreement]] = defaultdict(dict)
    for a in summary["agreement"]:
        by_row[(a["case"], a["label"])][a["seed"]] = a
    seeds = summary["protocol"]["seeds"]
    rows = []
    for (case, label), per_seed in sorted(by_row.items()):
        zs = [z for z in (per_seed[s]["max_z"] for s in seeds if s in per_seed) if z is not None]
        worst = max(per_seed.values(), key=lambda a: a["max_z"] or 0)
        rows.append(
            [
                case,
                label,
                *[num(per_seed[s]["max_z"], 2) if s in per_seed else "—" for s in seeds],
                num(max(zs), 2) if zs else "—",
                worst["worst_parameter"] or "—",
            ]
        )
    if rows:
        lines.append(
            sink.table(
                "agreement",
                rows,
                ["case", "engine", *[f"seed {s}" for s in seeds], "max", "worst parameter"],
                disable_numparse=True,
            )
        )
    else:
        lines.append(f"No pairs to compare (the reference engine `{ref}` has no successful runs).")
    lines.append("")
    ref_rows = []
    for run in summary["runs"]:
        corr = run.get("correctness")
        if run["status"] == "ok" and corr and corr["reference"]:
            threshold = num(corr.get("threshold", MAX_CORRECTNESS_Z), 2)
            ref_rows.append(
                [
                    run["case"],
                    run["label"],
                    run["seed"],
                    corr["reference"],
                    num(corr["max_z"], 2),
                    threshold,
                    corr["verdict"],
                ]
            )
    if ref_rows:
        lines += ["Against each case's own reference posterior (the largest |z| fails above the run's threshold):", ""]
        lines.append(
            sink.table(
                "correctness",
                sorted(ref_rows),
                ["case", "engine", "seed", "reference", "max |z|", "threshold", "verdict"],
                disable_numparse=True,
            )
        )
        lines.append("")
    return lines


def undeclared_flags(summary: Summary) -> list[FairnessFlag]:
    """The fairness flags the suite did not declare on purpose."""
    differences = declared(summary)
    return [flag for flag in summary["fairness_flags"] if not is_declared(flag, differences)]


def fairness(summary: Summary) -> list[str]:
    """Settings that differ between rows of one table, one line per setting and values
    with the cases it covers; differences the suite declares are in the protocol instead."""
    lines = ["### Fairness lint", ""]
    flags = undeclared_flags(summary)
    if not flags:
        said = " except the differences declared above" if summary["fairness_flags"] else ""
        return lines + [
            "Every row of every table ran with the same target acceptance, metric, tree depth, chain method, "
            f"dtype, warmup, threads and budget{said}.",
            "",
        ]
    grouped: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for flag in flags:
        values = ", ".join(f"`{k}`={v}" for k, v in sorted(flag["values"].items()))
        grouped[(flag["backend"], flag["device"], flag["field"], values)].append(flag["case"])
    cases_per_table: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in summary["rows"]:
        cases_per_table[(row["backend"], row["device"])].add(row["case"])
    for (backend, device, field, values), cases in sorted(grouped.items()):
        everywhere = set(cases) == cases_per_table[(backend, device)] and len(cases) > 1
        where = f"every case ({len(cases)})" if everywhere else ", ".join(sorted(cases))
        lines.append(f"- `{field}` differs ({backend}, {device}) on {where}: {values}.")
    return lines + [""]


def failures(summary: Summary) -> list[str]:
    """Every failed or skipped run, unhealthy run, run off its reference or the reference
    engine's means (|z| past its threshold), and control that passed: grouped by engine row, case
    and what went wrong, with the seeds; never dropped, however long the suite."""
    ref = summary["reference_engine"]
    grouped: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
    for run in summary["runs"]:
        key = (run["label"], run["case"])
        if run["status"] != "ok":
            grouped[(*key, run["status"])].append((run["seed"], run["reason"] or ""))
            continue
        if run["verdict"] == "unexpected-pass":
            grouped[(*key, "control passed its health gate")].append((run["seed"], "a control must fail"))
        elif run["verdict"] not in ("pass", "expected-fail"):
            grouped[(*key, "health gate failed")].append((run["seed"], ", ".join(run["failed_checks"])))
        corr = run["correctness"]
        if corr is not None and missed_reference(run):
            z = "" if corr["max_z"] is None else f"max |z| {corr['max_z']:.2f}"
            what = f"off its reference ({corr['reference']})" + (", a control" if run["is_control"] else "")
            grouped[(*key, what)].append((run["seed"], z or corr["verdict"]))
    for a in summary["agreement"]:
        if a["max_z"] is not None and a["max_z"] > a.get("threshold", MAX_CORRECTNESS_Z):
            grouped[(a["label"], a["case"], f"off `{ref}`'s means")].append(
                (a["seed"], f"max |z| {a['max_z']:.2f} ({a['worst_parameter']})")
            )
    lines = ["## Runs that need a look", ""]
    if not grouped:
        return lines + [
            "None: no run failed, was skipped, failed its health gate or missed a reference (|z| past its threshold)"
            + (", and every control failed its gate as it must." if _has_controls(summary) else "."),
            "",
        ]
    table = []
    for (label, case, what), found in sorted(grouped.items()):
        found.sort()
        details = list(dict.fromkeys(detail for _, detail in found))
        detail = details[0] if len(details) == 1 else "; ".join(f"{seed}: {d}" for seed, d in found)
        table.append([f"`{label}`", case, what, ", ".join(str(seed) for seed, _ in found), detail])
    return lines + [
        markdown_table(table, ["engine", "case", "what", "seeds", "detail"], disable_numparse=True),
        "",
        "The health gate: max R-hat < 1.01, no divergences, E-BFMI >= 0.2, bulk and tail ESS >= 400; |z| is a "
        "posterior mean's distance from the reference in Monte Carlo standard errors. Per seed, every run's "
        "figures are in [DETAILS.md](DETAILS.md).",
        "",
    ]


def missed_reference(run: RunRecord) -> bool:
    """A run scored against its case's reference posterior that did not match it."""
    corr = run["correctness"]
    return corr is not None and corr["verdict"] in CORRECTNESS_FAILURES


def _has_controls(summary: Summary) -> bool:
    return any(r["is_control"] for r in summary["runs"])
