"""Per-run checks: health gates, pathological controls, correctness, fairness lint, and
the runs that failed or were skipped."""

from __future__ import annotations

from collections import defaultdict

from ..summary_types import Agreement, Summary
from .formatting import num
from .sink import Sink


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
            ref_rows.append(
                [run["case"], run["label"], run["seed"], corr["reference"], num(corr["max_z"], 2), corr["verdict"]]
            )
    if ref_rows:
        lines += ["Against each case's own reference posterior (|z| > 4 fails):", ""]
        lines.append(
            sink.table(
                "correctness",
                sorted(ref_rows),
                ["case", "engine", "seed", "reference", "max |z|", "verdict"],
                disable_numparse=True,
            )
        )
        lines.append("")
    return lines


def fairness(summary: Summary) -> list[str]:
    lines = ["## Fairness lint", ""]
    if not summary["fairness_flags"]:
        return lines + [
            "Every row of every table ran with the same target acceptance, metric, tree depth, chain method, "
            "dtype, warmup, threads and budget.",
            "",
        ]
    for flag in summary["fairness_flags"]:
        values = ", ".join(f"`{k}`={v}" for k, v in flag["values"].items())
        lines.append(
            f"- **{flag['case']}** ({flag['backend']}, {flag['device']}): `{flag['field']}` differs: {values}."
        )
    return lines + [""]


def failures(summary: Summary) -> list[str]:
    bad = [r for r in summary["runs"] if r["status"] != "ok"]
    lines = ["## Failed and skipped runs", ""]
    if not bad:
        return lines + ["None.", ""]
    for r in sorted(bad, key=lambda r: (r["case"], r["label"], r["seed"])):
        lines.append(f"- `{r['case']}` / `{r['label']}` / seed {r['seed']}: **{r['status']}**: {r['reason']}")
    return lines + [""]
