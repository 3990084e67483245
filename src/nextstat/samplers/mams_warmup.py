"""Tuning MAMS for a few chains: step size, diagonal preconditioner, trajectory length.

Before the schedule, three moves that make far starts and bad scales safe (``approach``,
``step_size``): the start climbs towards the typical set when it is far outside it
(``approach.climb``; nothing moves from a start that is already near it); the first
preconditioner is -1 / (the Hessian's diagonal) at the climbed start
(``approach.curvature_metric``: only where it is beyond 100x in sd of the unit metric,
1 elsewhere), so that scales that differ by 1e6 are known before the first transition;
and the first eps is four steps per draw, or Stan's heuristic there where that is
smaller (``mams.find_reasonable_step_size``). Dual
averaging's eps is floored at ``STEP_FLOOR`` times the eps of its last (re)start, so a
run of rejections cannot drive it to zero; and a window in which the chain did not move
leaves the preconditioner as it was instead of estimating one from a point.

Then four phases over ``num_warmup`` iterations (a static schedule, fed to one ``scan``):

1. [0, 30%): dual averaging of eps towards the target acceptance (Stan's constants,
   target 0.9 by default for MAMS), the start's curvature preconditioner, L = sqrt(d)
   but at most 8 steps per draw until the window's preconditioner is set (where that
   first guess is poor eps is tiny, and L / eps steps would spend most of warmup's
   gradients);
2. [30%, 60%): dual averaging goes on while the draws (and the gradients the kernel
   already holds at them), in the space the current preconditioner scales, feed the
   metric estimator of ``adaptation``: a Welford
   variance (``variance``), the Fisher-divergence diagonal
   sqrt(Var x / Var g) (``fisher``, ``fisher_metric.fisher_diagonal``) or its
   low-rank-plus-diagonal form (``fisher-lowrank``, ``fisher_metric.fisher_low_rank``),
   which MAMS then applies as a dense preconditioner S (its Cholesky factor, factored
   once when the metric is set: position steps S u, the force S' g;
   ``mams.preconditioner``); the engine's ``auto`` picks between the last and the
   first by the dimension (``auto_adaptation``);
   The window is two: at 40% the first window's estimate becomes the preconditioner and
   the second window [40%, 60%) estimates afresh in the space it preconditions (a chain
   still settling when the first window opened, or a first estimate that whitens a
   correlated posterior only in part, is corrected by the second, as Stan's doubling
   windows correct each other);
3. at 60% the preconditioner becomes that estimate, regularized like Stan's
   (n/(n+5) s^2 + 1e-3 * 5/(n+5), in the scaled space, so relative to the known scales);
   dual averaging restarts from the current eps;
   [60%, 80%) keeps the draws (in the preconditioned space) and the path length of
   every transition;
4. at 80% the trajectory length is set from those draws: L = 0.4 (``length_factor``)
   * mean over parameters of (path length travelled / ESS), the distance between effectively
   independent draws, as MCLMC's tuner sets it (ESS: ``ess.effective_sample_size``;
   ``length_rule="per-parameter"``, the default), which the worst-mixing parameter pulls
   up; or 0.4 * path / (ESS averaged over parameters), as the MAMS paper's adjusted tuner
   does (``"mean-ess"``): a shorter L that costs fewer gradients on the paper's curved
   targets (Rosenbrock, Brownian motion) and loses on correlated posteriors that a
   diagonal preconditioner leaves correlated (posteriordb's earnings regressions):
   ``benchmarks.mams_length_rule`` measures both side by side. Dual averaging restarts
   for the new L and runs to the end, where eps = exp(x_bar).

Last, a settle check (``settle``): ``SETTLE_PROBES`` transitions at the final eps, L and
metric from the final state, on a key of their own, their moves discarded. A chain whose
mean acceptance over them is below ``SETTLE_ACCEPT`` has not settled where it ended:
warmup's last transitions can carry a chain into a narrow region (a funnel's neck: on
inference-gym's Brownian motion with unknown scales, seed 123, one chain of 32 ended at log
density 72.3 against the others' 22.7-52.1, where its final eps (2.48) accepts none of the
probes, and accepted nothing in 8,000 draws: ``benchmarks.mams_settle``,
reports/mams-paper/SETTLE_CHECK.md). Such a chain resumes dual averaging for
another ``SETTLE_FRACTION`` of warmup from where it is, and is probed again, at most
``SETTLE_ROUNDS`` times. A chain that passes keeps its state and eps, so its draws are the
same as without the check; the probes' gradients count as warmup's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .approach import MAX_ITERATIONS as MAX_CLIMB
from .approach import ApproachInfo, climb, curvature_metric
from .ess import effective_sample_size
from .fisher_metric import WindowEstimator, fisher_diagonal, fisher_low_rank
from .mams import MAMSInfo, MAMSState, build_kernel, factored, find_reasonable_step_size, init, preconditioner
from .metrics import usable_metric
from .stan_warmup import stan_variance
from .step_size import DualAveraging, dual_averaging_init, dual_averaging_update

FIRST_PHASE, VARIANCE_END, LENGTH_END = 0.3, 0.6, 0.8
#: the metric window [FIRST_PHASE, VARIANCE_END) is two windows: the first ends here, its
#: estimate preconditions the second, whose estimate (composed with it) is the metric
FIRST_WINDOW_END = 0.4
LENGTH_FACTOR = 0.4  # L = 0.4 x the path length per effective sample (MCLMC's and MAMS's choice)
#: how the draws' ESS becomes one path length per effective draw: the average over
#: parameters of path / ESS (MCLMC's tuner; the worst-mixing parameter dominates), or the
#: path over the ESS averaged over parameters (the MAMS paper's adjusted tuner)
LENGTH_RULES = ("per-parameter", "mean-ess")
EARLY_STEPS = 8  # before the preconditioner exists, at most this many steps per draw
#: dual averaging never proposes an eps below this fraction of the eps it (re)started from
STEP_FLOOR = 1e-3
#: the metric's estimator over the window: the draws' variance, the Fisher divergence
#: minimizer from the draws and their gradients (diagonal), or its low-rank-plus-diagonal
#: form, applied as a dense preconditioner (its Cholesky factor)
ADAPTATIONS = ("variance", "fisher", "fisher-lowrank")
#: ``adaptation="auto"`` (the engine's default) takes the low-rank Fisher estimate up to this
#: many parameters and the variance above. On posteriordb's 35 posteriors (3 to 10
#: parameters) the low-rank MAMS passes its health gate on 104 of 105 runs against the
#: diagonal's 85 and gives 15x its bulk ESS per gradient at the median; on the MAMS paper's
#: targets (2 to 100 parameters) it needs the fewest gradients of our MAMS's forms
#: (reports/mams-paper/LENGTH_RULE.md). But a dense S costs d^2 a gradient: on a standard
#: normal 2.0x the diagonal's time per gradient at d = 100, 4.4x at 300 and 57x at 1000
#: (``benchmarks.mams_metric_cost``, reports/mams-paper/METRIC_COST.md).
AUTO_LOWRANK_MAX_DIM = 100
#: the settle check at the end of warmup: this many probe transitions at the final eps ...
SETTLE_PROBES = 20
#: ... whose mean acceptance below this (far under any target) means the chain has not settled
SETTLE_ACCEPT = 0.25
#: an unsettled chain resumes dual averaging for this fraction of warmup (at least 10
#: iterations), at most this many times
SETTLE_FRACTION, SETTLE_ROUNDS = 0.1, 3
#: the settle check draws from the warmup key folded with this (its first probe: folded again with 0)
SETTLE_SALT = 0x5E771E


def auto_adaptation(d: int) -> str:
    """What ``adaptation="auto"`` means for a posterior of d parameters."""
    return "fisher-lowrank" if d <= AUTO_LOWRANK_MAX_DIM else "variance"


def metric_window(adaptation: str, capacity: int = 1) -> WindowEstimator:
    """The window's estimator; ``capacity``: the most draws a window holds (the low-rank
    form keeps them)."""
    if adaptation == "variance":
        return stan_variance(dense=False)
    if adaptation == "fisher":
        return fisher_diagonal()
    if adaptation == "fisher-lowrank":
        return fisher_low_rank(max(capacity, 1))
    raise ValueError(f"MAMS adaptation {adaptation!r}: expected one of {', '.join(ADAPTATIONS)}")


def _compose(inverse_metric, estimate):
    """The estimate made in the space the current preconditioner whitens, back in x's:
    elementwise for a diagonal, S E S' for a dense one (M^-1 = S S')."""
    if inverse_metric.ndim == 1:
        return inverse_metric * estimate
    chol = jnp.linalg.cholesky(inverse_metric)
    composed = chol @ estimate @ chol.T
    return 0.5 * (composed + composed.T)


def _mean_variance(inverse_metric):
    """The mean of M^-1's diagonal: the scale a step size is rescaled by."""
    return jnp.mean(inverse_metric if inverse_metric.ndim == 1 else jnp.diag(inverse_metric))


