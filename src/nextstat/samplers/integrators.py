"""Leapfrog (velocity Verlet) on a Euclidean metric: one gradient per step."""

from __future__ import annotations

from typing import NamedTuple

import jax


class PhasePoint(NamedTuple):
    position: jax.Array
    momentum: jax.Array
    logdensity: jax.Array
    logdensity_grad: jax.Array


def leapfrog(logdensity_and_grad, velocity):
    """Return ``step(point, step_size, inverse_metric)``; a negative step size integrates backwards."""

    def step(point: PhasePoint, step_size, inverse_metric) -> PhasePoint:
        p = point.momentum + 0.5 * step_size * point.logdensity_grad
        q = point.position + step_size * velocity(inverse_metric, p)
        logdensity, grad = logdensity_and_grad(q)
        p = p + 0.5 * step_size * grad
        return PhasePoint(q, p, logdensity, grad)

    return step
