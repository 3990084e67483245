"""nutpie's warmup schedule for our NUTS, beside Stan's windows (``stan_warmup``).

What nutpie 0.16.8 (nuts-rs 0.17.4's ``GlobalStrategy``) does, as we read it, and what we took:

- The metric is estimated early and often. Two running estimates of the same kind are
  kept, a foreground and a background; every warmup draw that is finite and did not
  diverge goes into both. The metric is re-estimated from the foreground after every
  draw. When the background holds enough draws (10 in the first 30% of warmup, 80
  after), it becomes the foreground and a new, empty background starts: the estimate
  forgets the oldest draws, those from far out in the tails of the warmup's approach.
  No switch happens when fewer than that many draws remain before the final window.
  The starting point's draw and gradient open both estimates (and are forgotten at the
  first switch).
- Each estimate is used as it stands: nutpie does not shrink its Fisher estimates
  towards a constant, where Stan shrinks its variance, n/(n+5) var + 1e-3 5/(n+5). On
  nutpie's short foregrounds (10 to 160 draws) that shrinkage is no small matter: it
  adds 3e-5 to 3e-4 to every variance, and a parameter whose posterior variance is
  below that (a regression slope on an unscaled covariate) gets a metric many times too
  wide, so the step size for everything else collapses.
- The final 15% of warmup is a step-size-only window: the metric stays fixed.
- The step size is searched for as nuts-rs searches (``nutpie_step_size_search``), at the
  start and again when the first metric estimate replaces the starting one: from 0.1,
  doubling or halving until one leapfrog step's acceptance crosses the target or the
  step leaves [1e-10, 1e5]; dual averaging restarts from the step found, and where a
  step of the search diverges it keeps 0.1 for one draw and goes on unrestarted.
  Otherwise dual averaging runs on through the whole warmup, never restarted, not even
  where the final window begins (Stan restarts it at every window's end). Stan's
  heuristic here (unbounded, from the step before) froze a chain of an ARMA(1, 1) far
  start: it halved to 1e-52, and dual averaging, restarted there and never again,
  climbed to 1e-6 by the end of warmup (``cases/far_start.py:arma11``).
- The step size follows nuts-rs's ``stepsize`` module: dual averaging on the mean tree
  acceptance while the metric may still switch, then, late (from the draw after which no
  switch can come, and through the final window), on a symmetric statistic, the mean over
  the tree's leaves of 2 sigmoid(-|H0 - H|): it counts an energy fall like a rise of the
  same size, where min(1, exp(H0 - H)) counts a fall as 1 (on the eight posteriors of
  reports/posteriordb/NUTPIE_SCHEDULE.md it moves neither the step size nor ESS
  measurably; the restart at the final window, which our first version made there
  instead, cost a fifth of the ESS, 0.80x). The proposed step is capped at pi. Every warmup draw uses the dual
  averaging's step times a jitter U(0.9, 1.1); the step size after warmup is exp(x_bar)
  times one more jitter, as nuts-rs ends its warmup.
- The starting metric: nutpie starts from the gradient at the initial point, inverse
  metric 1 / |g|; we do the same, clipped to [1e-10, 1e10].

Each of these elements can be switched off (``NutpieOptions``), to measure what it buys
(``python -m nextstat.benchmarks.nutpie_schedule``).

The estimator is any ``WindowEstimator`` (``fisher_metric``): the diagonal Fisher one or
the low-rank one (whose buffer then holds the whole warmup), both without Stan's
shrinkage towards 1e-3 (the low-rank one keeps its scale-free regularization of the
eigenvalues, ``fisher_metric.low_rank_inverse_metric``), or Stan's variance (shrunk, as
Stan does). Every
estimate is guarded as in ``stan_warmup``: one that is not finite and positive definite
is refused and the metric before it kept, and both are counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .fisher_metric import CLIP, WindowEstimator, fisher_diagonal, fisher_low_rank
from .metrics import usable_metric
from .nuts import MAX_DELTA_H, NUTSInfo, NUTSState, build_kernel, init
from .stan_warmup import WarmupState, find_reasonable_step_size, one_step_energy_change, stan_variance
from .step_size import DualAveraging, dual_averaging_init, dual_averaging_update

EARLY_SHARE, FINAL_STEP_SIZE_SHARE = 0.3, 0.15
EARLY_SWITCH, LATE_SWITCH = 10, 80
MIN_DRAWS = 3  # no estimate from fewer draws
INITIAL_STEP = 0.1  # nuts-rs's first step size, and its fallback where the search fails
SEARCH_BOUNDS = (1e-10, 1e5)  # nuts-rs's search stops at the first step outside these


class NutpieOptions(NamedTuple):
    """The elements of nutpie's schedule that are not Stan's; the defaults are nutpie's."""

    switching: bool = True  # a background estimate replaces the foreground (else one estimate from every draw)
    symmetric_late: bool = True  # late dual averaging on the symmetric acceptance statistic (else Stan's)
    step_size_jitter: float = 0.1  # warmup steps and the final step times U(1 - j, 1 + j); 0 for none
    restart_final_window: bool = False  # restart dual averaging where the final window begins (Stan-like)
    max_step_size: float = math.pi  # the proposed step's cap (inf for none)
    stan_shrinkage: bool = False  # shrink each Fisher estimate as Stan shrinks its variance (nutpie does not)
    start_in_estimate: bool = True  # the starting point's draw and gradient open both estimates
    #: the step-size search at the start and at the first metric update: ``nutpie``'s (from
    #: 0.1, within [1e-10, 1e5], and where a step diverges: 0.1 and no restart) or Stan's
    #: heuristic (from the step before, up to 100 factors of two, always restarting)
    step_size_search: str = "nutpie"


