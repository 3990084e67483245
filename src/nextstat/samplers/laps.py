"""LAPS-style many-chain MAMS: thousands of chains run the same fixed-shape MAMS
transition in lockstep under ``vmap`` (nothing waits for a per-chain tree, so a GPU
stays full), and the tuning comes from the ensemble rather than from each chain's past.

Warmup over ``num_warmup`` lockstep iterations:

- eps: dual averaging (Stan's constants) of the ensemble's mean acceptance towards the
  target (0.9), restarted once when the preconditioner is frozen;
- M^-1: during the first half, after every iteration, the variance of the chains'
  current positions, coordinate by coordinate (Var_chains(x_i)), regularized like
  Stan's with n = the number of chains; frozen for the second half;
- L = sqrt(sum_i Var(x_i) / M^-1_i) = sqrt(d) in the preconditioned space: the
  ensemble's spread, which is what a trajectory should cross.

Chains of one superchain share a starting point, so that nested R-hat
(``diagnostics.nested_rhat``) can tell whether the ensemble forgot its starts.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from .mams import MAMSInfo, MAMSState, build_kernel, init
from .metrics import stan_shrinkage
from .stan_warmup import DualAveraging, dual_averaging_init, dual_averaging_update


class EnsembleState(NamedTuple):
    states: MAMSState  # batched over chains
    step_size: jax.Array
    inverse_metric: jax.Array
    trajectory_length: jax.Array
    dual_averaging: DualAveraging


def ensemble_metric(positions):
    """Var_chains(x_i), regularized towards 1e-3 as Stan regularizes a window's variance."""
    return stan_shrinkage(positions.shape[0], jnp.var(positions, axis=0, ddof=1))


def lockstep(kernel: Callable):
    """The MAMS kernel over all chains at once: shared eps, L and M^-1, a key per chain."""
    return jax.vmap(kernel, in_axes=(0, 0, None, None, None, None))


def run_warmup(key, positions, logdensity_fn: Callable, num_warmup: int, *, target_accept: float = 0.9,
               jitter: float = 0.1, kernel=None, report_chains: int | None = None):
    """Ensemble-tuned warmup from ``positions`` (chains, d). Returns the final ensemble
    state and the gradient evaluations spent by the first ``report_chains`` chains."""
    kernel = lockstep(kernel or build_kernel(logdensity_fn))
    n_chains, d = positions.shape
    report = report_chains or n_chains
    dtype = positions.dtype
    states = jax.vmap(lambda x: init(x, logdensity_fn))(positions)
    length = jnp.asarray(math.sqrt(d), dtype)
    step = jnp.asarray(length / 4.0, dtype)
    freeze_at = num_warmup // 2

    def one(carry: tuple[EnsembleState, jax.Array], inputs):
        ensemble, grads = carry
        key, iteration = inputs
        states, info = kernel(jax.random.split(key, n_chains), ensemble.states, ensemble.step_size,
                              ensemble.trajectory_length, ensemble.inverse_metric, jitter)
        accept = jnp.mean(jnp.where(jnp.isfinite(info.accept_prob), info.accept_prob, 0.0))
        da, step_size = dual_averaging_update(ensemble.dual_averaging, accept, delta=target_accept)
        adapting = iteration < freeze_at
        inverse_metric = jnp.where(adapting, ensemble_metric(states.position), ensemble.inverse_metric)
        # freezing the metric: restart dual averaging from the averaged step size
        frozen_now = iteration == freeze_at - 1
        step_size = jnp.where(frozen_now, jnp.exp(da.x_bar), step_size)
        da = jax.tree.map(lambda a, b: jnp.where(frozen_now, a, b), dual_averaging_init(step_size), da)
        grads = grads + jnp.sum(info.n_grads[:report]).astype(grads.dtype)
        return (EnsembleState(states, step_size, inverse_metric, length, da), grads), accept

    initial = EnsembleState(states, step, jnp.ones(d, dtype), length, dual_averaging_init(step))
    keys = jax.random.split(key, num_warmup)
    (final, grads), acceptance = jax.lax.scan(one, (initial, jnp.zeros((), jnp.int32)),
                                              (keys, jnp.arange(num_warmup)))
    if num_warmup > 0:
        final = final._replace(step_size=jnp.exp(final.dual_averaging.x_bar))
    return final, grads, acceptance


def sample(key, ensemble: EnsembleState, logdensity_fn: Callable, num_draws: int, *, jitter: float = 0.1,
           kernel=None, report_chains: int):
    """``num_draws`` lockstep transitions of every chain; returns the report chains'
    positions, log densities and transition info, shaped (draw, chain, ...)."""
    kernel = lockstep(kernel or build_kernel(logdensity_fn))
    n_chains = ensemble.states.position.shape[0]

    def one(states, key):
        states, info = kernel(jax.random.split(key, n_chains), states, ensemble.step_size,
                              ensemble.trajectory_length, ensemble.inverse_metric, jitter)
        report = jax.tree.map(lambda a: a[:report_chains], (states.position, states.logdensity, info))
        return states, report

    _, outputs = jax.lax.scan(one, ensemble.states, jax.random.split(key, num_draws))
    return outputs


__all__ = ["EnsembleState", "MAMSInfo", "ensemble_metric", "lockstep", "run_warmup", "sample"]
