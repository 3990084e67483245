"""Euclidean metrics: how momentum is drawn, its kinetic energy, and the velocity M^-1 p.

``inverse_metric`` is a vector (diagonal metric) or a square matrix (dense metric).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Metric(NamedTuple):
    sample_momentum: Callable  # (key, inverse_metric, like) -> p ~ N(0, M)
    scale_momentum: Callable  # (inverse_metric, z ~ N(0, I)) -> p ~ N(0, M)
    velocity: Callable  # (inverse_metric, p) -> M^-1 p  (Stan's dtau_dp, "p sharp")
    kinetic_energy: Callable  # (inverse_metric, p) -> p' M^-1 p / 2


def _sample_momentum(key, inverse_metric, like):
    return _scale_momentum(inverse_metric, jax.random.normal(key, like.shape, like.dtype))


def _scale_momentum(inverse_metric, z):
    if inverse_metric.ndim == 1:
        return z / jnp.sqrt(inverse_metric)
    # M = inverse_metric^-1 = L L' with L = chol(M): p = L z has covariance M
    mass_cholesky = jnp.linalg.cholesky(jnp.linalg.inv(inverse_metric))
    return mass_cholesky @ z


def _velocity(inverse_metric, p):
    return inverse_metric * p if inverse_metric.ndim == 1 else inverse_metric @ p


def _kinetic_energy(inverse_metric, p):
    return 0.5 * jnp.sum(p * _velocity(inverse_metric, p))  # multiply-and-sum fuses; a small dot would not


euclidean = Metric(_sample_momentum, _scale_momentum, _velocity, _kinetic_energy)

SHRINK_DRAWS = 5.0  # Stan's n / (n + 5) weight on a window's estimate


def stan_shrinkage(n, estimate):
    """Stan's regularization of a metric estimated from n draws: n/(n+5) estimate +
    1e-3 * 5/(n+5) (times the identity for a matrix)."""
    eye = jnp.eye(estimate.shape[0], dtype=estimate.dtype) if estimate.ndim == 2 else 1.0
    return (n / (n + SHRINK_DRAWS)) * estimate + 1e-3 * (SHRINK_DRAWS / (n + SHRINK_DRAWS)) * eye


def usable_metric(inverse_metric) -> jax.Array:
    """An inverse metric a sampler can use: finite, with a positive diagonal (a dense one
    also positive definite, checked through its Cholesky factor)."""
    finite = jnp.all(jnp.isfinite(inverse_metric))
    if inverse_metric.ndim == 1:
        return finite & jnp.all(inverse_metric > 0)
    safe = jnp.where(finite, inverse_metric, jnp.eye(inverse_metric.shape[0], dtype=inverse_metric.dtype))
    return finite & jnp.all(jnp.isfinite(jnp.linalg.cholesky(safe)))
