"""The report's opening and its protocol and environment (the TL;DR is ``headline``'s)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..summary_types import Summary
from .formatting import brief, seeds_text
from .presentation import declared
from .sink import Sink


def introduction(summary: Summary) -> list[str]:
    return [
        f"# nextstat report: `{summary['suite']}`",
        "",
        f"Generated {summary['created_utc']} from {len(summary['runs'])} run artifacts. "
        f"Headline figures are **medians over seeds {seeds_text(summary['protocol']['seeds'])}**; "
        f"ratios are against `{summary['reference_engine']}` on the same case, backend and device "
        "(ratio of medians; higher is better).",
        "",
    ]


def protocol(summary: Summary, sink: Sink) -> list[str]:
    suite_protocol = summary["protocol"]
    lines = [
        "## Protocol",
        "",
        f"- Seeds: {seeds_text(suite_protocol['seeds'])} (chain seeds and initial points "
        "derive from the run seed; "
        "every engine starts from the same U(-2, 2) points on the unconstrained space, unless said below).",
        f"- Budget (chains x warmup x draws): {', '.join(suite_protocol['budgets'])}. Threads per run: "
        f"{', '.join(map(str, suite_protocol['threads_per_run']))}{_pinning(suite_protocol)}.",
        "- ESS is the minimum over parameters of the bulk ESS (arviz, rank-normalized); ESS/s "
        "divides by sampling time, "
        "ESS/grad by sampling-phase gradient evaluations. Stan's times are its own elapsed warmup/sampling times; "
        "JAX times are measured after `block_until_ready`, with compilation timed apart.",
    ]
    share = summary["harness"]["harness_share_of_runs"]
    if share is not None:
        lines.append(
            f"- The harness's own work (process start, imports, fingerprint, diagnostics, writing) took "
            f"{100 * share:.1f}% of the run processes' time; the engines the rest (DETAILS.md)."
        )
    lines.append("")
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
    narrowed: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = defaultdict(list)
    for label, info in sorted(suite_protocol["engines"].items()):
        if info.get("initialization"):
            lines += ["", f"`{label}` starts its chains its own way: {info['initialization']}."]
        missing = sorted(set(suite_protocol["cases"]) - set(info.get("cases") or suite_protocol["cases"]))
        if missing:
            narrowed[(tuple(info["cases"]), tuple(missing))].append(label)
    for (ran_on, left_out), labels in narrowed.items():  # rows left out of the same cases: one sentence
        them = "it" if len(labels) == 1 else "them"
        lines += [
            "",
            f"{', '.join(f'`{label}`' for label in labels)} ran only on {', '.join(ran_on)} (the suite leaves "
            f"{them} out of {', '.join(left_out)}; see the suite's configuration for why).",
        ]
    lines += _declared(summary)
    if any(info.get("setting_docs") for info in suite_protocol["engines"].values()):
        lines += ["", "What each engine's own settings mean, in the engine's words, is in [DETAILS.md](DETAILS.md)."]
    return lines + [""]


def _declared(summary: Summary) -> list[str]:
    """The differences of settings the suite declares on purpose, said once."""
    differences = declared(summary)
    if not differences:
        return []
    engines = summary["protocol"]["engines"]
    lines = ["", "Differences the suite makes on purpose (not flagged by the fairness lint below):", ""]
    for d in differences:
        values = ", ".join(
            f"`{label}` {engines[label]['settings'][d['field']]}"
            if label in engines and d["field"] in engines[label]["settings"]
            else f"`{label}`"
            for label in d["labels"]
        )
        lines.append(f"- `{d['field']}`: {values}: {d['why']}")
    return lines


def own_settings(summary: Summary) -> list[str]:
    """What each engine's own settings (the protocol's column) mean, in the engine's words."""
    engines = summary["protocol"]["engines"]
    docs = {
        (info["engine"], name): doc
        for info in engines.values()
        for name, doc in (info.get("setting_docs") or {}).items()
        if doc
    }
    if not docs:
        return []
    return [
        "## The engines' own settings",
        "",
        "The engines' own settings, as each engine describes them:",
        "",
        *(f"- `{engine}` `{name}`: {doc}." for (engine, name), doc in sorted(docs.items())),
        "",
    ]


def environment(summary: Summary) -> list[str]:
    """The first environment that contributed runs; how the others differ is in DETAILS.md."""
    lines = ["## Environment", ""]
    envs = list(summary["environments"].values())
    lines += _environment_lines(envs[0])
    if len(envs) > 1:
        hardware = len({env["hardware_sha256"] for env in envs})
        lines += [
            f"{len(envs)} environment fingerprints contributed runs, on "
            + ("the same hardware" if hardware == 1 else f"{hardware} different machines")
            + "; what differs between them is in [DETAILS.md](DETAILS.md).",
            "",
        ]
    return lines


def environment_differences(summary: Summary) -> list[str]:
    envs = list(summary["environments"].values())
    if len(envs) < 2:
        return []
    first = envs[0]
    lines = [
        "## Environments",
        "",
        f"**{len(envs)} environment fingerprints** contributed runs; the others differ from the first "
        f"(`{first['fingerprint_sha256'][:12]}`, in REPORT.md) in:",
        "",
    ]
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
