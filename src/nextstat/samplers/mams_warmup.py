"""Tuning MAMS for a few chains: step size, diagonal preconditioner, trajectory length.

Three phases over ``num_warmup`` iterations (a static schedule, fed to one ``scan``):

1. [0, 30%): dual averaging of eps towards the target acceptance (Stan's constants,
   target 0.9 by default for MAMS), unit preconditioner;
2. [30%, 70%): dual averaging goes on while the draws feed a Welford variance;
3. at 70% the preconditioner becomes that variance, regularized like Stan's
   (n/(n+5) var + 1e-3 * 5/(n+5)); dual averaging restarts from the current eps and
   runs to the end, where eps = exp(x_bar).

The trajectory length is L = sqrt(d) in the preconditioned space throughout (the
published default), so the number of steps per draw is round(L / eps).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .mams import MAMSInfo, MAMSState, build_kernel, init
from .stan_warmup import (
    DualAveraging,
    Welford,
    dual_averaging_init,
    dual_averaging_update,
    regularized_metric,
    welford_add,
    welford_init,
)

FIRST_PHASE, VARIANCE_END = 0.3, 0.7


class MAMSWarmupState(NamedTuple):
    state: MAMSState
    step_size: jax.Array
    inverse_metric: jax.Array
    dual_averaging: DualAveraging
    welford: Welford


def schedule(num_warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Per iteration: (draw feeds the variance, the preconditioner is set here)."""
    first, last = int(FIRST_PHASE * num_warmup), int(VARIANCE_END * num_warmup)
    collect = np.zeros(num_warmup, bool)
    collect[first:last] = True
    set_metric = np.zeros(num_warmup, bool)
    if last > first + 1:
        set_metric[last - 1] = True
    return collect, set_metric


def default_trajectory_length(d: int) -> float:
    return math.sqrt(d)


def run_warmup(key, position, logdensity_fn: Callable, num_warmup: int, *, target_accept: float = 0.9,
               jitter: float = 0.1, kernel=None, trajectory_length: float | None = None):
    """Tune eps and M^-1 from ``position``; returns (final warmup state, per-iteration info,
    trajectory length)."""
    kernel = kernel or build_kernel(logdensity_fn)
    d = position.shape[0]
    dtype = position.dtype
    length = jnp.asarray(trajectory_length or default_trajectory_length(d), dtype)
    state = init(position, logdensity_fn)
    step_size = jnp.asarray(length / 4.0, dtype)  # four steps per draw to start; dual averaging takes over
    collect, set_metric = schedule(num_warmup)

    def one(carry: MAMSWarmupState, inputs):
        key, add, set_now = inputs
        state, info = kernel(key, carry.state, carry.step_size, length, carry.inverse_metric, jitter)
        accept = jnp.where(jnp.isfinite(info.accept_prob), info.accept_prob, 0.0)
        da, step_size = dual_averaging_update(carry.dual_averaging, accept, delta=target_accept)
        welford = jax.tree.map(lambda a, b: jnp.where(add, a, b), welford_add(carry.welford, state.position),
                               carry.welford)

        def set_preconditioner(_):
            inverse_metric = regularized_metric(welford)
            # the step size that worked in the unit metric, rescaled to the new metric's mean scale
            eps = jnp.exp(da.x_bar) / jnp.sqrt(jnp.mean(inverse_metric))
            return inverse_metric, eps, dual_averaging_init(eps)

        def carry_on(_):
            return carry.inverse_metric, step_size, da

        inverse_metric, step_size, da = jax.lax.cond(set_now, set_preconditioner, carry_on, None)
        return MAMSWarmupState(state, step_size, inverse_metric, da, welford), info

    initial = MAMSWarmupState(state, step_size, jnp.ones(d, dtype), dual_averaging_init(step_size),
                              welford_init(d, False, dtype))
    keys = jax.random.split(key, num_warmup)
    final, infos = jax.lax.scan(one, initial, (keys, jnp.asarray(collect), jnp.asarray(set_metric)))
    if num_warmup > 0:
        final = final._replace(step_size=jnp.exp(final.dual_averaging.x_bar))
    return final, infos, length


__all__ = ["MAMSInfo", "MAMSWarmupState", "run_warmup", "schedule", "default_trajectory_length"]
