"""One core per run: the thread variables the protocol sets before JAX or BLAS start.

Imported before anything heavy (the benchmarks import it first), so it imports nothing.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

#: XLA on one core: no Eigen thread pool, one intra-op thread.
SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(threads: int, env: MutableMapping[str, str] = os.environ) -> None:
    """Give an engine ``threads`` cores in ``env`` (this process's environment by default):
    BLAS's thread variables, and with one thread XLA's flags. Variables already set are
    left alone (and recorded as they are)."""
    for name in BLAS_THREAD_VARIABLES:
        env.setdefault(name, str(threads))
    if threads == 1:
        env.setdefault("XLA_FLAGS", SINGLE_THREAD_XLA_FLAGS)


def single_thread_xla() -> None:
    """XLA on one core for a benchmark or test process, unless XLA_FLAGS is already set."""
    os.environ.setdefault("XLA_FLAGS", SINGLE_THREAD_XLA_FLAGS)


#: set in a process that holds its cores (and inherited by the processes it starts)
PINNED_VARIABLE = "NEXTSTAT_PINNED_CPUS"
#: NEXTSTAT_PIN=0 leaves runs unpinned
PIN_SWITCH = "NEXTSTAT_PIN"
_HELD: list = []  # this process's open, locked claim files: held until it exits


def claim_cores(threads: int, lock_dir: str | None = None) -> list[int] | None:
    """Pin this process to ``threads`` CPUs that no other nextstat run on this machine
    holds, and hold them until it exits; return them, or None when it stays unpinned.

    An unpinned JAX run moves between cores: on this project's 2-core machines eight
    schools' NUTS took 1.69 µs per gradient alone and 1.93 beside a busy process, against
    1.50 and 1.51 pinned (CmdStan 1.45-1.49 in all four; ``benchmarks/pinning.py``,
    reports/nuts-cpu/PINNING.md), which is why the protocol pins. Workflow jobs run side by
    side, so each claims its own CPUs: one lock file per CPU (``flock``, released by the
    kernel when the process ends, however it ends) under the system's temporary directory,
    which is node-local on a cluster; the CPUs are taken from those this process may use (a
    SLURM job's own). A process that inherits its parent's claim keeps it. Unpinned where
    every CPU is claimed, where ``threads`` covers all of them, where the platform cannot
    pin, or with NEXTSTAT_PIN=0.
    """
    if os.environ.get(PIN_SWITCH, "1") == "0" or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    inherited = os.environ.get(PINNED_VARIABLE)
    if inherited and sorted(int(cpu) for cpu in inherited.split(",")) == allowed:
        return allowed
    if threads >= len(allowed):
        return None
    import fcntl
    import tempfile
    from pathlib import Path

    directory = Path(lock_dir or tempfile.gettempdir()) / f"nextstat-cpus-{os.getuid()}"
    directory.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(allowed) - threads + 1, threads):
        cpus, handles = allowed[start : start + threads], []
        for cpu in cpus:
            handle = open(directory / f"cpu{cpu}.lock", "w")  # noqa: SIM115  (held open on purpose)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                break
            handles.append(handle)
        claimed = len(handles) == len(cpus)
        if claimed and _pin(cpus):
            _HELD.extend(handles)
            os.environ[PINNED_VARIABLE] = ",".join(map(str, cpus))
            return cpus
        for handle in handles:
            handle.close()
        if claimed:  # claimed but not pinnable: no other CPUs would be either
            return None
    return None


def _pin(cpus: list[int]) -> bool:
    try:
        os.sched_setaffinity(0, cpus)
    except OSError:  # a container or platform that refuses affinity changes
        return False
    return True
