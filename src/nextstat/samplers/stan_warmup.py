"""Stan's warmup for NUTS with a diagonal (or dense) metric (``hmc_nuts_diag_e_adapt``).

- Step size: dual averaging of log(eps) towards a target acceptance statistic
  (delta 0.8, gamma 0.05, kappa 0.75, t0 10), mu = log(10 eps); eps = exp(x_bar) after warmup.
- Metric: windowed. An initial buffer (75), slow windows that double from 25, a terminal
  buffer (50); the last slow window stretches to end where the terminal buffer starts.
  At the end of each slow window the metric becomes the Welford variance of the window's
  draws, regularized towards 1e-3 (n / (n + 5) var + 1e-3 * 5 / (n + 5)); then the
  step-size heuristic reruns from the current eps, mu = log(10 eps), and dual averaging
  restarts.
- Step-size heuristic: one leapfrog step with fresh momentum; double (or halve) eps
  until the acceptance of that step crosses 0.8.

The window schedule is static (it depends only on the number of warmup iterations), so
it is computed in Python and fed to the scan as two boolean arrays.

``adaptation`` picks the metric estimator run on each window: ``"stan"`` (the default,
Stan's regularized variance), ``"fisher"`` or ``"fisher-lowrank"`` (``fisher_metric``:
the Fisher-divergence minimizers from the window's draws and their gradients). The
schedule, step-size adaptation and everything else are the same for all three.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .fisher_metric import WindowEstimator, fisher_diagonal, fisher_low_rank
from .integrators import PhasePoint, leapfrog
from .metrics import euclidean, stan_shrinkage, usable_metric
from .nuts import NUTSInfo, NUTSState, build_kernel, init
from .step_size import LOG_08, DualAveraging, double_or_halve, dual_averaging_init, dual_averaging_update

INIT_BUFFER, BASE_WINDOW, TERM_BUFFER = 75, 25, 50
ADAPTATIONS = ("stan", "fisher", "fisher-lowrank")


# ----------------------------------------------------------------------------- schedule
def window_schedule(
    num_warmup: int, init_buffer: int = INIT_BUFFER, term_buffer: int = TERM_BUFFER, base_window: int = BASE_WINDOW
) -> tuple[np.ndarray, np.ndarray]:
    """Per warmup iteration: (draw goes into the variance estimate, a slow window ends here).

    Follows Stan's ``windowed_adaptation`` counter logic, including its fallback to
    15% / 75% / 10% when the three default pieces do not fit.
    """
    if num_warmup < 20:
        return np.zeros(num_warmup, bool), np.zeros(num_warmup, bool)  # Stan: no adaptation windows
    if init_buffer + base_window + term_buffer > num_warmup:
        init_buffer = int(0.15 * num_warmup)
        term_buffer = int(0.1 * num_warmup)
        base_window = num_warmup - (init_buffer + term_buffer)
    in_window = np.zeros(num_warmup, bool)
    window_end = np.zeros(num_warmup, bool)
    window_size = base_window
    next_window = init_buffer + window_size - 1
    last = num_warmup - term_buffer - 1
    for counter in range(num_warmup):
        in_window[counter] = init_buffer <= counter < num_warmup - term_buffer
        if counter == next_window:
            window_end[counter] = True
            if next_window != last:  # Stan's compute_next_window
                window_size *= 2
                next_window = counter + window_size
                if next_window != last and next_window + 2 * window_size >= num_warmup - term_buffer:
                    next_window = last
    return in_window, window_end


def slow_windows(num_warmup: int) -> list[tuple[int, int]]:
    """The slow windows as inclusive [start, end] iteration ranges (for people and tests)."""
    in_window, window_end = window_schedule(num_warmup)
    windows: list[tuple[int, int]] = []
    start: int | None = None
    for i in range(num_warmup):
        if in_window[i] and start is None:
            start = i
        if window_end[i]:
            assert start is not None, "a slow window ends inside the windowed iterations"
            windows.append((start, i))
            start = i + 1
    return windows


# ----------------------------------------------------------------------------- Welford variance
class Welford(NamedTuple):
    n: jax.Array
    mean: jax.Array
    m2: jax.Array  # sum of squared deviations (vector), or of outer products (matrix)


def welford_init(d: int, dense: bool, dtype) -> Welford:
    shape = (d, d) if dense else (d,)
    return Welford(jnp.zeros((), dtype), jnp.zeros(d, dtype), jnp.zeros(shape, dtype))


def welford_add(w: Welford, x) -> Welford:
    n = w.n + 1
    delta = x - w.mean
    mean = w.mean + delta / n
    m2 = w.m2 + (jnp.outer(delta, x - mean) if w.m2.ndim == 2 else delta * (x - mean))
    return Welford(n, mean, m2)


def regularized_metric(w: Welford):
    """Stan's shrinkage of the window's variance (ddof 1) towards 1e-3."""
    return stan_shrinkage(w.n, w.m2 / (w.n - 1.0))


def stan_variance(dense: bool) -> WindowEstimator:
    """Stan's estimator as a window estimator (gradients unused)."""
    return WindowEstimator(
        lambda d, dtype: welford_init(d, dense, dtype),
        lambda w, x, g: welford_add(w, x),
        regularized_metric,
        dense=dense,
    )


def window_estimator(adaptation: str, dense: bool, num_warmup: int) -> WindowEstimator:
    if adaptation == "stan":
        return stan_variance(dense)
    if dense:
        raise ValueError(f"adaptation={adaptation!r} estimates its own metric form; use it with metric='diag'")
    if adaptation == "fisher":
        return fisher_diagonal()
    if adaptation == "fisher-lowrank":
        longest = max((end - start + 1 for start, end in slow_windows(num_warmup)), default=1)
        return fisher_low_rank(longest)
    raise ValueError(f"adaptation={adaptation!r}: expected one of {', '.join(ADAPTATIONS)}")


