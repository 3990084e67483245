"""The report's opening: headline, TL;DR, protocol and environment."""

from __future__ import annotations

from typing import Any, cast

from ..summary_types import EngineInfo, Row, Summary, median
from .convergence import CONVERGE, SETTLE
from .formatting import brief, num
from .sink import Sink


def introduction(summary: Summary) -> list[str]:
    return [
        f"# nextstat report: `{summary['suite']}`",
        "",
        f"Generated {summary['created_utc']} from {len(summary['runs'])} run artifacts. "
        f"Headline figures are **medians over seeds {', '.join(map(str, summary['protocol']['seeds']))}**; "
        f"ratios are against `{summary['reference_engine']}` on the same case, backend and device "
        "(ratio of medians; higher is better).",
        "",
    ]


def tldr(summary: Summary, tables: dict[tuple[str, str], list[Row]]) -> list[str]:
    ref = summary["reference_engine"]
    lines = ["## TL;DR", ""]
    for (backend, device), rows in tables.items():
        for case in sorted({r["case"] for r in rows}):
            members = [r for r in rows if r["case"] == case]
            if any(_is_traced(r) for r in members):  # many chains: how fast the ensemble converges leads
                ranked = sorted(filter(_is_traced, members), key=_convergence_rank)
                line = "; ".join(_ranked_by_convergence(r, ref) for r in ranked)
            else:
                ranked = sorted(
                    (r for r in members if median(r["metrics"].get("ess_bulk_per_s"))),
                    key=lambda r: -cast(float, median(r["metrics"]["ess_bulk_per_s"])),
                )
                line = "; ".join(_ranked(r, ref) for r in ranked)
            if ranked:
                lines.append(f"- **{case}** ({backend}, {device}): {line}.")
    failed = sum(r["status"] == "failed" for r in summary["runs"])
    skipped = sum(r["status"] == "skipped" for r in summary["runs"])
    agreement = [a["max_z"] for a in summary["agreement"] if a["max_z"] is not None]
    lines.append(
        f"- Runs: {len(summary['runs'])} ({failed} failed, {skipped} skipped). "
        + (
            f"Posterior means agree with `{ref}` to max |z| = {max(agreement):.2f} over all cases, "
            "engines, seeds and parameters. "
            if agreement
            else ""
        )
        + (
            f"**{len(summary['fairness_flags'])} fairness flag(s)**: see below."
            if summary["fairness_flags"]
            else "No fairness flags."
        )
    )
    return lines + [""]


def _is_traced(r: Row) -> bool:
    return median(r["metrics"].get("convergence_b2_final")) is not None


def _convergence_rank(r: Row) -> tuple[float, float]:
    """Fewest gradients per chain to settle first, then to converge; never is last."""
    settle, converge = median(r["metrics"].get(SETTLE)), median(r["metrics"].get(CONVERGE))
    return (settle if settle is not None else float("inf"), converge if converge is not None else float("inf"))


def _ranked_by_convergence(r: Row, ref: str) -> str:
    """One many-chain row in the TL;DR: gradients per chain until its ensemble settled
    (and first converged), its ratio to the reference, then ESS and tail ESS per gradient
    of the draws after warmup at its gradients per draw."""
    settle, converge = median(r["metrics"].get(SETTLE)), median(r["metrics"].get(CONVERGE))
    text = f"`{r['label']}` " + (f"settled in {num(settle)} grads/chain" if settle else "did not settle")
    text += f" (first converged at {num(converge)})" if converge else " (never converged)"
    settle_ratio = _ratio_of_medians(r, SETTLE)
    if settle_ratio:
        text += f", {settle_ratio:.2f}x fewer than `{ref}`"
    bulk, tail = median(r["metrics"].get("ess_bulk_per_grad")), median(r["metrics"].get("ess_tail_per_grad"))
    steps = median(r["metrics"].get("mean_steps_per_draw"))
    if bulk is not None:
        text += f"; then {bulk:.4f} ESS/grad" + (f", {tail:.4f} tail ESS/grad" if tail is not None else "")
        text += f" at {steps:.1f} grads/draw" if steps is not None else ""
    if r["health_passed"] < r["n_ok"]:
        text += f" — health gate failed on {r['n_ok'] - r['health_passed']}/{r['n_ok']} seeds"
    return text


def _ratio_of_medians(r: Row, metric: str) -> float | None:
    """The row's ratio of medians to the reference engine on a metric; None without one."""
    ratio = r["ratios"].get(metric)
    return ratio.get("ratio_of_medians") if ratio is not None else None


def _ranked(r: Row, ref: str) -> str:
    """One row of a case in the TL;DR: its ESS/s, its ratios, convergence and health."""
    ratio = _ratio_of_medians(r, "ess_bulk_per_s")
    grad = _ratio_of_medians(r, "ess_bulk_per_grad")
    tail = _ratio_of_medians(r, "ess_tail_per_grad")
    adaptation = (r.get("settings") or {}).get("adaptation")
    text = f"`{r['label']}`" + (f" [adaptation {adaptation}]" if adaptation else "")
    text += f" {num(median(r['metrics'].get('ess_bulk_per_s')))} ESS/s"
    if r.get("callback_bound"):
        text += " (callback-bound)"
    tail_text = f", {tail:.2f}x tail ESS/grad" if tail else ""
    if ratio is not None:
        text += f" ({ratio:.2f}x ESS/s, {grad:.2f}x ESS/grad{tail_text} vs `{ref}`)" if grad else f" ({ratio:.2f}x)"
    elif r.get("time_ratios_withheld") and grad:
        text += f" ({grad:.2f}x ESS/grad{tail_text} vs `{ref}`; no ESS/s ratio: callback-bound)"
    converged = median(r["metrics"].get(CONVERGE))
    if converged:
        text += f", ensemble converged in {num(converged)} grads/chain"
    if r["health_passed"] < r["n_ok"]:
        text += f" — health gate failed on {r['n_ok'] - r['health_passed']}/{r['n_ok']} seeds"
    return text


