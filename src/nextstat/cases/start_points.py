"""Where a run's chains start: Stan's initialization, the same for every engine.

NumPy only, so an engine that evaluates no JAX density (Stan's) draws its starts
without importing JAX.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .base import Case

INIT_RADIUS = 2.0
INIT_TRIES = 100


def start_points(
    case: Case, seed: int, n_chains: int, usable: Callable[[np.ndarray], bool] | None = None
) -> np.ndarray:
    """Stan's initialization: each unconstrained coordinate ~ U(-2, 2), drawn from the run
    seed alone, so every engine starts from the same points. With ``usable`` (e.g. "the
    log density and its gradient are finite here"), a point it refuses is drawn again, at
    most 100 tries per chain; the chains share one stream of draws, in chain order."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1417]))
    points = np.empty((n_chains, case.dim))
    for chain in range(n_chains):
        for _ in range(INIT_TRIES):
            x = rng.uniform(-INIT_RADIUS, INIT_RADIUS, size=case.dim)
            if usable is None or usable(x):
                points[chain] = x
                break
        else:
            raise RuntimeError(
                f"no usable start in {INIT_TRIES} draws from U(-{INIT_RADIUS:g}, {INIT_RADIUS:g}) "
                f"for chain {chain} of case {case.name}"
            )
    return points
