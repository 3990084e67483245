"""The regression gate: a current suite summary against a baseline one.

Three seeds are too few for a rank test, so every figure is compared as a ratio of
medians, with a tolerance taken from the baseline's own spread across seeds:

    tolerance = clip(spread_factor * (max - min) / median, min_tolerance, 1 - floor)
    allowed   = baseline median * (1 - tolerance)

A noisy baseline allows more, a tight one at least ``min_tolerance``, and no baseline
allows a drop below ``floor`` times its median. The rules:

- health: every run of a gating row is ok, passes its health gate and is not refuted by
  its reference (correctness); a pathological control must still fail its gate;
- ESS per gradient (machine-independent): current median >= allowed, for the bulk ESS
  and, as its own rule, the tail ESS (a change that makes moves antithetic can raise the
  bulk figure while the tails mix worse);
- wall time: only as the ratio of a row's ESS/s to the reference engine's, measured in
  the same run, and only when both summaries come from the same environment (hardware,
  software and thread settings; the commit under test aside). Otherwise it is reported,
  not gated;
- a gating row of the baseline missing from the current summary is a failure;
- calibration: where the suite runs simulation-based calibration (its ``sbc:`` block), every
  gating row must be calibrated on every case (no baseline needed).
"""

from __future__ import annotations

import hashlib
import json
from copy import deepcopy
from pathlib import Path
from typing import Any

from .artifacts import GATE_SCHEMA, POLICY_SCHEMA, SUMMARY_SCHEMA, ArtifactError, read_json, utc_now, validation_errors
from .summary_types import Correctness, Row, RunRecord, Spread, Summary, median, ratio_spread

DEFAULT_POLICY: dict[str, Any] = {
    "labels": None,  # engine labels whose rows gate; None: every row
    "ess_per_grad": {"metric": "ess_bulk_per_grad", "spread_factor": 1.0, "min_tolerance": 0.05, "floor": 0.7},
    "tail_ess_per_grad": {"metric": "ess_tail_per_grad", "spread_factor": 1.0, "min_tolerance": 0.05, "floor": 0.7},
    "wall_time": {"metric": "ess_bulk_per_s", "spread_factor": 0.5, "min_tolerance": 0.10, "floor": 0.6},
    "missing_rows": "fail",  # or "report"
}

#: Environment fields that do not change wall times (or name the commit under test).
_NOT_TIMING_FIELDS = ("hostname", "git", "fingerprint_sha256", "hardware_sha256", "schema_version")


#: check kinds that compare a figure with its baseline (the report's comparison table)
_COMPARED = ("ess_per_grad", "tail_ess_per_grad", "wall_time")


class GateInputError(ValueError):
    """A summary or policy the gate cannot use."""


