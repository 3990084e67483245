"""LAPS-style many-chain MAMS: thousands of chains run the same fixed-shape MAMS
transition in lockstep under ``vmap`` (nothing waits for a per-chain tree, so a GPU
stays full), and the tuning comes from the ensemble rather than from each chain's past.

Before warmup, every start climbs towards the typical set when it is far outside it
(``approach.climb``, once per superchain start; a start near it does not move), and the
first eps is four steps per draw or, where smaller, Stan's heuristic (halved until the
mean one-step acceptance of the superchains' starts crosses 0.8). Both run once per
superchain, on its shared start, and their gradients are shared among its chains: each
chain is charged the lockstep cost (the slowest start's) divided by the superchain size.
A chain left far out would otherwise hold the shared eps down for every chain: from an
ARMA model's U(-2, 2) starts, dual averaging drove eps to 0 and the whole ensemble froze.

Warmup over ``num_warmup`` lockstep iterations:

- eps: dual averaging (Stan's constants) of the ensemble's mean acceptance towards the
  target (0.9), restarted once when the preconditioner is frozen, and floored at
  ``STEP_FLOOR`` times the eps it (re)started from;
- M^-1: during the first half, after every iteration, the variance of the chains'
  current positions, coordinate by coordinate (Var_chains(x_i)), regularized like
  Stan's with n = the number of chains; frozen for the second half;
- L: first sqrt(sum_i Var(x_i) / M^-1_i) = sqrt(d) in the preconditioned space, the
  ensemble's spread, which is what a trajectory should cross; then, once the metric is
  frozen, chosen from the ensemble itself: every chain makes one transition with each
  candidate number of integrator steps, and the candidate whose lag-1 autocorrelations
  across chains (of every x_i and x_i^2) promise the most ESS per gradient wins. Thousands
  of chains make one transition enough to estimate that; a single chain would need a
  long run per candidate (the MAMS paper's ESS-based tuning).

Stuck chains: a chain that warmup left far outside the typical set can stop moving for
good once eps has grown for the rest (``scaling``'s 1000-dimensional Gaussian, seed 777:
5 of 256 chains at 1.6 times the typical radius, never accepting, while the ensemble's mean
acceptance read 0.896). At the metric freeze and at the end of warmup, every chain whose
recent acceptance (an exponential average over about ``STUCK_WINDOW`` iterations) is below
``STUCK_ACCEPTANCE``, a ninth of the usual target, takes the state of a chain drawn from the
moving ones, its own superchain's where one moves, and the count is returned (a threshold
of 0.01 missed a chain at twice the typical radius that went on to accept 0.9% of its
proposals). Warmup draws are discarded, so this changes where sampling starts, not what it
samples; where no chain is stuck nothing changes, draw for draw. A chain that freezes
during sampling is still the health gate's ``frozen_chains`` check.

Chains of one superchain share a starting point, so that nested R-hat
(``diagnostics.nested_rhat``) can tell whether the ensemble forgot its starts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .approach import climb
from .fisher_metric import ensemble_fisher_diagonal
from .mams import MAMSInfo, MAMSState, build_kernel, init
from .mams_warmup import STEP_FLOOR
from .metrics import stan_shrinkage
from .step_size import LOG_08, DualAveraging, double_or_halve, dual_averaging_init, dual_averaging_update


class EnsembleState(NamedTuple):
    states: MAMSState  # batched over chains
    step_size: jax.Array
    inverse_metric: jax.Array
    trajectory_length: jax.Array
    dual_averaging: DualAveraging
    step_floor: jax.Array  # STEP_FLOOR x the eps dual averaging last (re)started from
    initial_step_size: jax.Array  # the heuristic's eps at the (climbed) starts


class EnsembleTrace(NamedTuple):
    """Per iteration: the mean over all chains of ``trace_fn(positions)`` and the
    gradient evaluations each chain spent on it (for the convergence of the ensemble's
    moments against gradients, ``diagnostics.ensemble_convergence``)."""

    moments: jax.Array  # (iterations, k)
    grads_per_chain: jax.Array  # (iterations,)


class Warmup(NamedTuple):
    """What ``run_warmup`` returns."""

    ensemble: EnsembleState
    grads: jax.Array  # gradient evaluations of the report chains
    accept: jax.Array  # (iterations,): the ensemble's mean acceptance
    trace: EnsembleTrace | None = None  # per iteration, with a ``trace_fn``
    restarted: jax.Array | None = None  # (2,): stuck chains restarted at the metric freeze, at the end


#: a chain whose recent acceptance is below this is stuck (``restart_stuck``): a ninth of the
#: usual target of 0.9 (no chain of the laps suite's twelve runs falls to it: their draws are unchanged)
STUCK_ACCEPTANCE = 0.1
#: iterations the recent acceptance averages over (the weight of its exponential average is 1 / this)
STUCK_WINDOW = 20


def recent_acceptance(previous, accept_prob):
    """The exponential average of each chain's acceptance probability over about
    ``STUCK_WINDOW`` iterations (non-finite probabilities count as 0)."""
    accept_prob = jnp.where(jnp.isfinite(accept_prob), accept_prob, 0.0)
    return previous + (accept_prob - previous) / STUCK_WINDOW


def restart_stuck(key, states: MAMSState, recent, superchain_size: int = 1):
    """Every chain whose ``recent`` acceptance is below ``STUCK_ACCEPTANCE`` takes the state
    of a moving chain: one of its own superchain's (consecutive rows) where one moves, else
    one of the whole ensemble's, drawn uniformly. Returns the states and how many chains
    were restarted; with no stuck chain, or no moving one, the states are returned as they
    were."""
    n_chains = recent.shape[0]
    stuck = recent < STUCK_ACCEPTANCE
    moving = ~stuck
    own_key, any_key = jax.random.split(key)
    # each chain's superchain members, and a uniform draw among the moving ones (the
    # largest of uniform scores, the others masked)
    first = (jnp.arange(n_chains) // superchain_size) * superchain_size
    members = first[:, None] + jnp.arange(superchain_size)[None, :]
    eligible = (members < n_chains) & moving[jnp.minimum(members, n_chains - 1)]
    scores = jnp.where(eligible, jax.random.uniform(own_key, members.shape), -1.0)
    own = jnp.take_along_axis(members, jnp.argmax(scores, axis=1)[:, None], axis=1)[:, 0]
    anywhere = jax.random.choice(any_key, n_chains, (n_chains,), p=moving / jnp.maximum(jnp.sum(moving), 1))
    source = jnp.where(jnp.any(eligible, axis=1), own, anywhere)
    restart = stuck & jnp.any(moving)
    restarted = jax.tree.map(lambda a: jnp.where(restart.reshape((-1,) + (1,) * (a.ndim - 1)), a[source], a), states)
    return restarted, jnp.sum(restart)


class Draws(NamedTuple):
    """What ``sample`` returns: the report chains' draws, shaped (draw, chain, ...)."""

    positions: jax.Array
    logdensity: jax.Array
    info: MAMSInfo
    trace: EnsembleTrace | None = None  # per draw, with a ``trace_fn``


