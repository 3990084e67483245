"""One run: case x engine x seed -> a schema-valid artifact, whatever happens.

Bad input raises before anything runs; a missing engine gives ``skipped``; an engine
that breaks gives ``failed`` with the reason. Either way the artifact is complete
enough to validate, aggregate and report.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
import traceback
from typing import Any, Mapping

import psutil

from . import __version__
from .artifacts import RUN_SCHEMA, read_json, utc_now
from .cases import Case, get_case
from .diagnostics import correctness, ensemble_convergence, health_gate, run_metrics
from .engines import Budget, EngineUnavailable, load_engine, resolve_settings
from .environment import backend, fingerprint


def run_command(case: str, engine: str, label: str, seed: int, budget: Budget, settings: Mapping[str, Any],
                suite: str, threads: int, out: str) -> str:
    """The command line that reproduces a run."""
    args = ["nextstat", "run", "--suite", suite, "--case", case, "--engine", engine, "--label", label,
            "--seed", str(seed), "--budget", budget.spec, "--threads", str(threads)]
    for key, value in sorted(settings.items()):
        args += ["--set", f"{key}={json.dumps(value)}"]
    return shlex.join([*args, "--out", out])


def execute(case_spec: str, engine_name: str, seed: int, budget: Budget, *, suite: str = "adhoc",
            label: str | None = None, settings: Mapping[str, Any] | None = None, threads: int = 1,
            compile_record: str | None = None, out: str = "run.json") -> dict[str, Any]:
    """Run and return the artifact. Raises only for bad input (case, engine, settings)."""
    label = label or engine_name
    resolved = resolve_settings(settings, engine_name)
    case = get_case(case_spec)
    engine = load_engine(engine_name)
    artifact = _skeleton(case_spec, engine_name, label, seed, budget, resolved, suite, threads, out)
    artifact["case_info"] = _case_info(case)
    artifact["dataset"] = {"id": case.dataset_id, "sha256": case.dataset_sha256}
    try:
        started = time.perf_counter()
        artifact["engine_info"] = {"versions": engine.versions()}  # imports the engine's library
        result = engine.run(case, resolved, budget, seed).check(budget, engine.stat_names)
        engine_wall_s = time.perf_counter() - started
    except EngineUnavailable as exc:
        return _finish(artifact, status="skipped", reason=str(exc))
    except Exception as exc:  # an engine that breaks is a result, not a crash of the workflow
        reason = f"{type(exc).__name__}: {exc}".strip()
        artifact["engine_info"]["traceback"] = traceback.format_exc(limit=8)
        return _finish(artifact, status="failed", reason=reason)

    computed = run_metrics(result, resolved["max_tree_depth"])
    gate = health_gate(computed["metrics"], kind=engine.health_gate)
    artifact["engine_info"].update(result.engine_info)
    artifact["engine_info"]["nuts"] = engine.nuts
    artifact["timing"] = {
        "compile_s": result.compile_s,
        "compile_cold_s": _cold_compile_s(compile_record, result),
        "warmup_s": result.warmup_s,
        "sampling_s": result.sampling_s,
        "end_to_end_s": result.compile_s + result.warmup_s + result.sampling_s,
        "engine_wall_s": engine_wall_s,
        "sampling_us_per_grad": 1e6 * result.sampling_s / max(result.grad_evals_sampling, 1),
    }
    artifact["gradients"] = {"warmup": result.grad_evals_warmup, "sampling": result.grad_evals_sampling}
    artifact["diagnostics"] = computed["metrics"]
    artifact["summary"] = computed["summary"]
    artifact["quality"] = {**gate, "verdict": _verdict(gate["passed"], case.is_control)}
    artifact["correctness"] = correctness(computed["summary"], case.reference, case.reference_problem)
    if result.ensemble_trace is not None and case.reference is not None:
        artifact["convergence"] = ensemble_convergence(result.ensemble_trace["moments"],
                                                       result.ensemble_trace["grads_per_chain"],
                                                       case.reference, case.param_names)
    return _finish(artifact, status="ok", reason=None)


def input_error_artifact(case_spec: str, engine_name: str, seed: int, budget: Budget | None, reason: str, *,
                         suite: str, label: str | None, threads: int, out: str) -> dict[str, Any]:
    """A failed artifact for input that could not even start a run (the CLI still exits non-zero)."""
    artifact = _skeleton(case_spec, engine_name, label or engine_name, seed, budget or Budget(1, 0, 4),
                         resolve_settings(None), suite, threads, out)
    return _finish(artifact, status="failed", reason=reason)


def _skeleton(case_spec, engine_name, label, seed, budget, settings, suite, threads, out) -> dict[str, Any]:
    config = {"budget": {"chains": budget.chains, "warmup": budget.warmup, "draws": budget.draws},
              "settings": dict(settings)}
    identity = {"suite": suite, "case": case_spec, "engine": engine_name, "label": label, "seed": seed, **config}
    return {
        "schema_version": RUN_SCHEMA,
        "status": None,
        "reason": None,
        "suite": suite,
        "case": case_spec,
        "engine": engine_name,
        "label": label,
        "seed": seed,
        "created_utc": utc_now(),
        "config": config,
        "fairness": {
            "target_accept": settings["target_accept"],
            "metric": settings["metric"],
            "max_tree_depth": settings["max_tree_depth"],
            "chain_method": settings["chain_method"],
            "dtype": settings["dtype"],
            "device_count": None,  # filled in from the fingerprint
            "warmup_budget": budget.warmup,
            "threads": threads,
        },
        "case_info": None,
        "dataset": None,
        "environment": None,
        "backend": None,
        "engine_info": None,
        "timing": None,
        "gradients": None,
        "diagnostics": None,
        "summary": None,
        "quality": None,
        "correctness": None,
        "provenance": {
            "config_sha256": hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest(),
            "command": run_command(case_spec, engine_name, label, seed, budget, settings, suite, threads, out),
            "nextstat_version": __version__,
        },
    }


def _finish(artifact: dict[str, Any], *, status: str, reason: str | None) -> dict[str, Any]:
    """Fingerprint last, after the engine ran: it then records the JAX configuration
    (float width, devices) that the engine actually used."""
    env = fingerprint()
    artifact["environment"] = env
    artifact["backend"] = backend(env)
    artifact["fairness"]["device_count"] = (env.get("jax") or {}).get("device_count")
    artifact["status"] = status
    artifact["reason"] = reason
    if artifact["timing"] is not None:
        artifact["timing"]["process_s"] = time.time() - psutil.Process().create_time()
    return artifact


def _case_info(case: Case) -> dict[str, Any]:
    return {
        "family": case.family,
        "parameterization": case.parameterization,
        "dim": case.dim,
        "param_names": list(case.param_names),
        "source": case.source,
        "is_control": case.is_control,
        "reference": case.reference.kind if case.reference else None,
    }


def _verdict(passed: bool, is_control: bool) -> str:
    if is_control:
        return "unexpected-pass" if passed else "expected-fail"
    return "pass" if passed else "fail"


def _cold_compile_s(compile_record: str | None, result) -> float | None:
    """Stan's cold compile: from the workflow's build record when given, else this run's own
    compile if it missed the model cache."""
    if compile_record:
        record = read_json(compile_record)
        if record.get("status") == "ok" and record.get("cache") == "miss":
            return float(record["compile_s"])
    if result.engine_info.get("compile_cache") == "miss":
        return result.compile_s
    return None