def protocol(summary: Summary, sink: Sink) -> list[str]:
    suite_protocol = summary["protocol"]
    lines = [
        "## Protocol",
        "",
        f"- Seeds: {', '.join(map(str, suite_protocol['seeds']))} (chain seeds and initial points "
        "derive from the run seed; "
        "every engine starts from the same U(-2, 2) points on the unconstrained space, unless said below).",
        f"- Budget (chains x warmup x draws): {', '.join(suite_protocol['budgets'])}. Threads per run: "
        f"{', '.join(map(str, suite_protocol['threads_per_run']))}{_pinning(suite_protocol)}.",
        "- ESS is the minimum over parameters of the bulk ESS (arviz, rank-normalized); ESS/s "
        "divides by sampling time, "
        "ESS/grad by sampling-phase gradient evaluations. Stan's times are its own elapsed warmup/sampling times; "
        "JAX times are measured after `block_until_ready`, with compilation timed apart.",
        "",
    ]
    # every run records the settings all engines share in its fairness manifest; the rest
    # of a label's settings are its engine's own
    shared = {name for row in summary["rows"] for name in row["fairness"]}
    rows = []
    for label, info in sorted(suite_protocol["engines"].items()):
        settings = info["settings"]
        versions = ", ".join(f"{k} {v}" for k, v in sorted((info.get("versions") or {}).items()))
        own = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()) if k not in shared) or "—"
        rows.append(
            [
                label,
                info["engine"],
                info.get("frontend") or "",
                settings["target_accept"],
                settings["max_tree_depth"],
                settings["metric"],
                settings["chain_method"],
                settings["dtype"],
                own,
                versions,
            ]
        )
    lines.append(
        sink.table(
            "protocol",
            rows,
            [
                "label",
                "engine",
                "frontend",
                "target accept",
                "max depth",
                "metric",
                "chains",
                "dtype",
                "engine's own settings",
                "versions",
            ],
        )
    )
    for label, info in sorted(suite_protocol["engines"].items()):
        if info.get("initialization"):
            lines += ["", f"`{label}` starts its chains its own way: {info['initialization']}."]
        missing = sorted(set(suite_protocol["cases"]) - set(info.get("cases") or suite_protocol["cases"]))
        if missing:
            lines += [
                "",
                f"`{label}` ran only on {', '.join(info['cases'])} (the suite leaves it out of "
                f"{', '.join(missing)}; see the suite's configuration for why).",
            ]
    lines += _own_settings(suite_protocol["engines"])
    return lines + [""]


def _own_settings(engines: dict[str, EngineInfo]) -> list[str]:
    """What each engine's own settings (the column above) mean, in the engine's words."""
    docs = {
        (info["engine"], name): doc
        for info in engines.values()
        for name, doc in (info.get("setting_docs") or {}).items()
        if doc
    }
    if not docs:
        return []
    return [
        "",
        "The engines' own settings, as each engine describes them:",
        "",
        *(f"- `{engine}` `{name}`: {doc}." for (engine, name), doc in sorted(docs.items())),
    ]


def environment(summary: Summary) -> list[str]:
    lines = ["## Environment", ""]
    envs = list(summary["environments"].values())
    first = envs[0]
    lines += _environment_lines(first)
    if len(envs) > 1:
        lines += [f"**{len(envs)} environment fingerprints** contributed runs; the others differ from this one in:", ""]
        for env in envs[1:]:
            fields = [k for k in env if k not in ("fingerprint_sha256",) and env[k] != first.get(k)]
            changes = "; ".join(f"`{k}`: {brief(first.get(k))} -> {brief(env[k])}" for k in fields)
            lines.append(f"- fingerprint `{env['fingerprint_sha256'][:12]}`: {changes or 'nothing recorded'}.")
        lines.append("")
        if len({env["hardware_sha256"] for env in envs}) == 1:
            lines += ["All runs ran on the same hardware.", ""]
    return lines


def _environment_lines(env: dict[str, Any]) -> list[str]:
    jax_info = env.get("jax") or {}
    threads = {k: v for k, v in env["thread_variables"].items() if v is not None}
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
    return [
        f"- Host `{env['hostname']}`: {env['cpu']['model']} ({env['cpu']['arch']}), "
        f"{env['cpu']['logical_cores']} logical / {env['cpu'].get('physical_cores')} physical cores, "
        f"{env['memory_bytes'] / 2**30:.1f} GiB, {env['os']}, Python {env['python']}.",
        f"- GPUs: {', '.join(g['name'] for g in env['gpus']) or 'none'}; JAX backend `{jax_info.get('backend')}`, "
        f"devices {jax_info.get('devices')}.",
        f"- Thread settings: {', '.join(f'`{k}={v}`' for k, v in threads.items()) or 'none set'}.",
        f"- Git commit `{env['git']['commit']}`"
        + (" (uncommitted changes)" if env["git"]["dirty"] else "")
        + f"; hardware hash `{env['hardware_sha256'][:12]}`, full fingerprint `{env['fingerprint_sha256'][:12]}`.",
        f"- Packages: {packages}.",
        "",
    ]


def _pinning(suite_protocol) -> str:
    """How many runs held CPUs of their own (threads.claim_cores); nothing for older summaries."""
    if "runs_pinned" not in suite_protocol:
        return ""
    pinned, runs = suite_protocol["runs_pinned"]
    return f"; {pinned} of {runs} runs pinned to CPUs no other run used while they ran"