def _trace(trace_fn: Callable | None, positions, n_grads):
    if trace_fn is None:
        return None
    return EnsembleTrace(jnp.mean(trace_fn(positions), axis=0), jnp.mean(n_grads.astype(positions.dtype)))


#: how the ensemble's metric is estimated: the chains' variance, the Fisher divergence
#: minimizer from their positions and the gradients they already hold (both diagonal), or
#: the chains' covariance (dense: MAMS integrates with its Cholesky factor)
METRIC_ESTIMATORS = ("variance", "fisher", "covariance")


def is_dense(estimator: str) -> bool:
    return estimator == "covariance"


def ensemble_metric(positions, grads=None, estimator: str = "variance"):
    """The inverse metric from the ensemble at one moment: Var_chains(x_i) (``variance``),
    sqrt(Var_chains(x_i) / Var_chains(g_i)) (``fisher``,
    ``fisher_metric.ensemble_fisher_diagonal``) or Cov_chains(x) (``covariance``, a dense
    matrix), each regularized towards 1e-3 as Stan regularizes a window's (co)variance. With
    thousands of chains a covariance of a hundred dimensions is well estimated at every
    iteration, which a single chain's window is not."""
    if estimator == "fisher":
        return ensemble_fisher_diagonal(positions, grads)
    n = positions.shape[0]
    if estimator == "covariance":
        return stan_shrinkage(n, jnp.cov(positions, rowvar=False))
    if estimator != "variance":
        raise ValueError(f"metric estimator {estimator!r}: expected one of {', '.join(METRIC_ESTIMATORS)}")
    return stan_shrinkage(n, jnp.var(positions, axis=0, ddof=1))