class MAMSWarmupState(NamedTuple):
    state: MAMSState
    step_size: jax.Array
    inverse_metric: jax.Array
    trajectory_length: jax.Array
    dual_averaging: DualAveraging
    window: Any  # the metric estimator's running state over the window
    draws: jax.Array  # (capacity, d): the preconditioned draws of phase 3
    path_lengths: jax.Array  # (capacity,): how far each of those transitions moved
    step_floor: jax.Array  # STEP_FLOOR x the eps dual averaging last (re)started from
    window_distance: jax.Array  # how far the chain moved while the metric window collected
    initial_step_size: jax.Array  # the heuristic's eps at the (climbed) start
    approach: ApproachInfo  # the climb from the start
    #: gradient evaluations outside the schedule's iterations: the climb, the heuristic, and
    #: the settle check's probes and resumed iterations
    setup_grads: jax.Array
    factor: Any  # inverse_metric as the kernel takes it (``mams.factored``), refactored when it is set
    settle_rounds: jax.Array  # how many times the settle check resumed dual averaging
    settle_acceptance: jax.Array  # the last settle probes' mean acceptance


class Schedule(NamedTuple):
    early: np.ndarray  # before the preconditioner is set: steps per draw are capped
    collect_variance: np.ndarray  # draw feeds the variance
    set_metric: np.ndarray  # the preconditioner is set at this iteration
    keep_index: np.ndarray  # slot of the draw in the length buffer, -1 when not kept
    set_length: np.ndarray  # the trajectory length is set at this iteration


