"""Cold, cached and warm starts of one engine on one case.

- cold: a fresh process with empty compilation caches (JAX's persistent cache; for Stan,
  httpstan's model cache): what a user pays the first time.
- cached: a fresh process whose caches the cold run filled: a second launch.
- warm: the same work again inside the cached process: nothing left to compile.

Both processes get a private cache folder (``XDG_CACHE_HOME`` for httpstan and for
nextstat's own cache, where CmdStan's model builds live,
``JAX_COMPILATION_CACHE_DIR`` for JAX), so the user's own caches are neither read nor
touched. Time to result is measured from process start to the end of sampling.

A JAX engine's backend (the XLA client; on a GPU the CUDA context and its libraries) is
started before the engine's clock, once per process, and its seconds are recorded as
``backend_start_s`` of that process's first run: every fresh process pays it, whatever
it runs and however warm its caches are, so it is no part of the JIT tax that cached
against warm measures. Time to result includes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import psutil

from .artifacts import TIMING_SCHEMA, utc_now
from .cases import get_case
from .engines import Budget, load_engine, resolve_settings
from .run_spec import RunSpec
from .threads import limit_threads

MODES = ("cold", "cached", "warm")


def probe(spec: RunSpec, repeats: int) -> list[dict[str, Any]]:
    """Run the engine ``repeats`` times in this process; one timing record per run."""
    case = get_case(spec.case)
    engine = load_engine(spec.engine)
    settings = resolve_settings(spec.settings, spec.engine)
    backend_start_s = engine.start_backend() if engine.start_backend else 0.0
    records = []
    for repeat in range(repeats):
        started = time.perf_counter()
        result = engine.run(case, settings, spec.budget, spec.seed)
        records.append(
            {
                "compile_s": result.compile_s,
                "warmup_s": result.warmup_s,
                "sampling_s": result.sampling_s,
                "engine_wall_s": time.perf_counter() - started,
                "time_to_result_s": time.time() - psutil.Process().create_time(),
                "compile_cache": result.engine_info.get("compile_cache"),
                "backend_start_s": backend_start_s if repeat == 0 else 0.0,
            }
        )
    return records


def _run_probe(spec: RunSpec, repeats: int, env: dict[str, str]) -> list[dict[str, Any]]:
    args = {
        "case": spec.case,
        "engine": spec.engine,
        "settings": dict(spec.settings),
        "budget": spec.budget.spec,
        "seed": spec.seed,
        "repeats": repeats,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "nextstat.timing", json.dumps(args)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"timing probe exited {proc.returncode}: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(spec: RunSpec) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="nextstat-timing-") as tmp:
        env = {
            **os.environ,
            "XDG_CACHE_HOME": os.path.join(tmp, "xdg"),
            "NEXTSTAT_CACHE_DIR": os.path.join(tmp, "nextstat"),  # CmdStan's model builds: cold compiles them
            "JAX_COMPILATION_CACHE_DIR": os.path.join(tmp, "jax"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        }
        if spec.threads == 1:
            limit_threads(1, env)
        (cold,) = _run_probe(spec, 1, env)
        cached, warm = _run_probe(spec, 2, env)
    return {"cold": cold, "cached": cached, "warm": warm}


def timing_artifact(spec: RunSpec) -> dict[str, Any]:
    from .environment import backend, fingerprint

    doc: dict[str, Any] = {
        "schema_version": TIMING_SCHEMA,
        "suite": spec.suite,
        "case": spec.case,
        "engine": spec.engine,
        "label": spec.label,
        "seed": spec.seed,
        "budget": spec.budget.spec,
        "settings": dict(spec.settings),
        "threads": spec.threads,
        "created_utc": utc_now(),
    }
    try:
        doc.update(status="ok", reason=None, modes=measure(spec))
    except Exception as exc:  # a failing engine is a result, recorded with its reason
        doc.update(status="failed", reason=f"{type(exc).__name__}: {exc}", modes=None)
    env = fingerprint(include_jax=False)
    doc.update(environment=env, backend=backend(env))
    return doc


def main() -> int:
    args = json.loads(sys.argv[1])
    spec = RunSpec(args["case"], args["engine"], args["seed"], Budget.parse(args["budget"]), settings=args["settings"])
    print(json.dumps(probe(spec, args["repeats"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
