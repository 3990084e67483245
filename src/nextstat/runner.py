"""One run: case x engine x seed -> a schema-valid artifact, whatever happens.

Bad input raises before anything runs; a missing engine gives ``skipped``; an engine
that breaks gives ``failed`` with the reason. Either way the artifact is complete
enough to validate, aggregate and report.
"""

from __future__ import annotations

import functools
import hashlib
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from . import __version__
from .artifacts import RUN_SCHEMA, read_json, utc_now
from .cases import Case, get_case
from .cases.stan_program import with_forced_bridgestan_density
from .diagnostics import correctness, ensemble_convergence, health_gate, run_metrics
from .engines import Budget, EngineUnavailable, engine_provenance, load_engine, resolve_settings
from .environment import backend, fingerprint
from .moment_bias import chain_moment_bias
from .run_spec import RunSpec

#: The budget an input-error artifact records when the budget itself could not be read.
UNREAD_BUDGET = Budget(1, 0, 4)
# When set (its last entry), the time a run's own command started, for ``process_s``; runs
# in a batch (nextstat.batch) share one process, whose start is the first run's.
PROCESS_START: list[float] = []


def execute(spec: RunSpec, *, compile_record: str | None = None) -> dict[str, Any]:
    """Run and return the artifact. Raises only for bad input (case, engine, settings)."""
    spec = replace(spec, settings=resolve_settings(spec.settings, spec.engine))
    case = get_case(spec.case)
    engine = load_engine(spec.engine)
    artifact = _skeleton(spec)
    artifact["case_info"] = _case_info(case)
    artifact["dataset"] = {"id": case.dataset_id, "sha256": case.dataset_sha256}
    try:
        started = time.perf_counter()
        artifact["engine_info"] = {"versions": engine.versions()}  # imports the engine's library
        plugin = engine_provenance(spec.engine)
        if plugin is not None:  # the plug-in's own distribution is one of the row's versions
            artifact["engine_info"]["plugin"] = plugin
            if plugin.get("distribution"):
                artifact["engine_info"]["versions"][plugin["distribution"]] = plugin["version"]
        if engine.target == "jax-density" and spec.settings.get("density") == "bridgestan":
            case = with_forced_bridgestan_density(case)
            artifact["case_info"] = _case_info(case)
        if engine.target == "jax-density" and case.missing_jax_density:
            raise EngineUnavailable(f"{spec.engine} samples a JAX density: {case.missing_jax_density}")
        result = engine.run(case, spec.settings, spec.budget, spec.seed).check(spec.budget, engine.stat_names)
        engine_wall_s = time.perf_counter() - started
    except EngineUnavailable as exc:
        return _finish(artifact, status="skipped", reason=str(exc))
    except Exception as exc:  # an engine that breaks is a result, not a crash of the workflow
        reason = f"{type(exc).__name__}: {exc}".strip()
        artifact["engine_info"]["traceback"] = traceback.format_exc(limit=8)
        return _finish(artifact, status="failed", reason=reason)

    computed = run_metrics(result, spec.settings["max_tree_depth"])
    gate = health_gate(computed["metrics"], kind=engine.health_gate)
    artifact["engine_info"].update(result.engine_info)
    artifact["engine_info"]["nuts"] = engine.nuts
    if engine.target == "jax-density":  # what the run sampled, unless the engine said (nutpie's native frontend)
        artifact["engine_info"].setdefault("density", case.density_source)
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
    # the draws themselves, as float64 in (chain, draw, parameter) order: `nextstat reproduce` compares it
    draws = np.ascontiguousarray(result.draws, dtype=np.float64)
    artifact["draws_sha256"] = hashlib.sha256(draws.tobytes()).hexdigest()
    artifact["summary"] = computed["summary"]
    artifact["quality"] = {**gate, "verdict": _verdict(gate["passed"], case.is_control)}
    artifact["correctness"] = correctness(computed["summary"], case.reference, case.reference_problem)
    if case.reference is not None and "n_steps" in result.sample_stats:
        bias = chain_moment_bias(
            result.draws,
            result.sample_stats["n_steps"],
            case.reference,
            result.param_names,
            warmup_grads_per_chain=result.grad_evals_warmup / max(result.draws.shape[0], 1),
        )
        if bias is not None:
            artifact["second_moment_bias"] = bias
    if result.ensemble_trace is not None and case.reference is not None:
        artifact["convergence"] = ensemble_convergence(
            result.ensemble_trace["moments"], result.ensemble_trace["grads_per_chain"], case.reference, case.param_names
        )
    return _finish(artifact, status="ok", reason=None)