def schedule(num_warmup: int) -> Schedule:
    first, middle, last, length_end = (
        int(f * num_warmup) for f in (FIRST_PHASE, FIRST_WINDOW_END, VARIANCE_END, LENGTH_END)
    )
    collect = np.zeros(num_warmup, bool)
    collect[first:last] = True
    set_metric = np.zeros(num_warmup, bool)
    keep_index = np.full(num_warmup, -1)
    set_length = np.zeros(num_warmup, bool)
    early = np.zeros(num_warmup, bool)
    if last > first + 1:
        early[:last] = True
        if middle - first >= 10 and last - middle >= 10:  # each window long enough to estimate from
            set_metric[middle - 1] = True
        set_metric[last - 1] = True
        if length_end - last >= 10:  # enough draws for an ESS estimate
            keep_index[last:length_end] = np.arange(length_end - last)
            set_length[length_end - 1] = True
    return Schedule(early, collect, set_metric, keep_index, set_length)


def length_from_draws(draws, path_lengths, d: int, rule: str = "per-parameter", factor: float = LENGTH_FACTOR):
    """From one chain's draws: L = factor * total path length / mean_i(ESS_i) (``mean-ess``)
    or factor * mean_i(total path length / ESS_i) (``per-parameter``); within [0.1, 10 sqrt(d)]."""
    if rule not in LENGTH_RULES:
        raise ValueError(f"MAMS length rule {rule!r}: expected one of {', '.join(LENGTH_RULES)}")
    ess = effective_sample_size(draws[None])
    ess = jnp.clip(jnp.where(jnp.isfinite(ess), ess, 1.0), 1.0, draws.shape[0])
    path = jnp.sum(path_lengths)
    length = factor * (path / jnp.mean(ess) if rule == "mean-ess" else jnp.mean(path / ess))
    return jnp.clip(length, 0.1, 10.0 * math.sqrt(d))