NUTPIE_DEFAULTS = NutpieOptions()


def nutpie_schedule(num_warmup: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per warmup iteration: (the metric may change here, the background may switch in
    here, the final step-size window starts here). The switch also needs a full
    background, known only inside the run. Where no switch may come, the step size's
    late phase has begun."""
    draws = np.arange(num_warmup)
    early_end = int(EARLY_SHARE * num_warmup)
    final_start = num_warmup - int(FINAL_STEP_SIZE_SHARE * num_warmup)
    switch_every = np.where(draws < early_end, EARLY_SWITCH, LATE_SWITCH)
    adapting = draws < final_start
    may_switch = adapting & (switch_every + draws <= final_start)
    return adapting, may_switch, draws == final_start


def switch_sizes(num_warmup: int) -> np.ndarray:
    """The background size that triggers a switch at each iteration."""
    draws = np.arange(num_warmup)
    return np.where(draws < int(EARLY_SHARE * num_warmup), EARLY_SWITCH, LATE_SWITCH)


def nutpie_estimator(adaptation: str, num_warmup: int, shrink: bool = False) -> WindowEstimator:
    """The metric estimator; ``shrink`` applies to the Fisher ones (Stan's variance is
    always shrunk, as Stan does)."""
    if adaptation == "stan":
        return stan_variance(dense=False)
    if adaptation == "fisher":
        return fisher_diagonal(shrink=shrink)
    if adaptation == "fisher-lowrank":
        return fisher_low_rank(max(num_warmup, 1) + 1, shrink=shrink)
    raise ValueError(f"adaptation={adaptation!r}: expected stan, fisher or fisher-lowrank")


class _Estimates(NamedTuple):
    foreground: NamedTuple
    background: NamedTuple
    changed: jax.Array  # the metric has been estimated at least once


def run_nutpie_warmup(
    key,
    position,
    logdensity_fn: Callable,
    num_warmup: int,
    *,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    kernel=None,
    adaptation: str = "fisher",
    options: NutpieOptions = NUTPIE_DEFAULTS,
) -> tuple[WarmupState, NUTSInfo]:
    """nutpie's schedule from ``position``; returns what ``stan_warmup.run_warmup`` returns."""
    if options.step_size_search not in ("nutpie", "stan"):
        raise ValueError(f"step_size_search={options.step_size_search!r}: expected 'nutpie' or 'stan'")
    kernel = kernel or build_kernel(logdensity_fn, max_tree_depth=max_tree_depth)
    estimator = nutpie_estimator(adaptation, num_warmup, shrink=options.stan_shrinkage)
    d, dtype = position.shape[0], position.dtype
    state = init(position, logdensity_fn)
    start_metric = jnp.clip(1.0 / jnp.abs(state.logdensity_grad), *CLIP)
    start_metric = jnp.where(usable_metric(start_metric), start_metric, jnp.ones(d, dtype))
    inverse_metric = jnp.diag(start_metric) if estimator.dense else start_metric
    key, heuristic_key = jax.random.split(key)
    if options.step_size_search == "nutpie":
        step_size, _ = nutpie_step_size_search(heuristic_key, state, inverse_metric, logdensity_fn, target_accept)
    else:
        step_size = find_reasonable_step_size(
            heuristic_key, state, jnp.asarray(1.0, dtype), inverse_metric, logdensity_fn
        )
    adapting, may_switch, final_start = nutpie_schedule(num_warmup)
    empty = estimator.init(d, dtype)

    def one(carry: tuple[WarmupState, _Estimates], schedule):
        warm, estimates = carry
        adapt, can_switch, final, switch_size = schedule
        key, transition_key, heuristic_key, jitter_key = jax.random.split(warm.key, 4)
        state, info = kernel(transition_key, warm.state, warm.step_size, warm.inverse_metric)
        late = ~can_switch if options.symmetric_late else jnp.zeros((), bool)
        accept = jnp.where(late, info.accept_stat_symmetric, info.accept_stat)
        da, step_size = dual_averaging_update(
            warm.dual_averaging, accept, delta=target_accept, ceiling=options.max_step_size
        )
        good = jnp.all(jnp.isfinite(state.position)) & jnp.all(jnp.isfinite(state.logdensity_grad)) & ~info.divergent
        use = adapt & good

        def added(s):
            return jax.tree.map(
                lambda a, b: jnp.where(use, a, b), estimator.add(s, state.position, state.logdensity_grad), s
            )

        foreground, background = added(estimates.foreground), added(estimates.background)
        switch = options.switching & can_switch & (_count(background) >= switch_size)
        foreground = jax.tree.map(lambda b, f: jnp.where(switch, b, f), background, foreground)
        background = jax.tree.map(lambda e, b: jnp.where(switch, e, b), empty, background)

        update = adapt & (_count(foreground) >= MIN_DRAWS)

        def estimate(_):
            estimated = estimator.estimate(foreground)
            return estimated, usable_metric(estimated)

        # estimated only where it may be used: not in the final window (a low-rank estimate costs two eigh)
        estimated, usable = jax.lax.cond(update, estimate, lambda _: (warm.inverse_metric, jnp.ones((), bool)), None)
        inverse_metric = jnp.where(update & usable, estimated, warm.inverse_metric)
        first = update & usable & ~estimates.changed

        def search(eps):
            if options.step_size_search == "nutpie":
                return nutpie_step_size_search(heuristic_key, state, inverse_metric, logdensity_fn, target_accept)
            found = find_reasonable_step_size(heuristic_key, state, eps, inverse_metric, logdensity_fn)
            return jnp.where(jnp.isfinite(found) & (found > 0), found, eps), jnp.ones((), bool)

        step_size, found = jax.lax.cond(first, search, lambda eps: (eps, jnp.zeros((), bool)), step_size)
        da = _restart_where((first & found) | (final & options.restart_final_window), da, step_size)
        next_warm = WarmupState(
            state,
            jnp.where(first, step_size, step_size * _jitter(jitter_key, options.step_size_jitter, dtype)),
            inverse_metric,
            da,
            warm.window,
            key,
            warm.refused_estimates + (update & ~usable).astype(jnp.int32),
            warm.skipped_draws + (adapt & ~good).astype(jnp.int32),
        )
        return (next_warm, _Estimates(foreground, background, estimates.changed | first)), info

    no_count = jnp.zeros((), jnp.int32)
    da = dual_averaging_init(step_size)
    initial = (
        WarmupState(state, step_size, inverse_metric, da, empty, key, no_count, no_count),
        _Estimates(empty, empty, jnp.zeros((), bool)),
    )
    schedule = tuple(jnp.asarray(a) for a in (adapting, may_switch, final_start, switch_sizes(num_warmup)))
    if options.start_in_estimate:
        start_good = jnp.all(jnp.isfinite(state.position)) & jnp.all(jnp.isfinite(state.logdensity_grad))
        opened = estimator.add(empty, state.position, state.logdensity_grad)
        opened = jax.tree.map(lambda a, b: jnp.where(start_good, a, b), opened, empty)
        initial = (initial[0], _Estimates(opened, opened, jnp.zeros((), bool)))
    (final, _), infos = jax.lax.scan(one, initial, schedule)
    if num_warmup > 0:
        jitter = _jitter(jax.random.fold_in(final.key, 1), options.step_size_jitter, dtype)
        final = final._replace(step_size=jnp.exp(final.dual_averaging.x_bar) * jitter)
    return final, infos


def nutpie_step_size_search(
    key, state: NUTSState, inverse_metric, logdensity_fn: Callable, target_accept: float, max_iterations: int = 100
) -> tuple[jax.Array, jax.Array]:
    """nuts-rs's step-size search (``stepsize::Strategy::init``): one momentum for every
    try; one leapfrog step of 0.1 says whether to double (its acceptance min(1, exp(H0 - H))
    above ``target_accept``) or halve; then double or halve until the acceptance crosses
    the target or the step leaves [1e-10, 1e5]. Returns (step, found): found, the step
    where it stopped, from which dual averaging restarts; not found (a step diverged, its
    energy error past 1000 or not finite, or ``max_iterations`` passed), 0.1 and dual
    averaging goes on as it was.

    Stan's heuristic (``find_reasonable_step_size``) has no such bounds: from a start where
    the gradient is 1e113 it halves to 2^-100 of the step before, and dual averaging
    restarted there (mu = log(10 eps)) climbs about 4 sqrt(t) nats in t accepted draws,
    too slowly to reach the typical set's step in a warmup that never restarts it again:
    the chain freezes (ARMA(1, 1), ``cases/far_start.py:arma11``). From 0.1, dual
    averaging walks down through rejections at 16 sqrt(t) nats and back up from mu = log(1)."""
    delta_h = one_step_energy_change(state, inverse_metric, logdensity_fn)
    dtype = state.position.dtype
    low, high = SEARCH_BOUNDS

    def accept(eps):
        change = delta_h(key, eps)  # the same key: the same momentum at every try
        return jnp.exp(jnp.minimum(change, 0.0)), ~(change > -MAX_DELTA_H)

    initial = jnp.asarray(INITIAL_STEP, dtype)
    first_accept, first_diverged = accept(initial)
    forward = first_accept > target_accept
    searching, found_status, diverged_status = 0, 1, 2

    def cond(carry):
        _, status, i = carry
        return (status == searching) & (i < max_iterations)

    def body(carry):
        eps, _, i = carry
        value, diverged = accept(eps)
        stop = jnp.where(forward, (value <= target_accept) | (eps > high), (value >= target_accept) | (eps < low))
        status = jnp.where(diverged, diverged_status, jnp.where(stop, found_status, searching))
        moved = jnp.where(forward, 2.0 * eps, 0.5 * eps)
        return jnp.where(status == searching, moved, eps), status, i + 1

    status = jnp.where(first_diverged, diverged_status, searching)
    eps, status, _ = jax.lax.while_loop(cond, body, (initial, status, 0))
    found = status == found_status
    return jnp.where(found, eps, initial), found


def _jitter(key, width: float, dtype) -> jax.Array:
    """A factor U(1 - width, 1 + width); exactly 1 for width 0."""
    if width == 0:
        return jnp.ones((), dtype)
    return jax.random.uniform(key, (), dtype, 1.0 - width, 1.0 + width)


def _count(estimate: NamedTuple) -> jax.Array:
    return estimate.n  # type: ignore[attr-defined]  # every WindowEstimator state counts its draws as n


def _restart_where(restart: jax.Array, da: DualAveraging, step_size) -> DualAveraging:
    fresh = dual_averaging_init(step_size)
    return jax.tree.map(lambda f, d: jnp.where(restart, f, d), fresh, da)