def input_error_artifact(spec: RunSpec, reason: str) -> dict[str, Any]:
    """A failed artifact for input that could not even start a run (the CLI still exits
    non-zero). It records the shared default settings, whatever was asked for."""
    return _finish(_skeleton(replace(spec, settings=resolve_settings(None))), status="failed", reason=reason)


def _skeleton(spec: RunSpec) -> dict[str, Any]:
    settings = spec.settings
    return {
        "schema_version": RUN_SCHEMA,
        "status": None,
        "reason": None,
        "suite": spec.suite,
        "case": spec.case,
        "engine": spec.engine,
        "label": spec.label,
        "seed": spec.seed,
        "created_utc": utc_now(),
        "config": spec.config,
        "fairness": {
            "target_accept": settings["target_accept"],
            "metric": settings["metric"],
            "max_tree_depth": settings["max_tree_depth"],
            "chain_method": settings["chain_method"],
            "dtype": settings["dtype"],
            "device_count": None,  # filled in from the fingerprint
            "warmup_budget": spec.budget.warmup,
            "threads": spec.threads,
            "cpus": spec.cpus,
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
            "config_sha256": spec.config_sha256,
            "command": spec.command,
            "nextstat_version": __version__,
            "source_sha256": source_sha256(),
        },
    }


@functools.cache
def source_sha256() -> str:
    """sha256 over nextstat's own Python sources (path and content, in path order): the code
    that ran, whether or not it was committed (`nextstat reproduce` compares it)."""
    from .paths import PACKAGE_DIR

    return package_sha256(PACKAGE_DIR)


def package_sha256(package: Path) -> str:
    """sha256 over the ``*.py`` files under ``package`` (path relative to it and content, in
    path order; ``source_history`` computes the same from a commit's tree)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


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
        started = PROCESS_START[-1] if PROCESS_START else psutil.Process().create_time()
        artifact["timing"]["process_s"] = time.time() - started
        artifact["timing"]["peak_rss_mb"] = peak_rss_mb()
        device = device_peak_mb()
        if device is not None:
            artifact["timing"]["device_peak_mb"] = device
    return artifact


def peak_rss_mb() -> float:
    """This process's peak resident set in MiB (a run forked from the warm worker counts the
    libraries the worker had loaded, as a process that imported them itself would)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def device_peak_mb() -> float | None:
    """The largest peak of GPU memory JAX reports over its GPU devices (MiB), where the run
    used JAX on a GPU; None elsewhere (JAX is not imported for it)."""
    import sys

    if "jax" not in sys.modules:
        return None
    try:
        peaks = [
            (d.memory_stats() or {}).get("peak_bytes_in_use")
            for d in sys.modules["jax"].devices()
            if d.platform == "gpu"
        ]
    except Exception:  # a backend without memory statistics  # noqa: BLE001
        return None
    found = [p for p in peaks if p is not None]
    return max(found) / 2**20 if found else None


def _case_info(case: Case) -> dict[str, Any]:
    return {
        "family": case.family,
        "parameterization": case.parameterization,
        "dim": case.dim or None,
        "param_names": list(case.param_names),
        "source": case.source,
        "is_control": case.is_control,
        "reference": case.reference.kind if case.reference else None,
        "jax_density": case.missing_jax_density is None,
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