def default_trajectory_length(d: int) -> float:
    return math.sqrt(d)


def probe_acceptance(key, kernel, warm: MAMSWarmupState, jitter):
    """Mean acceptance of ``SETTLE_PROBES`` transitions from warmup's final state at its
    final eps, L and metric (the moves are discarded), and their gradient count."""

    def one(state, draw_key):
        state, info = kernel(draw_key, state, warm.step_size, warm.trajectory_length, warm.factor, jitter)
        return state, (jnp.where(jnp.isfinite(info.accept_prob), info.accept_prob, 0.0), info.n_grads)

    _, (accept, grads) = jax.lax.scan(one, warm.state, jax.random.split(key, SETTLE_PROBES))
    return jnp.mean(accept), jnp.sum(grads)


def settle(key, kernel, warm: MAMSWarmupState, iterate: Callable, resume_iterations: int, jitter, step_floor):
    """The settle check (module docstring): probe; while the probes accept less than
    ``SETTLE_ACCEPT`` on average (at most ``SETTLE_ROUNDS`` times), resume dual averaging from
    the current state for ``resume_iterations`` of ``iterate`` (warmup's own iteration, with
    nothing left to set) and probe again."""
    accept, grads = probe_acceptance(jax.random.fold_in(key, 0), kernel, warm, jitter)
    warm = warm._replace(setup_grads=warm.setup_grads + grads, settle_acceptance=accept)
    none = jnp.zeros(resume_iterations, bool)
    no_slot = jnp.full(resume_iterations, -1)

    def unsettled(warm):
        return (warm.settle_acceptance < SETTLE_ACCEPT) & (warm.settle_rounds < SETTLE_ROUNDS)

    def resume(warm):
        round_key = jax.random.fold_in(key, 1 + warm.settle_rounds)
        resume_key, probe_key = jax.random.split(round_key)
        eps = warm.step_size
        warm = warm._replace(dual_averaging=dual_averaging_init(eps), step_floor=step_floor * eps)
        inputs = (jax.random.split(resume_key, resume_iterations), none, none, none, no_slot, none)
        warm, infos = jax.lax.scan(iterate, warm, inputs)
        warm = warm._replace(step_size=jnp.exp(warm.dual_averaging.x_bar))
        accept, grads = probe_acceptance(probe_key, kernel, warm, jitter)
        return warm._replace(
            setup_grads=warm.setup_grads + jnp.sum(infos.n_grads) + grads,
            settle_rounds=warm.settle_rounds + 1,
            settle_acceptance=accept,
        )

    return jax.lax.while_loop(unsettled, resume, warm)


