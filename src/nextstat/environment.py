"""The environment fingerprint: what machine and software a figure was measured on.

Taken in the process that ran the engine (on a cluster, the compute node), and hashed
twice: ``hardware_sha256`` (CPU, cores, memory, accelerators: what wall times depend
on) and ``fingerprint_sha256`` (everything, software and thread settings included).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import socket
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .artifacts import ENVIRONMENT_SCHEMA

#: Packages whose versions decide what a benchmark measures.
TRACKED_PACKAGES = (
    "nextstat", "jax", "jaxlib", "blackjax", "numpyro", "nutpie", "pystan", "httpstan", "cmdstanpy",
    "arviz", "numpy", "scipy", "pandas", "jsonschema", "matplotlib", "snakemake",
    "snakemake-executor-plugin-slurm", "py-cpuinfo", "psutil",
)  # fmt: skip

#: Variables that change how many threads a run uses, or how XLA compiles.
THREAD_VARIABLES = (
    "XLA_FLAGS", "JAX_PLATFORMS", "JAX_ENABLE_X64", "JAX_COMPILATION_CACHE_DIR",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NPROC",
    "STAN_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_CPUS_PER_TASK",
)  # fmt: skip


def fingerprint(include_jax: bool = True) -> dict[str, Any]:
    import psutil

    static = copy.deepcopy(static_facts())  # the caller's to change
    env = {
        "schema_version": ENVIRONMENT_SCHEMA,
        **{name: static[name] for name in ("hostname", "cpu", "memory_bytes", "os", "python", "packages", "gpus")},
        "jax": _jax() if include_jax else None,
        "thread_variables": {name: os.environ.get(name) for name in THREAD_VARIABLES},
        "cpu_affinity": sorted(psutil.Process().cpu_affinity()) if hasattr(psutil.Process(), "cpu_affinity") else None,
        "git": static["git"],
    }
    hardware = {k: env[k] for k in ("cpu", "memory_bytes", "gpus")}
    env["hardware_sha256"] = _sha256(hardware)
    env["fingerprint_sha256"] = _sha256({k: v for k, v in env.items() if k not in ("hostname", "hardware_sha256")})
    return env


@lru_cache(maxsize=1)
def static_facts() -> dict[str, Any]:
    """What cannot change while a process lives: the machine, the interpreter, the installed
    packages and the checkout's commit, taken once per process (a warm worker takes them
    once for every run it forks, and runs the code it imported then)."""
    import psutil

    return {
        "hostname": socket.gethostname(),
        "cpu": _cpu(),
        "memory_bytes": int(psutil.virtual_memory().total),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in TRACKED_PACKAGES},
        "gpus": _gpus(),
        "git": git_state(),
    }


def backend(env: dict[str, Any]) -> str:
    """``cpu`` or ``gpu``: rows on different backends never share a table."""
    jax_info = env.get("jax") or {}
    return "gpu" if jax_info.get("backend") in ("gpu", "cuda", "rocm") else "cpu"


def _cpu() -> dict[str, Any]:
    import psutil

    info = _cpuinfo_cached()
    return {
        "model": info.get("brand_raw") or platform.processor() or "unknown",
        "arch": info.get("arch_string_raw") or platform.machine(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "flags_sha256": _sha256(sorted(info.get("flags", []))),
    }


@lru_cache(maxsize=1)
def _cpuinfo_cached() -> dict[str, Any]:
    """py-cpuinfo takes about a second (it probes in a subprocess); the CPU cannot change
    without a reboot, so its answer is kept per host and boot."""
    from .paths import cache_dir

    boot = Path("/proc/sys/kernel/random/boot_id")
    key = _sha256([socket.gethostname(), boot.read_text().strip() if boot.exists() else ""])[:16]
    path = cache_dir("cpuinfo") / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    info = {k: info.get(k) for k in ("brand_raw", "arch_string_raw", "flags", "hz_advertised_friendly")}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)
    return info


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _jax() -> dict[str, Any] | None:
    try:
        import jax
    except ImportError:
        return None
    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "devices": [f"{d.platform}:{d.device_kind}" for d in devices],
        "device_count": len(devices),
        # jax's Config declares no attributes for its flags, which it resolves by name
        "x64": bool(jax.config.jax_enable_x64),  # type: ignore[attr-defined]
        "compilation_cache_dir": jax.config.jax_compilation_cache_dir,  # type: ignore[attr-defined]
    }


def _gpus() -> list[dict[str, Any]]:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            gpus.append(
                {
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                    "driver": str(pynvml.nvmlSystemGetDriverVersion()),
                }
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


def git_state() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    if os.environ.get("NEXTSTAT_GIT_COMMIT"):
        # A copy of a checkout (a cluster's staging copy, a GPU machine's) whose .git is
        # missing or is not the copied tree's: the copier names the commit; whether the
        # copy was clean is unknown.
        return {"commit": os.environ["NEXTSTAT_GIT_COMMIT"], "dirty": None}
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _sha256(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