def load_policy(path: str | Path | None) -> dict[str, Any]:
    """The default policy, updated section by section from a YAML or JSON file."""
    policy = deepcopy(DEFAULT_POLICY)
    if path is None:
        return policy
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise GateInputError(f"{path}: cannot read the policy ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise GateInputError(f"{path}: the policy is not valid YAML or JSON ({exc})") from None
    errors = validation_errors(doc, POLICY_SCHEMA)
    if errors:
        raise GateInputError(f"{path}: invalid gate policy: {errors[0]}")
    for key, value in doc.items():
        if isinstance(value, dict):
            policy[key].update(value)
        else:
            policy[key] = value
    return policy


def load_summary(path: str | Path, role: str) -> Summary:
    try:
        doc = read_json(path)
    except ArtifactError as exc:
        raise GateInputError(f"--{role}: {exc}") from None
    errors = validation_errors(doc, SUMMARY_SCHEMA)
    if errors:
        raise GateInputError(f"--{role} {path}: not a valid suite summary: {errors[0]}")
    return doc


def rows_against_rows(summary: Summary, pairs: list[tuple[str, str]]) -> tuple[Summary, Summary]:
    """One summary as a baseline and a current summary, for gating rows against rows of the
    same run: each pair (baseline label, current label), e.g. a library's main branch and
    its pull request installed in two environments. The baseline holds the baseline
    labels' rows and runs under the current labels' names; the current summary, the
    current labels'. Both keep every environment of the run: the rows ran side by side on
    one machine, so their wall times are compared (the software under test is what
    differs)."""
    known = {row["label"] for row in summary["rows"]}
    for base_label, current_label in pairs:
        for label in (base_label, current_label):
            if label not in known:
                raise GateInputError(f"--rows {base_label}={current_label}: the summary has no row labelled '{label}'")
    rename = dict(pairs)
    current_labels = set(rename.values())

    def view(records: list, keep) -> list:
        return [deepcopy(record) for record in records if keep(record["label"])]

    def renamed(records: list) -> list:
        for record in records:
            record["label"] = rename[record["label"]]
        return records

    baseline = deepcopy(summary)
    baseline["rows"] = renamed(view(summary["rows"], rename.__contains__))
    baseline["runs"] = renamed(view(summary["runs"], rename.__contains__))
    current = deepcopy(summary)
    current["rows"] = view(summary["rows"], current_labels.__contains__)
    current["runs"] = view(summary["runs"], current_labels.__contains__)
    return baseline, current


def tolerance_for(stats: Spread, spread_factor: float, min_tolerance: float, floor: float) -> float:
    centre = stats["median"]
    spread = (stats["max"] - stats["min"]) / centre if centre > 0 else 0.0
    return min(max(spread_factor * spread, min_tolerance), 1.0 - floor)


def timing_environment(summary: Summary) -> set[str]:
    """Hashes of the summary's environments without the fields wall times do not depend on."""
    keys = set()
    for env in summary["environments"].values():
        kept = {k: v for k, v in env.items() if k not in _NOT_TIMING_FIELDS}
        keys.add(hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest())
    return keys


def _row_key(row: Row) -> tuple[str, str, str]:
    return row["backend"], row["case"], row["label"]


def _name(key: tuple[str, str, str]) -> str:
    backend, case, label = key
    return f"{case} / {label} ({backend})"


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def evaluate(
    baseline: Summary,
    current: Summary,
    policy: dict[str, Any] | None = None,
    baseline_path: str = "baseline",
    current_path: str = "current",
) -> dict[str, Any]:
    """Every check of the current summary against the baseline, and the verdict."""
    policy = policy or deepcopy(DEFAULT_POLICY)
    if baseline["suite"] != current["suite"]:
        raise GateInputError(
            f"the baseline is suite '{baseline['suite']}' and the current summary is suite "
            f"'{current['suite']}': a gate compares one suite with itself"
        )
    labels = policy["labels"]
    gating = lambda key: labels is None or key[2] in labels  # noqa: E731
    base_rows = {_row_key(r): r for r in baseline["rows"]}
    cur_rows = {_row_key(r): r for r in current["rows"]}
    same_env = timing_environment(baseline) == timing_environment(current)
    env_note = (
        None
        if same_env
        else (
            "the baseline and current summaries come from different environments (hardware, software or thread "
            "settings), so wall-time ratios are reported, not gated"
        )
    )
    checks: list[dict[str, Any]] = []

    def add(kind, key, status, message, **figures):
        backend, case, label = key
        checks.append(
            {
                "kind": kind,
                "backend": backend,
                "case": case,
                "label": label,
                "status": status,
                "message": message,
                **{k: figures.get(k) for k in ("metric", "seed", "baseline", "current", "bound", "tolerance")},
            }
        )

    for key in sorted(base_rows):
        if gating(key) and key not in cur_rows:
            status = "fail" if policy["missing_rows"] == "fail" else "report-only"
            add("missing", key, status, f"{_name(key)}: in the baseline but not in the current summary")

    for run in current["runs"]:
        key = (run["backend"], run["case"], run["label"])
        if gating(key):
            _health_check(run, key, add)

    for key, row in sorted(cur_rows.items()):
        if not gating(key):
            continue
        base = base_rows.get(key)
        if base is None:
            add("new", key, "report-only", f"{_name(key)}: new row, no baseline to compare with")
            continue
        if row["is_control"]:
            continue  # controls gate on failing (health), not on efficiency
        if row["budget"] != base["budget"]:
            add(
                "budget",
                key,
                "report-only",
                f"{_name(key)}: budgets differ (baseline {base['budget']}, "
                f"current {row['budget']}); figures not compared",
            )
            continue
        _ess_check(base, row, key, policy["ess_per_grad"], add)
        _ess_check(base, row, key, policy["tail_ess_per_grad"], add, kind="tail_ess_per_grad")
        _wall_time_check(base, row, key, policy["wall_time"], same_env, env_note, add)

    for entry in current.get("calibration") or []:
        key = ("sbc", entry["case"], entry["label"])
        if gating(key):
            _calibration_check(entry, key, add)

    failures = [c for c in checks if c["status"] == "fail"]
    return {
        "schema_version": GATE_SCHEMA,
        "created_utc": utc_now(),
        "suite": current["suite"],
        "baseline": {"path": str(baseline_path), "created_utc": baseline["created_utc"]},
        "current": {"path": str(current_path), "created_utc": current["created_utc"]},
        "policy": policy,
        "same_environment": same_env,
        "environment_note": env_note,
        "verdict": "fail" if failures else "pass",
        "n_checks": len(checks),
        "n_failed": len(failures),
        "checks": checks,
    }


def _calibration_check(entry: dict[str, Any], key, add) -> None:
    """A row's simulation-based calibration (the suite's ``sbc:`` block) must find no
    miscalibrated parameter: a calibrated sampler's verdict does not need a baseline."""
    p_values = entry["test"]["p_value"]
    worst = min(p_values, key=lambda name: p_values[name]) if p_values else None
    said = f"smallest p {p_values[worst]:.3g} for {worst}" if worst else "no parameters ranked"
    n = entry["replications_done"]
    if entry["miscalibrated_parameters"]:
        failed = ", ".join(entry["miscalibrated_parameters"])
        add("calibration", key, "fail", f"{_name(key)}: miscalibrated over {n} replications: {failed} ({said})")
    elif n == 0:
        add("calibration", key, "fail", f"{_name(key)}: SBC finished no replication")
    else:
        add("calibration", key, "pass", f"{_name(key)}: calibrated over {n} replications ({said})")


def _health_check(run: RunRecord, key, add) -> None:
    name = f"{_name(key)} seed {run['seed']}"
    if run["status"] != "ok":
        add("health", key, "fail", f"{name}: run {run['status']}: {run['reason']}", seed=run["seed"])
        return
    failed = ", ".join(run["failed_checks"]) or "none"
    if run["is_control"]:
        if run["verdict"] != "expected-fail":
            add(
                "control",
                key,
                "fail",
                f"{name}: the pathological control passed its health gate; the gate no longer detects it",
                seed=run["seed"],
            )
        else:
            add("control", key, "pass", f"{name}: control still fails its gate ({failed})", seed=run["seed"])
        return
    if run["verdict"] != "pass":
        add("health", key, "fail", f"{name}: health gate failed ({failed})", seed=run["seed"])
        return
    correctness: Correctness | dict[str, Any] = run["correctness"] or {}
    if correctness.get("verdict") == "fail":
        z = correctness["max_z"]
        add(
            "correctness",
            key,
            "fail",
            f"{name}: posterior disagrees with the {correctness['reference']} reference (max |z| {_fmt(z)})",
            seed=run["seed"],
            current=z,
        )
    elif correctness.get("verdict") in ("reference-mismatch", "reference-invalid"):
        add(
            "correctness",
            key,
            "fail",
            f"{name}: {correctness['verdict']}: the case's reference cannot be "
            "used, so the run's correctness is unknown",
            seed=run["seed"],
        )
    else:
        add("health", key, "pass", f"{name}: healthy", seed=run["seed"])


def _compare(kind, key, metric, base_stats: Spread | None, current_value: float | None, rule, add, what: str) -> None:
    if base_stats is None or current_value is None:
        add(
            kind,
            key,
            "report-only",
            f"{_name(key)}: {what} missing in the {'baseline' if base_stats is None else 'current summary'}",
            metric=metric,
        )
        return
    tolerance = tolerance_for(base_stats, rule["spread_factor"], rule["min_tolerance"], rule["floor"])
    bound = base_stats["median"] * (1.0 - tolerance)
    ok = current_value >= bound
    message = (
        f"{_name(key)}: {what} {_fmt(current_value)} {'>=' if ok else '<'} allowed {_fmt(bound)} "
        f"(baseline median {_fmt(base_stats['median'])}, seeds {_fmt(base_stats['min'])}-"
        f"{_fmt(base_stats['max'])}, tolerance {tolerance:.0%})"
    )
    add(
        kind,
        key,
        "pass" if ok else "fail",
        ("" if ok else "REGRESSION ") + message,
        metric=metric,
        baseline=base_stats["median"],
        current=current_value,
        bound=bound,
        tolerance=tolerance,
    )


def _ess_check(base: Row, row: Row, key, rule, add, kind: str = "ess_per_grad") -> None:
    metric = rule["metric"]
    _compare(
        kind,
        key,
        metric,
        base["metrics"].get(metric),
        median(row["metrics"].get(metric)),
        rule,
        add,
        f"{metric} median",
    )


def _wall_time_check(base: Row, row: Row, key, rule, same_env, env_note, add) -> None:
    metric = rule["metric"]
    base_ratio, cur_ratio = base["ratios"].get(metric), row["ratios"].get(metric)
    either = cur_ratio or base_ratio
    if either is None:
        return  # the reference row itself, or a suite without the reference engine
    reference = either["reference"]
    what = f"{metric} ratio to {reference}"
    metric = f"{metric} / {reference}"  # the figure compared is the ratio, not the rate
    stats = ratio_spread(base_ratio) if base_ratio else None
    if stats is None or cur_ratio is None:
        add("wall_time", key, "report-only", f"{_name(key)}: {what} missing in one summary", metric=metric)
        return
    if not same_env:
        add(
            "wall_time",
            key,
            "report-only",
            f"{_name(key)}: {what} {_fmt(cur_ratio['ratio_of_medians'])} "
            f"(baseline {_fmt(stats['median'])}); not gated: {env_note}",
            metric=metric,
            baseline=stats["median"],
            current=cur_ratio["ratio_of_medians"],
        )
        return
    _compare("wall_time", key, metric, stats, cur_ratio["ratio_of_medians"], rule, add, what)


def markdown(result: dict[str, Any]) -> str:
    verdict = result["verdict"].upper()
    failed = [c for c in result["checks"] if c["status"] == "fail"]
    lines = [
        f"# Gate: {verdict} ({result['suite']})",
        "",
        f"{result['n_checks']} checks, {result['n_failed']} failed. Baseline `{result['baseline']['path']}` "
        f"({result['baseline']['created_utc']}), current `{result['current']['path']}` "
        f"({result['current']['created_utc']}).",
        "",
    ]
    if result["environment_note"]:
        lines += [f"Wall time: {result['environment_note']}.", ""]
    else:
        lines += ["Wall time: same environment, so ESS/s ratios to the reference engine are gated.", ""]
    if failed:
        lines += ["## Regressions", ""] + [f"- {c['message']}" for c in failed] + [""]
    compared = [c for c in result["checks"] if c["kind"] in _COMPARED]
    if compared:
        lines += [
            "## Comparisons",
            "",
            "| case | label | metric | baseline | current | allowed | tolerance | status |",
            "|---|---|---|---:|---:|---:|---:|---|",
        ]
        for c in compared:
            tolerance = f"{c['tolerance']:.0%}" if c["tolerance"] is not None else ""
            lines.append(
                f"| {c['case']} | {c['label']} | {c['metric']} | {_fmt(c['baseline'])} | "
                f"{_fmt(c['current'])} | {_fmt(c['bound'])} | {tolerance} | {c['status']} |"
            )
        lines.append("")
    notes = [c for c in result["checks"] if c["kind"] not in _COMPARED and c["status"] == "report-only"]
    if notes:
        lines += ["## Notes", ""] + [f"- {c['message']}" for c in notes] + [""]
    healthy = sum(c["status"] == "pass" for c in result["checks"] if c["kind"] in ("health", "control"))
    lines += [f"Health: {healthy} runs passed their health, correctness and control checks.", ""]
    calibrated = sum(c["status"] == "pass" for c in result["checks"] if c["kind"] == "calibration")
    if any(c["kind"] == "calibration" for c in result["checks"]):
        lines += [f"Calibration: {calibrated} case and row pairs calibrated (SBC).", ""]
    return "\n".join(lines)