def lockstep(kernel: Callable):
    """The MAMS kernel over all chains at once: shared eps, L and M^-1, a key per chain."""
    return jax.vmap(kernel, in_axes=(0, 0, None, None, None, None))


#: integrator steps per draw that the ensemble tries when it picks L (at the step size then)
LENGTH_CANDIDATES = (1, 2, 3, 4, 6, 8, 12, 16)
#: lag-1 autocorrelations below this are read as this: one transition cannot vouch for more
#: than (1 - rho) / (1 + rho) = 3 effective draws per draw
RHO_FLOOR = -0.5


def ess_per_gradient(before, after, n_grads):
    """ESS per gradient of one lockstep transition, from the ensemble: for every coordinate
    x_i and its square, the lag-1 autocorrelation rho across chains (standardized with the
    ensemble's mean and spread before the move), read as an AR(1) process's
    (1 - rho) / (1 + rho) effective draws per draw; the worst observable, per gradient."""

    def standardized(values, reference):
        return (values - jnp.mean(reference, axis=0)) / jnp.maximum(jnp.std(reference, axis=0), 1e-30)

    z0, z1 = standardized(before, before), standardized(after, before)
    squares0, squares1 = standardized(z0 * z0, z0 * z0), standardized(z1 * z1, z0 * z0)
    rho = jnp.concatenate([jnp.mean(z0 * z1, axis=0), jnp.mean(squares0 * squares1, axis=0)])
    rho = jnp.clip(rho, RHO_FLOOR, 0.999)
    return jnp.min((1.0 - rho) / (1.0 + rho)) / jnp.mean(n_grads)


def choose_trajectory_length(key, kernel, states: MAMSState, step_size, inverse_metric, jitter):
    """L = n eps for the n in ``LENGTH_CANDIDATES`` whose one transition from the current
    ensemble gives the most ESS per gradient (``ess_per_gradient``). Returns L, the
    estimates per candidate and the gradients spent per chain."""
    n_chains = states.position.shape[0]
    candidates = jnp.asarray(LENGTH_CANDIDATES, step_size.dtype)

    def score(candidate):
        moved, info = kernel(
            jax.random.split(key, n_chains), states, step_size, candidate * step_size, inverse_metric, jitter
        )
        return ess_per_gradient(states.position, moved.position, info.n_grads)

    scores = jax.lax.map(score, candidates)
    return candidates[jnp.argmax(scores)] * step_size, scores, 2 * sum(LENGTH_CANDIDATES)


def climb_starts(logdensity_fn: Callable, positions, superchain_size: int = 1):
    """``approach.climb`` from every start; chains of one superchain share their start
    (consecutive rows), so each distinct start climbs once. Returns the climbed positions
    and the evaluations each chain's start spent."""
    starts = positions[::superchain_size]
    climbed, info = jax.vmap(lambda x: climb(logdensity_fn, x))(starts)
    return jnp.repeat(climbed, superchain_size, axis=0)[: positions.shape[0]], info


def ensemble_step_size(key, kernel, states: MAMSState, step_size, inverse_metric, grow: bool = True):
    """Stan's heuristic on the ensemble: eps doubled or halved (only halved with
    ``grow=False``) until the chains' mean acceptance of one integrator step (no jitter)
    crosses 0.8. Returns (eps, gradient evaluations per chain)."""
    n_chains = states.position.shape[0]

    def log_accept(key, eps):
        _, info = kernel(jax.random.split(key, n_chains), states, eps, eps, inverse_metric, 0.0)
        return jnp.log(jnp.mean(jnp.where(jnp.isfinite(info.accept_prob), info.accept_prob, 0.0)))

    eps, evaluations = double_or_halve(key, step_size, log_accept, LOG_08, max_iterations=200, grow=grow)
    return eps, 2 * evaluations