# ----------------------------------------------------------------------------- step-size heuristic
def find_reasonable_step_size(
    key,
    state: NUTSState,
    step_size,
    inverse_metric,
    logdensity_fn: Callable,
    metric=euclidean,
    max_iterations: int = 100,
):
    """Stan's ``init_stepsize``: move eps by factors of 2 until one leapfrog step's
    acceptance crosses 0.8 (capped at ``max_iterations`` halvings/doublings)."""
    return double_or_halve(
        key, step_size, one_step_energy_change(state, inverse_metric, logdensity_fn, metric), LOG_08, max_iterations
    )[0]


def one_step_energy_change(state: NUTSState, inverse_metric, logdensity_fn: Callable, metric=euclidean) -> Callable:
    """``(key, eps) -> H0 - H`` after one leapfrog step of size eps from ``state`` with the
    momentum drawn from ``key`` (NaN counts as -inf): the log acceptance of that step."""
    step = leapfrog(jax.value_and_grad(logdensity_fn), metric.velocity)

    def delta_h(key, eps):
        p = metric.sample_momentum(key, inverse_metric, state.position)
        point = PhasePoint(state.position, p, state.logdensity, state.logdensity_grad)
        h0 = -point.logdensity + metric.kinetic_energy(inverse_metric, p)
        new = step(point, eps, inverse_metric)
        h = -new.logdensity + metric.kinetic_energy(inverse_metric, new.momentum)
        return h0 - jnp.where(jnp.isnan(h), jnp.inf, h)

    return delta_h


# ----------------------------------------------------------------------------- the warmup run
class WarmupState(NamedTuple):
    state: NUTSState
    step_size: jax.Array
    inverse_metric: jax.Array
    dual_averaging: DualAveraging
    window: NamedTuple  # the metric estimator's running state for the current window
    key: jax.Array
    #: window estimates refused because they were not finite and positive (the metric
    #: before them was kept), and draws left out of their window for a non-finite
    #: position or gradient
    refused_estimates: jax.Array
    skipped_draws: jax.Array


def run_warmup(
    key,
    position,
    logdensity_fn: Callable,
    num_warmup: int,
    *,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense: bool = False,
    initial_step_size: float = 1.0,
    kernel=None,
    adaptation: str = "stan",
    estimator: WindowEstimator | None = None,
) -> tuple[WarmupState, NUTSInfo]:
    """Stan's adaptive warmup from ``position``; returns the final adaptation state
    (step size already set to exp(x_bar)) and the per-iteration NUTS info.

    ``estimator`` replaces the metric estimator that ``adaptation`` names (the metric
    ceiling benchmark hands in a known posterior covariance this way)."""
    kernel = kernel or build_kernel(logdensity_fn, max_tree_depth=max_tree_depth)
    estimator = estimator or window_estimator(adaptation, dense, num_warmup)
    d = position.shape[0]
    dtype = position.dtype
    state = init(position, logdensity_fn)
    inverse_metric = jnp.eye(d, dtype=dtype) if estimator.dense else jnp.ones(d, dtype)
    key, heuristic_key = jax.random.split(key)
    # Stan sets mu = log(10 * initial eps) before the first heuristic run, and keeps it for the first window
    da = dual_averaging_init(jnp.asarray(initial_step_size, dtype))
    step_size = find_reasonable_step_size(
        heuristic_key, state, jnp.asarray(initial_step_size, dtype), inverse_metric, logdensity_fn
    )
    in_window, window_end = window_schedule(num_warmup)

    def one(carry: WarmupState, schedule):
        add, end = schedule
        key, transition_key, heuristic_key = jax.random.split(carry.key, 3)
        state, info = kernel(transition_key, carry.state, carry.step_size, carry.inverse_metric)
        da, step_size = dual_averaging_update(carry.dual_averaging, info.accept_stat, delta=target_accept)
        finite = jnp.all(jnp.isfinite(state.position)) & jnp.all(jnp.isfinite(state.logdensity_grad))
        window = jax.tree.map(
            lambda a, b: jnp.where(add & finite, a, b),
            estimator.add(carry.window, state.position, state.logdensity_grad),
            carry.window,
        )

        def end_window(_):
            estimated = estimator.estimate(window)
            usable = usable_metric(estimated)
            inverse_metric = jnp.where(usable, estimated, carry.inverse_metric)
            eps = find_reasonable_step_size(heuristic_key, state, step_size, inverse_metric, logdensity_fn)
            eps = jnp.where(jnp.isfinite(eps) & (eps > 0), eps, step_size)
            return (
                inverse_metric,
                eps,
                dual_averaging_init(eps),
                estimator.init(d, dtype),
                (~usable).astype(jnp.int32),
            )

        def carry_on(_):
            return carry.inverse_metric, step_size, da, window, jnp.zeros((), jnp.int32)

        inverse_metric, step_size, da, window, refused = jax.lax.cond(end, end_window, carry_on, None)
        next_carry = WarmupState(
            state,
            step_size,
            inverse_metric,
            da,
            window,
            key,
            carry.refused_estimates + refused,
            carry.skipped_draws + (add & ~finite).astype(jnp.int32),
        )
        return next_carry, info

    no_count = jnp.zeros((), jnp.int32)
    initial = WarmupState(state, step_size, inverse_metric, da, estimator.init(d, dtype), key, no_count, no_count)
    final, infos = jax.lax.scan(one, initial, (jnp.asarray(in_window), jnp.asarray(window_end)))
    if num_warmup > 0:
        final = final._replace(step_size=jnp.exp(final.dual_averaging.x_bar))
    return final, infos
