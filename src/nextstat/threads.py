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