def run_warmup(
    key,
    positions,
    logdensity_fn: Callable,
    num_warmup: int,
    *,
    target_accept: float = 0.9,
    jitter: float = 0.1,
    kernel=None,
    report_chains: int | None = None,
    tune_length: bool = True,
    metric_estimator: str = "variance",
    trace_fn: Callable | None = None,
    superchain_size: int = 1,
    restart_stuck_chains: bool = True,
) -> Warmup:
    """Ensemble-tuned warmup from ``positions`` (chains, d). Returns (``Warmup``) the final
    ensemble state, the gradient evaluations spent by the first ``report_chains`` chains
    and the ensemble's mean acceptance per iteration; with ``trace_fn`` (chains, d) ->
    (chains, k) also an ``EnsembleTrace`` per iteration (the climb's and the heuristic's
    gradients count in the first iteration, the L choice's in the first iteration after it).
    ``superchain_size``: consecutive chains that share a start (they climb once).
    ``restart_stuck_chains``: ``restart_stuck`` at the metric freeze and at the end (off only
    to measure what it changes, ``benchmarks.laps_warmup``).

    First half: L = sqrt(d) in the preconditioned space, the metric from the ensemble
    after every iteration (``metric_estimator``, see ``ensemble_metric``), dual
    averaging of eps. Then the metric is frozen, dual
    averaging restarts from its averaged eps, and (``tune_length``) L is chosen by
    ``choose_trajectory_length``; the second half tunes eps for that L."""
    kernel = lockstep(kernel or build_kernel(logdensity_fn))
    n_chains, d = positions.shape
    report = report_chains or n_chains
    dtype = positions.dtype
    positions, approach = climb_starts(logdensity_fn, positions, superchain_size)
    states = jax.vmap(lambda x: init(x, logdensity_fn))(positions)
    length = jnp.asarray(math.sqrt(d), dtype)
    heuristic_key = jax.random.fold_in(key, 0x5EED)  # the warmup keeps its own stream
    four_steps = jnp.asarray(length / 4.0, dtype)
    unit = jnp.eye(d, dtype=dtype) if is_dense(metric_estimator) else jnp.ones(d, dtype)
    # one search over the superchains' shared starts; it only ever shortens the first step
    leaders = jax.tree.map(lambda a: a[::superchain_size], states)
    step, heuristic_grads = ensemble_step_size(heuristic_key, kernel, leaders, four_steps, unit, grow=False)
    step = jnp.minimum(four_steps, step.astype(dtype))
    # the climb and the search ran once per start, in lockstep: the slowest start's cost,
    # shared among the chains of its superchain
    n_starts = leaders.position.shape[0]
    setup_grads = (jnp.max(approach.n_evals) + heuristic_grads).astype(dtype) * (n_starts / n_chains)
    metric_iterations = num_warmup // 2

    def iterate(adapt_metric: bool):
        def one(carry: tuple[EnsembleState, jax.Array, jax.Array], key):
            ensemble, grads, recent = carry
            states, info = kernel(
                jax.random.split(key, n_chains),
                ensemble.states,
                ensemble.step_size,
                ensemble.trajectory_length,
                ensemble.inverse_metric,
                jitter,
            )
            accept = jnp.mean(jnp.where(jnp.isfinite(info.accept_prob), info.accept_prob, 0.0))
            da, step_size = dual_averaging_update(
                ensemble.dual_averaging, accept, delta=target_accept, floor=ensemble.step_floor
            )
            inverse_metric = (
                ensemble_metric(states.position, states.logdensity_grad, metric_estimator)
                if adapt_metric
                else ensemble.inverse_metric
            )
            grads = grads + jnp.sum(info.n_grads[:report]).astype(grads.dtype)
            return (
                (
                    ensemble._replace(
                        states=states, step_size=step_size, inverse_metric=inverse_metric, dual_averaging=da
                    ),
                    grads,
                    recent_acceptance(recent, info.accept_prob),
                ),
                (accept, _trace(trace_fn, states.position, info.n_grads)),
            )

        return one

    metric_key, length_key, step_key = jax.random.split(key, 3)
    ensemble = EnsembleState(states, step, unit, length, dual_averaging_init(step), STEP_FLOOR * step, step)
    # the restarts draw from their own stream: where no chain is stuck, nothing else changes
    freeze_restart_key, end_restart_key = jax.random.split(jax.random.fold_in(key, 0x57C4), 2)
    fresh = jnp.ones(n_chains, dtype)  # each phase starts every chain's recent acceptance at 1
    (ensemble, grads, recent), (accept_first, trace_first) = jax.lax.scan(
        iterate(True),
        (ensemble, jnp.round(setup_grads * report).astype(jnp.int32), fresh),
        jax.random.split(metric_key, metric_iterations),
    )
    spent = 0
    restarted_at_freeze = jnp.asarray(0)
    if metric_iterations > 0:  # freeze the metric; restart dual averaging from the averaged step size
        step = jnp.exp(ensemble.dual_averaging.x_bar)
        ensemble = ensemble._replace(
            step_size=step, dual_averaging=dual_averaging_init(step), step_floor=STEP_FLOOR * step
        )
        if restart_stuck_chains:
            states, restarted_at_freeze = restart_stuck(freeze_restart_key, ensemble.states, recent, superchain_size)
            ensemble = ensemble._replace(states=states)
    if tune_length:
        length, _, spent = choose_trajectory_length(
            length_key, kernel, ensemble.states, ensemble.step_size, ensemble.inverse_metric, jitter
        )
        ensemble = ensemble._replace(trajectory_length=length)
        grads = grads + spent * report
    (ensemble, grads, recent), (accept_second, trace_second) = jax.lax.scan(
        iterate(False), (ensemble, grads, fresh), jax.random.split(step_key, num_warmup - metric_iterations)
    )
    restarted_at_end = jnp.asarray(0)
    if restart_stuck_chains and num_warmup - metric_iterations > 0:
        states, restarted_at_end = restart_stuck(end_restart_key, ensemble.states, recent, superchain_size)
        ensemble = ensemble._replace(states=states)
    if num_warmup > 0:
        ensemble = ensemble._replace(step_size=jnp.exp(ensemble.dual_averaging.x_bar))
    accept = jnp.concatenate([accept_first, accept_second])
    restarted = jnp.stack([restarted_at_freeze, restarted_at_end])
    if trace_fn is None:
        return Warmup(ensemble, grads, accept, restarted=restarted)
    grads_first, grads_second = trace_first.grads_per_chain, trace_second.grads_per_chain
    if grads_first.shape[0] > 0:
        grads_first = grads_first.at[0].add(setup_grads)
    if grads_second.shape[0] > 0:
        grads_second = grads_second.at[0].add(spent)
    trace = EnsembleTrace(
        jnp.concatenate([trace_first.moments, trace_second.moments]), jnp.concatenate([grads_first, grads_second])
    )
    return Warmup(ensemble, grads, accept, trace, restarted)


