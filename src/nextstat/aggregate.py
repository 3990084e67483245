"""Suite summary: run artifacts -> one row per backend x device x case x engine label.

The headline of a row is the median over seeds; mean, std and the min/max envelope
stand beside it. Ratios are taken against a reference row (``engines.REFERENCE_ENGINE`` by default)
of the same case on the same backend and device, as a ratio of medians.

What the report says about an engine (one of ours? what its own settings mean? a caveat
about its frontend?) comes from the engine's ``EngineSpec`` and is written here, into the
summary, so that the report reads nothing but the summary.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .artifacts import RUN_SCHEMA, SUMMARY_SCHEMA, TIMING_SCHEMA, ArtifactError, read_json, utc_now, validation_errors
from .cases.stan_program import BRIDGESTAN_DENSITY
from .diagnostics import agreement_z, correctness_z_limit
from .engines import REFERENCE_ENGINE, EngineError, EngineSpec, load_engine
from .moment_bias import STATISTICS
from .sbc import calibration_record, merge_shards
from .summary_types import (
    CORRECTNESS_FAILURES,
    Agreement,
    Correctness,
    EngineInfo,
    FairnessFlag,
    Harness,
    Presentation,
    Protocol,
    Row,
    RunRecord,
    Stats,
    Summary,
    TimingRecord,
    ratio_of_medians,
)

#: Per-run figures aggregated over seeds: (name, where it lives in the artifact).
METRICS: dict[str, tuple[str, str]] = {
    "ess_bulk_per_s": ("diagnostics", "ess_bulk_per_s"),
    "ess_bulk_per_s_end_to_end": ("diagnostics", "ess_bulk_per_s_end_to_end"),
    "ess_bulk_per_grad": ("diagnostics", "ess_bulk_per_grad"),
    "ess_bulk_per_grad_with_warmup": ("diagnostics", "ess_bulk_per_grad_with_warmup"),
    "min_ess_bulk": ("diagnostics", "min_ess_bulk"),
    "min_ess_tail": ("diagnostics", "min_ess_tail"),
    # min tail ESS per sampling second and per sampling gradient, derived here from fields
    # every run artifact has (``_derived``): bulk ESS can exceed the draws where moves are
    # antithetic (x -> -x leaves x^2 where it was); tail ESS cannot be gamed that way
    "ess_tail_per_s": ("derived", "ess_tail_per_s"),
    "ess_tail_per_grad": ("derived", "ess_tail_per_grad"),
    "max_rhat": ("diagnostics", "max_rhat"),
    "max_nested_rhat": ("diagnostics", "max_nested_rhat"),  # many-chain engines only
    "min_ebfmi": ("diagnostics", "min_ebfmi"),
    "divergence_pct": ("diagnostics", "divergence_pct"),
    "tree_depth_saturation_pct": ("diagnostics", "tree_depth_saturation_pct"),
    "mean_steps_per_draw": ("diagnostics", "mean_steps_per_draw"),
    "compile_s": ("timing", "compile_s"),
    "compile_cold_s": ("timing", "compile_cold_s"),
    "warmup_s": ("timing", "warmup_s"),
    "sampling_s": ("timing", "sampling_s"),
    "end_to_end_s": ("timing", "end_to_end_s"),
    "sampling_us_per_grad": ("timing", "sampling_us_per_grad"),
    "peak_rss_mb": ("timing", "peak_rss_mb"),
    "device_peak_mb": ("timing", "device_peak_mb"),
    # many-chain engines: gradients per chain until the ensemble's moments match the reference
    "grads_per_chain_to_converge": ("convergence", "grads_per_chain_to_converge"),
    "grads_per_chain_to_settle": ("convergence", "grads_per_chain_to_settle"),
    "convergence_settle_iterations": ("convergence", "settle_iterations"),  # present where settling was traced
    "convergence_b2_final": ("convergence", "b2_max_final"),
    # every run with a reference: gradients per chain until the median chain's running second
    # moments are right for good (the MAMS paper's b2_max and b2_avg < 0.01, counted as its code
    # counts: the last draw above 0.01, plus one; moment_bias.py), and until they first dip
    # below it (a figure for DETAILS, never a lead: a dip the chain climbs back out of counts)
    "b2_max_grads_per_chain": ("derived", "b2_max_grads_per_chain"),
    "b2_max_grads_per_chain_with_warmup": ("derived", "b2_max_grads_per_chain_with_warmup"),
    "b2_avg_grads_per_chain": ("derived", "b2_avg_grads_per_chain"),
    "b2_avg_grads_per_chain_with_warmup": ("derived", "b2_avg_grads_per_chain_with_warmup"),
    "b2_max_grads_per_chain_first_dip": ("derived", "b2_max_grads_per_chain_first_dip"),
    "b2_avg_grads_per_chain_first_dip": ("derived", "b2_avg_grads_per_chain_first_dip"),
    # present in every run that measured them, got there or not
    "b2_max_final": ("derived", "b2_max_final"),
    "b2_avg_final": ("derived", "b2_avg_final"),
}
#: Ratios to the reference row: higher is better for all of them.
RATIO_METRICS = (
    "ess_bulk_per_s",
    "ess_bulk_per_s_end_to_end",
    "ess_bulk_per_grad",
    "ess_bulk_per_grad_with_warmup",
    "ess_tail_per_s",
    "ess_tail_per_grad",
)
#: Ratios of sampling speed: not quoted where either row is callback-bound.
TIME_RATIO_METRICS = ("ess_bulk_per_s", "ess_bulk_per_s_end_to_end", "ess_tail_per_s")
#: Costs (lower is better): their ratio is the reference's over this row's, so that
#: here too a ratio above 1 means this row does better.
COST_RATIO_METRICS = (
    "grads_per_chain_to_converge",
    "grads_per_chain_to_settle",
    "b2_max_grads_per_chain",
    "b2_max_grads_per_chain_with_warmup",
    "b2_avg_grads_per_chain",
    "b2_avg_grads_per_chain_with_warmup",
)
#: Settings that must agree between rows of one table for a fair comparison.
FAIRNESS_FIELDS = ("target_accept", "metric", "max_tree_depth", "chain_method", "dtype", "warmup_budget", "threads")


def load_runs(paths: Iterable[Path]) -> list[tuple[Path, dict[str, Any]]]:
    runs = []
    for path in paths:
        doc = read_json(path)
        if not isinstance(doc, dict) or doc.get("schema_version") != RUN_SCHEMA:
            continue  # other artifacts (build records, summaries) may share the folder
        errors = validation_errors(doc)
        if errors:
            raise ArtifactError(f"{path}: invalid run artifact: {errors[0]}")
        runs.append((Path(path), doc))
    if not runs:
        raise ArtifactError("no run artifacts among the given files")
    return runs


def aggregate(
    suite: str,
    paths: Iterable[Path],
    reference: str = REFERENCE_ENGINE,
    benchmarks_dir: str | None = None,
    timing_paths: Iterable[Path] = (),
    presentation: Presentation | None = None,
    sbc_paths: Iterable[Path] = (),
) -> Summary:
    runs = load_runs(paths)
    records = _split_devices_by_hardware([run_record(path, doc) for path, doc in runs])
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for record in records:
        groups[(record["backend"], record["device"], record["case"], record["label"])].append(record)

    rows = [_row(key, members) for key, members in sorted(groups.items())]
    _add_ratios(rows, reference)
    environments: dict[str, dict[str, Any]] = {}
    for _, doc in runs:
        env = doc["environment"]
        environments.setdefault(env["fingerprint_sha256"], env)
    summary: Summary = {
        "schema_version": SUMMARY_SCHEMA,
        "suite": suite,
        "created_utc": utc_now(),
        "reference_engine": reference,
        "protocol": _protocol(runs),
        "environments": environments,
        "runs": records,
        "rows": rows,
        "agreement": _agreement(runs, reference),
        "fairness_flags": _fairness_flags(rows),
        "harness": _harness(runs, benchmarks_dir),
        "timings": [_timing_record(path) for path in timing_paths],
    }
    if presentation:
        summary["presentation"] = presentation
    shards = [(str(path), read_json(path)) for path in sbc_paths]
    calibration = [calibration_record(doc, path) for path, doc in merge_shards(shards)]
    if calibration:
        summary["calibration"] = calibration
    return summary


def _engine_spec(name: str) -> EngineSpec | None:
    """The spec of the engine that made a run (ours, or a plug-in loadable here); None for a
    name no engine registers (the failed artifact of a mistyped ``--engine``, or a plug-in
    installed only in another row's interpreter), which has no facts to report."""
    try:
        return load_engine(name)
    except EngineError:
        return None


def _timing_record(path: Path) -> TimingRecord:
    doc = read_json(path)
    errors = validation_errors(doc, TIMING_SCHEMA)
    if errors:
        raise ArtifactError(f"{path}: invalid timing artifact: {errors[0]}")
    return {
        "case": doc["case"],
        "label": doc["label"],
        "engine": doc["engine"],
        "seed": doc["seed"],
        "budget": doc["budget"],
        "status": doc["status"],
        "reason": doc["reason"],
        "backend": doc["backend"],
        "modes": doc["modes"],
    }


def run_record(path: Path, doc: dict[str, Any]) -> RunRecord:
    env = doc["environment"]
    ok = doc["status"] == "ok"
    sections = {**doc, "derived": _derived(doc)}  # where METRICS looks each figure up
    record: RunRecord = {
        "path": str(path),
        "case": doc["case"],
        "label": doc["label"],
        "engine": doc["engine"],
        "seed": doc["seed"],
        "status": doc["status"],
        "reason": doc["reason"],
        "backend": doc["backend"],
        "device": _device(env, doc["backend"]),
        "hostname": env["hostname"],
        "hardware_sha256": env["hardware_sha256"],
        "fingerprint_sha256": env["fingerprint_sha256"],
        "fairness": doc["fairness"],
        "budget": doc["config"]["budget"],
        "settings": doc["config"]["settings"],
        "frontend": (doc.get("engine_info") or {}).get("frontend"),
        "density": (doc.get("engine_info") or {}).get("density", "jax"),
        "is_control": bool((doc.get("case_info") or {}).get("is_control")),
        "verdict": doc["quality"]["verdict"] if ok else None,
        "failed_checks": [c["name"] for c in doc["quality"]["checks"] if not c["passed"]] if ok else [],
        "correctness": _correctness(doc["correctness"]) if ok else None,
        "metrics": {name: (sections.get(section) or {}).get(key) for name, (section, key) in METRICS.items()},
        "convergence_curve": (doc.get("convergence") or {}).get("curve"),
        # artifacts made before the field existed used the Gaussian form
        "convergence_variance": (
            (doc.get("convergence") or {}).get("variance_of_square", "gaussian from mean and sd")
            if doc.get("convergence")
            else None
        ),
        "command": doc["provenance"]["command"],
    }
    # the digests `nextstat reproduce` checks a summary alone by, where the artifact has them
    if doc.get("draws_sha256"):
        record["draws_sha256"] = doc["draws_sha256"]
    if doc["provenance"].get("source_sha256"):
        record["source_sha256"] = doc["provenance"]["source_sha256"]
    return record


def _correctness(section: dict[str, Any]) -> Correctness:
    """A run artifact's correctness, as much of it as the summary keeps."""
    record: Correctness = {"reference": section["reference"], "verdict": section["verdict"], "max_z": section["max_z"]}
    if section.get("threshold") is not None:
        record["threshold"] = section["threshold"]
    return record


def _derived(doc: dict[str, Any]) -> dict[str, Any]:
    """Figures computed from a run artifact's own fields (see METRICS)."""
    tail = (doc.get("diagnostics") or {}).get("min_ess_tail")
    grads = (doc.get("gradients") or {}).get("sampling")
    seconds = (doc.get("timing") or {}).get("sampling_s")
    bias = doc.get("second_moment_bias") or {}
    return {
        "ess_tail_per_s": tail / seconds if tail is not None and seconds else None,
        "ess_tail_per_grad": tail / grads if tail is not None and grads else None,
        **{key: value for statistic in STATISTICS for key, value in _paper_cost(statistic, bias).items()},
    }


def _paper_cost(statistic: str, bias: dict[str, Any]) -> dict[str, Any]:
    """The MAMS paper's cost from an artifact's ``second_moment_bias``: gradients per chain
    until the median chain's b2 stays below the threshold to the end of the run (its code's
    count: the last draw above, plus one), with warmup's gradients added; the first dip
    below beside it; and the final b2."""
    figure = bias.get(statistic) or {}
    stay = figure.get("grads_per_chain_to_stay")
    warmup = bias.get("warmup_grads_per_chain")
    return {
        f"{statistic}_grads_per_chain": stay,
        f"{statistic}_grads_per_chain_with_warmup": stay + warmup if stay is not None and warmup is not None else None,
        f"{statistic}_grads_per_chain_first_dip": figure.get("grads_per_chain"),
        f"{statistic}_final": figure.get("final"),
    }


def _split_devices_by_hardware(records: list[RunRecord]) -> list[RunRecord]:
    """Runs from nodes with different hardware fingerprints never share a row, even when
    their CPU (or GPU) model names agree, as on a cluster's mixed partitions: the device
    name then carries the node's hardware hash."""
    hashes: dict[str, set[str]] = defaultdict(set)
    for record in records:
        hashes[record["device"]].add(record["hardware_sha256"])
    for record in records:
        if len(hashes[record["device"]]) > 1:
            record["device"] = f"{record['device']} [hardware {record['hardware_sha256'][:8]}]"
    return records


def _device(env: dict[str, Any], backend: str) -> str:
    if backend == "gpu" and env.get("gpus"):
        return env["gpus"][0]["name"]
    return env["cpu"]["model"]


def describe(values: list[float | None]) -> Stats | None:
    """Median (the headline), mean, std, min and max over seeds."""
    measured = [float(v) for v in values if v is not None]
    if not measured:
        return None
    return {
        "n": len(measured),
        "median": statistics.median(measured),
        "mean": statistics.fmean(measured),
        "std": statistics.stdev(measured) if len(measured) > 1 else 0.0,
        "min": min(measured),
        "max": max(measured),
    }


def _row(key: tuple, members: list[RunRecord]) -> Row:
    backend, device, case, label = key
    ok = [m for m in members if m["status"] == "ok"]
    first = (ok or members)[0]
    spec = _engine_spec(first["engine"])
    return {
        "backend": backend,
        "device": device,
        "case": case,
        "label": label,
        "engine": first["engine"],
        "frontend": first["frontend"],
        "frontend_caveat": (
            spec.frontend_caveats.get(first["frontend"]) if spec and first["frontend"] is not None else None
        ),
        # a callback frontend, or a density that calls BridgeStan from JAX (cases/stan_program.py)
        "callback_bound": bool(spec and first["frontend"] in spec.callback_bound_frontends)
        or first.get("density") == BRIDGESTAN_DENSITY,
        "settings_unrecorded": _unrecorded_settings(spec, first["settings"]),
        "is_control": first["is_control"],
        "seeds": sorted(m["seed"] for m in members),
        "n_ok": len(ok),
        "n_failed": sum(m["status"] == "failed" for m in members),
        "n_skipped": sum(m["status"] == "skipped" for m in members),
        "health_passed": sum(m["verdict"] in ("pass", "expected-fail") for m in ok),
        "correctness_failed": sum(_correctness_verdict(m) in CORRECTNESS_FAILURES for m in ok),
        "fairness": first["fairness"],
        "budget": first["budget"],
        "settings": first["settings"],
        "metrics": {name: describe([m["metrics"][name] for m in ok]) for name in METRICS},
        "ratios": {},
    }


def _correctness_verdict(run: RunRecord) -> str | None:
    correctness = run["correctness"]
    return correctness.get("verdict") if correctness else None


def _unrecorded_settings(spec: EngineSpec | None, settings: dict[str, Any]) -> dict[str, Any]:
    """The engine's settings a run's artifact lacks because it predates them, with the
    value the engine ran with then (``Setting.absent_means``)."""
    if spec is None:
        return {}
    return {
        name: setting.absent_means
        for name, setting in spec.settings.items()
        if setting.absent_means is not None and name not in settings
    }


def _add_ratios(rows: list[Row], reference: str) -> None:
    """Ratio of medians (and the per-seed ratio envelope) against the reference row."""
    by_key = {(r["backend"], r["device"], r["case"], r["label"]): r for r in rows}
    for row in rows:
        ref = by_key.get((row["backend"], row["device"], row["case"], reference))
        if ref is None or ref is row:
            continue
        bound = [r["label"] for r in (row, ref) if r.get("callback_bound")]
        if bound:
            row["time_ratios_withheld"] = bound
        for name in RATIO_METRICS:
            if bound and name in TIME_RATIO_METRICS:
                continue
            found = ratio_of_medians(row["metrics"][name], ref["metrics"][name], reference)
            if found:
                row["ratios"][name] = found
        for name in COST_RATIO_METRICS:
            found = ratio_of_medians(ref["metrics"][name], row["metrics"][name], reference)
            if found:
                row["ratios"][name] = found


def _agreement(runs, reference: str) -> list[Agreement]:
    """Posterior means of each engine against the reference engine, seed by seed:
    max over parameters of |mean_a - mean_b| / sqrt(mcse_a^2 + mcse_b^2)."""
    by_key = {(d["backend"], d["case"], d["label"], d["seed"]): d for _, d in runs if d["status"] == "ok"}
    out: list[Agreement] = []
    for (backend, case, label, seed), doc in sorted(by_key.items()):
        ref = by_key.get((backend, case, reference, seed))
        if ref is None or label == reference:
            continue
        z = {
            name: agreement_z(row["mean"], row["mcse"], ref["summary"][name]["mean"], ref["summary"][name]["mcse"])
            for name, row in doc["summary"].items()
            if name in ref["summary"]
        }
        finite = {k: v for k, v in z.items() if v is not None}
        worst = max(finite, key=lambda name: finite[name]) if finite else None
        out.append(
            {
                "backend": backend,
                "case": case,
                "label": label,
                "reference": reference,
                "seed": seed,
                "max_z": finite[worst] if worst else None,
                "worst_parameter": worst,
                "threshold": correctness_z_limit(len(z)),
            }
        )
    return out


def _fairness_flags(rows: list[Row]) -> list[FairnessFlag]:
    """Settings that differ between rows of the same table (backend, device, case)."""
    tables: dict[tuple, list[Row]] = defaultdict(list)
    for row in rows:
        tables[(row["backend"], row["device"], row["case"])].append(row)
    flags: list[FairnessFlag] = []
    for (backend, device, case), members in sorted(tables.items()):
        for field in FAIRNESS_FIELDS:
            values = {m["label"]: m["fairness"].get(field) for m in members}
            if len({repr(v) for v in values.values()}) > 1:
                flags.append({"backend": backend, "device": device, "case": case, "field": field, "values": values})
        budgets = {
            m["label"]: f"{m['budget']['chains']}x{m['budget']['warmup']}x{m['budget']['draws']}" for m in members
        }
        if len(set(budgets.values())) > 1:
            flags.append({"backend": backend, "device": device, "case": case, "field": "budget", "values": budgets})
    return flags


def _protocol(runs) -> Protocol:
    engines: dict[str, EngineInfo] = {}
    settings_seen: dict[str, Counter] = defaultdict(Counter)
    for _, doc in runs:  # a suite's case_settings change a row's settings on some cases: name the usual ones
        settings_seen[doc["label"]][json.dumps(doc["config"]["settings"], sort_keys=True)] += 1
    for _, doc in runs:
        if doc["label"] not in engines:
            engines[doc["label"]] = _engine_info(doc, json.loads(settings_seen[doc["label"]].most_common(1)[0][0]))
        if doc["case"] not in engines[doc["label"]]["cases"]:
            engines[doc["label"]]["cases"].append(doc["case"])
    for info in engines.values():
        info["cases"].sort()
    return {
        "seeds": sorted({doc["seed"] for _, doc in runs}),
        "cases": sorted({doc["case"] for _, doc in runs}),
        "budgets": sorted({"{chains}x{warmup}x{draws}".format(**doc["config"]["budget"]) for _, doc in runs}),
        "threads_per_run": sorted({doc["fairness"]["threads"] for _, doc in runs}),
        "runs_pinned": [sum(1 for _, doc in runs if doc["fairness"].get("cpus")), len(runs)],
        "engines": engines,
    }


def _engine_info(doc: dict[str, Any], settings: dict[str, Any]) -> EngineInfo:
    """A label's engine, usual settings and frontend, and its engine's own facts."""
    spec = _engine_spec(doc["engine"])
    return {
        "engine": doc["engine"],
        "settings": settings,
        "frontend": (doc.get("engine_info") or {}).get("frontend"),
        "versions": (doc.get("engine_info") or {}).get("versions"),
        "initialization": (doc.get("engine_info") or {}).get("initialization"),
        "cases": [],
        "ours": spec.ours if spec else False,
        "nuts": spec.nuts if spec else False,
        "setting_docs": {name: setting.doc for name, setting in spec.settings.items()} if spec else {},
    }


def _harness(runs, benchmarks_dir: str | None) -> Harness:
    """How much of the run stage's wall time is the harness's own (process start,
    imports, fingerprint, diagnostics, writing) rather than the engine's."""
    timed = [d["timing"] for _, d in runs if d["timing"]]
    process = sum(t["process_s"] for t in timed)
    engine = sum(t["engine_wall_s"] for t in timed)
    out: Harness = {
        "runs_timed": len(timed),
        "run_process_s": process,
        "engine_wall_s": engine,
        "harness_s": process - engine,
        "harness_share_of_runs": (process - engine) / process if process > 0 else None,
        "rule_wall_s": None,
    }
    if benchmarks_dir and Path(benchmarks_dir).is_dir():
        totals: dict[str, float] = defaultdict(float)
        for tsv in Path(benchmarks_dir).rglob("*.tsv"):
            stage = tsv.relative_to(benchmarks_dir).parts[0]
            with tsv.open() as fh:
                for record in csv.DictReader(fh, delimiter="\t"):
                    totals[stage] += float(record["s"])
        out["rule_wall_s"] = dict(sorted(totals.items()))
    return out
