"""Step-size adaptation shared by NUTS, MAMS and LAPS: Stan's dual averaging and a
doubling/halving heuristic for the first step size.

- ``dual_averaging_update`` is Stan's ``stepsize_adaptation::learn_stepsize`` (gamma
  0.05, kappa 0.75, t0 10, mu = log(10 eps) at each restart); eps = exp(x_bar) after
  warmup. ``floor`` keeps the proposed eps at or above a given value: from a far start a
  run of rejections drives log eps down by about 18 sqrt(t), and a chain whose eps is
  1e-80 never moves again, so MAMS and LAPS floor it at a fraction of the step the
  heuristic found at their start (NUTS follows Stan and has none). ``ceiling`` caps it
  from above (nutpie's schedule: pi, as nuts-rs does).
- ``double_or_halve`` moves eps by factors of two until a one-step statistic crosses a
  target, as Stan's ``init_stepsize`` does for a leapfrog step; the kernel-specific part
  (what one step's log acceptance is) is the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class DualAveraging(NamedTuple):
    counter: jax.Array
    s_bar: jax.Array
    x_bar: jax.Array
    mu: jax.Array


def dual_averaging_init(step_size) -> DualAveraging:
    zero = jnp.zeros_like(jnp.asarray(step_size, dtype=float))
    return DualAveraging(jnp.zeros_like(zero), zero, zero, jnp.log(10.0 * step_size))


def dual_averaging_update(
    da: DualAveraging, accept_stat, delta=0.8, gamma=0.05, kappa=0.75, t0=10.0, floor=0.0, ceiling=math.inf
):
    """One step of Stan's ``stepsize_adaptation::learn_stepsize``; returns (state, new step size).
    With ``floor`` > 0 neither the proposed eps nor the average x_bar goes below log(floor);
    the proposed eps is kept at or below ``ceiling`` (nuts-rs caps it at pi) before it is
    averaged."""
    counter = da.counter + 1
    accept_stat = jnp.minimum(accept_stat, 1.0)
    eta = 1.0 / (counter + t0)
    s_bar = (1.0 - eta) * da.s_bar + eta * (delta - accept_stat)
    x = da.mu - s_bar * jnp.sqrt(counter) / gamma
    log_floor = jnp.where(floor > 0, jnp.log(jnp.where(floor > 0, floor, 1.0)), -jnp.inf)
    x = jnp.minimum(jnp.maximum(x, log_floor), math.log(ceiling))
    x_eta = counter ** (-kappa)
    x_bar = jnp.maximum((1.0 - x_eta) * da.x_bar + x_eta * x, log_floor)
    return DualAveraging(counter, s_bar, x_bar, da.mu), jnp.exp(x)


def double_or_halve(
    key, step_size, log_accept: Callable, log_target: float, max_iterations: int = 100, grow: bool = True
):
    """Stan's ``init_stepsize`` loop over any kernel: ``log_accept(key, eps)`` is one
    step's log acceptance (NaN counts as -inf). From ``step_size``, double eps while it is
    above ``log_target``, or halve it while below, until it crosses (or
    ``max_iterations`` factors of two have been tried, or eps reaches 0 or 1e7).
    With ``grow=False`` eps is only ever halved: a ``step_size`` already above the target
    is kept after its one evaluation (for a caller that caps eps at ``step_size``).
    Returns (eps, the number of one-step statistics evaluated)."""

    def clean(key, eps):
        value = log_accept(key, eps)
        return jnp.where(jnp.isnan(value), -jnp.inf, value)

    key, first_key = jax.random.split(key)
    eps0 = jnp.asarray(step_size, dtype=float)
    above = clean(first_key, eps0) > log_target
    direction = jnp.where(above, 1.0, -1.0)

    def cond(carry):
        _, eps, done, i = carry
        return ~done & (i < max_iterations) & (eps > 0) & (eps < 1e7)

    def body(carry):
        key, eps, _, i = carry
        key, draw_key = jax.random.split(key)
        value = clean(draw_key, eps)
        crossed = jnp.where(direction > 0, ~(value > log_target), ~(value < log_target))
        new_eps = jnp.where(crossed, eps, jnp.where(direction > 0, 2.0 * eps, 0.5 * eps))
        return key, new_eps, crossed, i + 1

    kept = jnp.asarray(above & (not grow))
    _, eps, _, iterations = jax.lax.while_loop(cond, body, (key, eps0, kept, 0))
    return eps, iterations + 1


LOG_08 = math.log(0.8)

__all__ = ["DualAveraging", "LOG_08", "double_or_halve", "dual_averaging_init", "dual_averaging_update"]