def sample(
    key,
    ensemble: EnsembleState,
    logdensity_fn: Callable,
    num_draws: int,
    *,
    jitter: float = 0.1,
    kernel=None,
    report_chains: int,
    trace_fn: Callable | None = None,
) -> Draws:
    """``num_draws`` lockstep transitions of every chain; returns (``Draws``) the report
    chains' positions, log densities and transition info, shaped (draw, chain, ...), and
    with ``trace_fn`` also the ensemble's ``EnsembleTrace`` per draw."""
    kernel = lockstep(kernel or build_kernel(logdensity_fn))
    n_chains = ensemble.states.position.shape[0]

    def one(states, key):
        states, info = kernel(
            jax.random.split(key, n_chains),
            states,
            ensemble.step_size,
            ensemble.trajectory_length,
            ensemble.inverse_metric,
            jitter,
        )
        report = jax.tree.map(lambda a: a[:report_chains], (states.position, states.logdensity, info))
        return states, (report, _trace(trace_fn, states.position, info.n_grads))

    _, ((positions, logdensity, info), trace) = jax.lax.scan(one, ensemble.states, jax.random.split(key, num_draws))
    return Draws(positions, logdensity, info, trace)


__all__ = [
    "Draws",
    "EnsembleState",
    "EnsembleTrace",
    "LENGTH_CANDIDATES",
    "METRIC_ESTIMATORS",
    "MAMSInfo",
    "STUCK_ACCEPTANCE",
    "STUCK_WINDOW",
    "Warmup",
    "choose_trajectory_length",
    "climb_starts",
    "ensemble_metric",
    "ensemble_step_size",
    "ess_per_gradient",
    "lockstep",
    "recent_acceptance",
    "restart_stuck",
    "run_warmup",
    "sample",
]