def warmup_iteration(
    kernel,
    window: WindowEstimator,
    d: int,
    *,
    target_accept,
    jitter,
    length_rule: str,
    step_floor,
    length_factor: float = LENGTH_FACTOR,
):
    """One warmup iteration, ``(state, (key, early, add, set_now, keep, set_length)) ->
    (state, info)``: a transition, dual averaging, and what ``schedule`` says this iteration
    does (cap the steps, feed the metric window, set the metric, keep the draw, set L)."""

    def one(carry: MAMSWarmupState, inputs):
        key, early, add, set_now, keep, set_length = inputs
        length_now = jnp.where(
            early, jnp.minimum(carry.trajectory_length, EARLY_STEPS * carry.step_size), carry.trajectory_length
        )
        state, info = kernel(key, carry.state, carry.step_size, length_now, carry.factor, jitter)
        accept = jnp.where(jnp.isfinite(info.accept_prob), info.accept_prob, 0.0)
        da, step_size = dual_averaging_update(carry.dual_averaging, accept, delta=target_accept, floor=carry.step_floor)
        window_distance = carry.window_distance + jnp.where(add, info.distance, 0.0)
        # the window estimates in the space the current metric preconditions (S^-1 x, S' g),
        # so that Stan's shrinkage towards 1e-3 is relative to the scales already known
        scale = preconditioner(carry.factor)
        window_state = jax.tree.map(
            lambda a, b: jnp.where(add, a, b),
            window.add(carry.window, scale.whiten(state.position), scale.force(state.logdensity_grad)),
            carry.window,
        )
        slot = jnp.maximum(keep, 0)
        path = (info.n_grads // 2) * carry.step_size  # integrator steps x eps (jitter averages out)
        draws = jnp.where(keep >= 0, carry.draws.at[slot].set(scale.whiten(state.position)), carry.draws)
        path_lengths = jnp.where(keep >= 0, carry.path_lengths.at[slot].set(path), carry.path_lengths)

        def set_preconditioner(_):
            estimate = _compose(carry.inverse_metric, window.estimate(window_state))
            # a chain that did not move over the window has no variance to estimate from
            usable = (window_distance > 0) & usable_metric(estimate)
            inverse_metric = jnp.where(usable, estimate, carry.inverse_metric)
            # the step size that worked in the old metric, rescaled to the new metric's mean scale
            eps = jnp.exp(da.x_bar) * jnp.sqrt(_mean_variance(carry.inverse_metric) / _mean_variance(inverse_metric))
            return inverse_metric, carry.trajectory_length, eps, dual_averaging_init(eps), step_floor * eps

        def set_trajectory_length(_):
            new_length = length_from_draws(draws, path_lengths, d, length_rule, length_factor)
            eps = jnp.minimum(jnp.exp(da.x_bar), new_length)
            return carry.inverse_metric, new_length, eps, dual_averaging_init(eps), step_floor * eps

        def carry_on(_):
            return carry.inverse_metric, carry.trajectory_length, step_size, da, carry.step_floor

        branch = jnp.where(set_now, 1, jnp.where(set_length, 2, 0))
        inverse_metric, new_length, step_size, da, floor = jax.lax.switch(
            branch, [carry_on, set_preconditioner, set_trajectory_length], None
        )
        factor = jax.lax.cond(set_now, factored, lambda _: carry.factor, inverse_metric)
        # a set metric starts the next window afresh, in the space it preconditions
        fresh_window = window.init(d, carry.state.position.dtype)
        window_state = jax.tree.map(lambda fresh, kept: jnp.where(set_now, fresh, kept), fresh_window, window_state)
        window_distance = jnp.where(set_now, 0.0, window_distance)
        return (
            carry._replace(
                state=state,
                step_size=step_size,
                inverse_metric=inverse_metric,
                trajectory_length=new_length,
                dual_averaging=da,
                window=window_state,
                draws=draws,
                path_lengths=path_lengths,
                step_floor=floor,
                window_distance=window_distance,
                factor=factor,
            ),
            info,
        )

    return one


def run_warmup(
    key,
    position,
    logdensity_fn: Callable,
    num_warmup: int,
    *,
    target_accept: float = 0.9,
    jitter: float = 0.1,
    kernel=None,
    trajectory_length: float | None = None,
    adaptation: str = "variance",
    length_rule: str = "per-parameter",
    length_factor: float = LENGTH_FACTOR,
    climb_start: bool = True,
    curvature_start: bool = True,
    step_floor: float = STEP_FLOOR,
    settle_check: bool = True,
):
    """Tune eps, M^-1 and L from ``position``; returns (final warmup state, per-iteration
    info). A given ``trajectory_length`` is kept as it is (no length tuning);
    ``adaptation`` picks the metric estimator (``ADAPTATIONS``), ``length_rule`` how the
    draws' ESS sets L (``LENGTH_RULES``). The warmup's gradient
    evaluations are the infos' ``n_grads`` plus the final state's ``setup_grads``.
    ``climb_start``, ``curvature_start`` and ``step_floor`` (0: none) switch the far-start
    safeguards off one by one, for ``benchmarks.far_starts``, which measures each;
    ``settle_check=False`` leaves the settle check out, for ``benchmarks.mams_settle``."""
    plan = schedule(num_warmup)
    window = metric_window(adaptation, int(np.sum(plan.collect_variance)))
    kernel = kernel or build_kernel(logdensity_fn)
    d = position.shape[0]
    dtype = position.dtype
    length = jnp.asarray(trajectory_length or default_trajectory_length(d), dtype)
    position, approach = climb(logdensity_fn, position, max_iterations=MAX_CLIMB if climb_start else 0)
    state = init(position, logdensity_fn)
    start_metric, curvature_grads = (
        curvature_metric(logdensity_fn, position) if curvature_start else (jnp.ones(d, dtype), 0)
    )
    if window.dense:  # a dense preconditioner from the start: the carry's shape is fixed
        start_metric = jnp.diag(start_metric)
    # the heuristic draws from a key folded off the warmup's: the warmup's own stream is the
    # same whether or not the heuristic runs
    heuristic_key = jax.random.fold_in(key, 0x5EED)
    # four steps per draw, or less where Stan's heuristic finds that too long (a far start);
    # dual averaging takes over
    four_steps = jnp.asarray(length / 4.0, dtype)
    heuristic, heuristic_grads = find_reasonable_step_size(
        heuristic_key, kernel, state, four_steps, factored(start_metric)
    )
    step_size = jnp.minimum(four_steps, heuristic.astype(dtype))
    if trajectory_length is not None:
        plan = plan._replace(set_length=np.zeros(num_warmup, bool))
    capacity = max(1, int(np.max(plan.keep_index, initial=-1)) + 1)

    one = warmup_iteration(
        kernel,
        window,
        d,
        target_accept=target_accept,
        jitter=jitter,
        length_rule=length_rule,
        step_floor=step_floor,
        length_factor=length_factor,
    )

    initial = MAMSWarmupState(
        state,
        step_size,
        start_metric,
        length,
        dual_averaging_init(step_size),
        window.init(d, dtype),
        jnp.zeros((capacity, d), dtype),
        jnp.zeros(capacity, dtype),
        step_floor * step_size,
        jnp.zeros((), dtype),
        step_size,
        approach,
        approach.n_evals + curvature_grads + heuristic_grads,
        factored(start_metric),
        jnp.zeros((), jnp.int32),
        jnp.ones((), dtype),
    )
    keys = jax.random.split(key, num_warmup)
    final, infos = jax.lax.scan(
        one,
        initial,
        (
            keys,
            jnp.asarray(plan.early),
            jnp.asarray(plan.collect_variance),
            jnp.asarray(plan.set_metric),
            jnp.asarray(plan.keep_index),
            jnp.asarray(plan.set_length),
        ),
    )
    if num_warmup > 0:
        final = final._replace(step_size=jnp.exp(final.dual_averaging.x_bar))
    if num_warmup > 0 and settle_check:
        settle_key = jax.random.fold_in(key, SETTLE_SALT)
        resume_iterations = max(10, int(SETTLE_FRACTION * num_warmup))
        final = settle(settle_key, kernel, final, one, resume_iterations, jitter, step_floor)
    return final, infos


__all__ = [
    "ADAPTATIONS",
    "AUTO_LOWRANK_MAX_DIM",
    "LENGTH_RULES",
    "MAMSInfo",
    "MAMSWarmupState",
    "SETTLE_ACCEPT",
    "SETTLE_FRACTION",
    "SETTLE_PROBES",
    "SETTLE_ROUNDS",
    "SETTLE_SALT",
    "auto_adaptation",
    "probe_acceptance",
    "run_warmup",
    "schedule",
    "settle",
    "warmup_iteration",
    "default_trajectory_length",
    "length_from_draws",
    "metric_window",
]
