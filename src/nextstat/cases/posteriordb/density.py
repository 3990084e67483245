"""What a JAX density for a posteriordb Stan program provides, and Stan's transforms.

A ``DensityBuilder`` takes a posterior's data (posteriordb's JSON, as Stan reads it) and
returns a ``JaxDensity``: the log density on Stan's unconstrained space, Jacobians
included, in Stan's unconstrained order (parameters in declaration order, each flattened
as Stan flattens it), and the map to posteriordb's parameter names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class JaxDensity:
    #: names of the unconstrained coordinates, in Stan's unconstrained order
    unconstrained_names: tuple[str, ...]
    #: posteriordb's names of the constrained parameters (``beta[1]``, ``sigma``), in Stan's order
    param_names: tuple[str, ...]
    #: JAX function R^d -> R: Stan's ``log_prob`` with Jacobians, up to one constant
    log_density: Callable[[Any], Any]
    #: NumPy function (..., d) -> (..., len(param_names)), carrying the same map as a JAX
    #: function in ``constrain.traceable`` (see ``cases.base.traceable_constrain``)
    constrain: Callable[[np.ndarray], np.ndarray]


DensityBuilder = Callable[[Mapping[str, Any]], JaxDensity]


# Stan's constraining transforms (Stan reference manual, "Constraint transforms"), each
# over the last axis of ``y``, written once for NumPy and JAX (``xp`` is ``numpy`` or
# ``jax.numpy``), returning the constrained values and the log absolute Jacobian.


def simplex(y, xp=np):
    """Stan's stick-breaking unit simplex: K-1 unconstrained coordinates -> K values.

    z_k = inv_logit(y_k - log(K - k)), x_k = z_k (1 - x_1 - ... - x_{k-1}), x_K the rest;
    log Jacobian sum_k log z_k + log(1 - z_k) + log(1 - x_1 - ... - x_{k-1}).
    """
    shifted = y - xp.log(xp.arange(y.shape[-1], 0, -1, dtype=float))
    log_z = -xp.logaddexp(0.0, -shifted)
    log_one_minus_z = -xp.logaddexp(0.0, shifted)
    log_stick_after = xp.cumsum(log_one_minus_z, axis=-1)
    log_stick_before = xp.concatenate([xp.zeros_like(y[..., :1]), log_stick_after[..., :-1]], axis=-1)
    x = xp.exp(xp.concatenate([log_stick_before + log_z, log_stick_after[..., -1:]], axis=-1))
    return x, xp.sum(log_stick_before + log_z + log_one_minus_z, axis=-1)


def ordered(y, xp=np):
    """Stan's ordered vector: x_1 = y_1, x_k = x_{k-1} + exp(y_k); log Jacobian sum_{k>1} y_k."""
    steps = xp.concatenate([y[..., :1], xp.exp(y[..., 1:])], axis=-1)
    return xp.cumsum(steps, axis=-1), xp.sum(y[..., 1:], axis=-1)


def positive_ordered(y, xp=np):
    """Stan's positive ordered vector: x_1 = exp(y_1), x_k = x_{k-1} + exp(y_k); log Jacobian sum_k y_k."""
    return xp.cumsum(xp.exp(y), axis=-1), xp.sum(y, axis=-1)
