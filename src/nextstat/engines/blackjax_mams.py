"""BlackJAX's MAMS (adjusted MCLMC) on many chains in lockstep, in two configurations
chosen by the ``kernel`` setting:

- ``dynamic`` (default): as BlackJAX's authors recommend it. Every chain is tuned by
  ``adjusted_mclmc_find_L_and_step_size`` (target acceptance 0.9, diagonal
  preconditioning, the shipped defaults, given the budget's warmup iterations; ``vmap``
  over chains) from the superchain starts our LAPS uses, then samples with the dynamic
  kernel (``adjusted_mclmc_dynamic``): each iteration's number of integration steps is
  ``ceil(U * rescale(L / eps))``, mean L / eps, BlackJAX's
  ``make_random_trajectory_length_fn(True)``. All chains share the uniform draw U (their
  random generator argument starts equal and advances the same way), so they stay in
  lockstep; each chain keeps its own tuned step size and metric.
- ``static``: the configuration of the published many-chain comparison. One chain is
  tuned; every chain then starts at the tuned position plus N(0, 0.5^2) and runs the
  static kernel with a fixed ``round(L / eps)`` steps. With the tuner's pin of L to about
  2 eps (``target_num_integration_steps=2.0``) the fixed length makes chains near-periodic:
  bulk ESS above the number of draws while tail ESS lags.

Both use the isokinetic McLachlan integrator (two gradients per step) and count every
gradient spent: the tuner's integrator steps (per chain in ``dynamic``, the one chain's
counted for every report chain in ``static``) and each sampling iteration's steps.

Ensemble convergence: in ``dynamic`` every chain is tuned, so the ensemble exists from the
first tuning iteration and its trace starts there. The tuner does not expose its
iterations, so after the timed run the tuning is replayed, untimed, with the same keys and
a kernel that records every chain's position per iteration (one host callback for all
chains); the timed run has no callback in it. In ``static`` the ensemble only exists after
the one-chain tuning, whose gradients are counted before its first draw.
Diagnostics use the first ``report_chains`` chains. Needs ``chain_method: vectorized``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult
from .contract import REPORT_CHAINS, EngineSpec, Setting, library_versions
from .jax_common import (
    SUPERCHAIN_SIZE,
    compile_ahead,
    configure_jax,
    initial_points,
    lockstep_draws,
    lockstep_result,
    many_chain_report,
    moments_trace_fn,
    run_blocking,
    start_backend,
)

NAME = "blackjax_mams"
TUNE_FRACTIONS = (0.1, 0.1)  # BlackJAX's defaults for frac_tune1, frac_tune2
GRADS_PER_STEP = 2  # McLachlan: two gradient evaluations per step
STATIC_START_NOISE = 0.5


def tuning_steps(average_steps):
    """The integrator steps the tuner's fixed-length kernel takes for its ``L / eps``."""
    import jax.numpy as jnp

    return jnp.maximum(jnp.round(average_steps), 1).astype(jnp.int32)


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    report = many_chain_report(NAME, settings, budget.chains)
    configure_jax(settings["dtype"])
    import blackjax
    import jax.numpy as jnp

    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    logdensity = case.log_density
    static_kernel = blackjax.adjusted_mclmc.build_kernel(integrator=blackjax.mcmc.integrators.isokinetic_mclachlan)

    def tuning_kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix, integration_steps_params):
        (average_steps,) = integration_steps_params
        return static_kernel(
            rng_key, state, logdensity_fn, step_size, (tuning_steps(average_steps),), inverse_mass_matrix
        )

    num_steps = max(1, round(budget.warmup / sum(TUNE_FRACTIONS)))  # so that tuning runs `warmup` iterations

    def tuner(kernel):
        def tune(key, position):
            state = blackjax.adjusted_mclmc.init(position, logdensity)
            state, params, integrator_steps = blackjax.adjusted_mclmc_find_L_and_step_size(
                kernel,
                logdensity,
                num_steps,
                state,
                key,
                target=settings["target_accept"],
                diagonal_preconditioning=True,
            )
            return state.position, params.L, params.step_size, params.inverse_mass_matrix, integrator_steps

        return tune

    tune = tuner(tuning_kernel)
    if settings["kernel"] == "dynamic":
        traced_tune = None
        trace_fn = moments_trace_fn(case)
        if trace_fn is not None:
            traced_tune = lambda recorder: tuner(_recording_kernel(tuning_kernel, trace_fn, recorder))  # noqa: E731
        result = _dynamic(case, settings, budget, seed, report, dtype, tune, traced_tune)
    else:
        result = _static(case, settings, budget, seed, report, dtype, tune, static_kernel)
    result.engine_info["tuning_num_steps_argument"] = num_steps
    result.engine_info["tuning_target_num_integration_steps"] = _l_pin()
    return result


def _l_pin() -> float:
    """The tuner's pin of L / eps (its ``target_num_integration_steps`` default)."""
    import inspect

    import blackjax

    tuner = inspect.signature(blackjax.adjusted_mclmc_find_L_and_step_size)
    return float(tuner.parameters["target_num_integration_steps"].default)


class _TuningRecorder:
    """Host-side record of the ensemble during a replay of BlackJAX's tuning: per tuning
    iteration, the mean over all chains of each traced value and the most integrator
    steps any chain took."""

    def __init__(self) -> None:
        self.moments: list[np.ndarray] = []
        self.steps: list[float] = []

    def __call__(self, values, steps):  # batched over chains: (chains, 2p), (chains,)
        values, steps = np.asarray(values), np.asarray(steps)
        self.moments.append(values.reshape(-1, values.shape[-1]).mean(axis=0))
        self.steps.append(float(steps.max()))
        return np.zeros(steps.shape, values.dtype)


def _recording_kernel(kernel, trace_fn, recorder: _TuningRecorder):
    """``kernel`` for BlackJAX's tuner that also hands every chain's traced position to
    ``recorder`` once per iteration, all chains in one call (``pure_callback`` batched by
    ``vmap``). The callback's zero is added to the position so that it is not pruned and
    runs in order; the position is unchanged."""
    import jax

    def recording(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix, integration_steps_params):
        state, info = kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix, integration_steps_params)
        (average_steps,) = integration_steps_params
        steps = tuning_steps(average_steps).astype(state.position.dtype)
        values = trace_fn(state.position[None])[0]
        zero = jax.pure_callback(
            recorder, jax.ShapeDtypeStruct((), state.position.dtype), values, steps, vmap_method="expand_dims"
        )
        return state._replace(position=state.position + zero), info

    return recording


def _tuning_trace(traced_tune, key, positions, n_chains: int, counted_steps: float, tuned_step_size):
    """Replay the tuning with the same keys and a recording kernel, untimed, and return its
    ensemble trace: moments per tuning iteration and the gradients each chain spent on it,
    and how far the replay's tuned step sizes are from the timed run's (relative; 0 when
    the replay retraced the same iterations). Steps the tuner counted but no kernel call
    recorded go to the last iteration, so the trace's total is the tuner's own count."""
    import jax

    recorder = _TuningRecorder()
    tune = traced_tune(recorder)
    replayed = jax.block_until_ready(
        jax.jit(lambda k, x: jax.vmap(tune)(jax.random.split(k, n_chains), x))(key, positions)
    )
    step_size = np.asarray(tuned_step_size, dtype=float)
    mismatch = float(np.max(np.abs(np.asarray(replayed[2], dtype=float) - step_size) / step_size))
    grads = GRADS_PER_STEP * np.asarray(recorder.steps, dtype=float)
    if len(grads):
        grads[-1] += max(0.0, GRADS_PER_STEP * counted_steps - grads.sum())
    return np.asarray(recorder.moments), grads, mismatch


def _dynamic(case, settings, budget, seed, report, dtype, tune, traced_tune) -> RunResult:
    import blackjax
    import jax
    import jax.numpy as jnp
    from blackjax.mcmc import adjusted_mclmc_dynamic

    logdensity = case.log_density
    trace_fn = moments_trace_fn(case)
    starts = initial_points(case, seed, budget.chains // SUPERCHAIN_SIZE)
    positions = jnp.asarray(np.repeat(starts, SUPERCHAIN_SIZE, axis=0), dtype=dtype)  # superchains share a start
    tune_key, length_key, sample_key = jax.random.split(jax.random.key(seed), 3)
    kernel = adjusted_mclmc_dynamic.build_kernel(
        integration_steps_fn=adjusted_mclmc_dynamic.make_random_trajectory_length_fn(True),
        integrator=blackjax.mcmc.integrators.isokinetic_mclachlan,
    )

    def tune_all(key, positions):
        return jax.vmap(tune)(jax.random.split(key, budget.chains), positions)

    def sampling(key, length_key, positions, length, step_size, inverse_mass_matrix):
        states = jax.vmap(lambda x: adjusted_mclmc_dynamic.init(x, logdensity, length_key))(positions)
        average_steps = length / step_size

        def advance(keys, states):
            return jax.vmap(lambda k, s, eps, imm, avg: kernel(k, s, logdensity, eps, jnp.inf, imm, (avg,)))(
                keys, states, step_size, inverse_mass_matrix, average_steps
            )

        return lockstep_draws(
            advance,
            states,
            key,
            budget.chains,
            budget.draws,
            report,
            trace_fn,
            extra=lambda info: (info.num_integration_steps,),
        )

    starting_positions = positions
    compiled_tune, compile_tune_s = compile_ahead(tune_all, tune_key, positions)
    (positions, length, step_size, inverse_mass_matrix, tuning_steps), warmup_s = run_blocking(
        compiled_tune, tune_key, positions
    )
    compiled_sampling, compile_sampling_s = compile_ahead(
        sampling, sample_key, length_key, positions, length, step_size, inverse_mass_matrix
    )
    ((draws, lp, acceptance, divergent, steps), moments), sampling_s = run_blocking(
        compiled_sampling, sample_key, length_key, positions, length, step_size, inverse_mass_matrix
    )

    steps = np.asarray(steps)  # (draw, report chain)
    tuning_steps = np.asarray(tuning_steps)
    shared = bool(np.all(steps == steps[:, :1]))
    ensemble_trace, replay_mismatch = None, None
    if trace_fn is not None:  # every chain is tuned, so the ensemble is traced from its start
        tuning_moments, tuning_grads, replay_mismatch = _tuning_trace(
            traced_tune, tune_key, starting_positions, budget.chains, float(tuning_steps.max()), step_size
        )
        ensemble_trace = {
            "moments": np.concatenate([tuning_moments.reshape(-1, np.asarray(moments).shape[1]), np.asarray(moments)]),
            "grads_per_chain": np.concatenate([tuning_grads, GRADS_PER_STEP * steps.max(axis=1).astype(float)]),
        }
    step_size = np.asarray(step_size)
    average_steps = np.asarray(length) / step_size
    return lockstep_result(
        case,
        (draws, lp, acceptance, divergent),
        GRADS_PER_STEP * steps,
        step_size[:report],
        report,
        grad_evals_warmup=GRADS_PER_STEP * int(tuning_steps[:report].sum()),
        grad_evals_sampling=GRADS_PER_STEP * int(steps.sum()),
        compile_s=compile_tune_s + compile_sampling_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        ensemble_trace=ensemble_trace,
        engine_info={
            "frontend": "blackjax.adjusted_mclmc_dynamic (random trajectory length) + "
            "adjusted_mclmc_find_L_and_step_size on every chain (shipped defaults)",
            "kernel": "dynamic",
            "n_chains": budget.chains,
            "dtype": settings["dtype"],
            "step_size": float(np.median(step_size)),
            "step_size_range": [float(step_size.min()), float(step_size.max())],
            "trajectory_length": float(np.median(np.asarray(length))),
            "average_integration_steps": float(np.median(average_steps)),
            "integration_steps_per_draw_mean": float(steps.mean()),
            "integration_steps_shared_by_chains": shared,
            "initialization": f"U(-2, 2) per superchain of {SUPERCHAIN_SIZE} chains (the starts nextstat_laps "
            "uses); every chain tuned from its start",
            "tuning_integrator_steps_median": float(np.median(tuning_steps)),
            "tuning_trace": "the tuning replayed untimed with the same keys, recording the ensemble per iteration"
            if trace_fn is not None
            else None,
            "tuning_replay_step_size_max_rel_diff": replay_mismatch,
            "compile_s_warmup": compile_tune_s,
            "compile_s_sampling": compile_sampling_s,
        },
    )


def _static(case, settings, budget, seed, report, dtype, tune, static_kernel) -> RunResult:
    import jax
    import jax.numpy as jnp
    from blackjax.mcmc.adjusted_mclmc import init as blackjax_init

    logdensity = case.log_density
    trace_fn = moments_trace_fn(case)
    start = jnp.asarray(initial_points(case, seed, 1)[0], dtype=dtype)
    tune_key, noise_key, sample_key = jax.random.split(jax.random.key(seed), 3)

    def sampling(key, noise_key, position, length, step_size, inverse_mass_matrix):
        positions = position + STATIC_START_NOISE * jax.random.normal(
            noise_key, (budget.chains, position.shape[0]), position.dtype
        )
        states = jax.vmap(lambda x: blackjax_init(x, logdensity))(positions)
        steps = jnp.maximum(jnp.round(length / step_size), 1).astype(jnp.int32)

        def advance(keys, states):
            return jax.vmap(lambda k, s: static_kernel(k, s, logdensity, step_size, (steps,), inverse_mass_matrix))(
                keys, states
            )

        return lockstep_draws(advance, states, key, budget.chains, budget.draws, report, trace_fn), steps

    compiled_tune, compile_tune_s = compile_ahead(tune, tune_key, start)
    (position, length, step_size, inverse_mass_matrix, tuning_steps), warmup_s = run_blocking(
        compiled_tune, tune_key, start
    )
    compiled_sampling, compile_sampling_s = compile_ahead(
        sampling, sample_key, noise_key, position, length, step_size, inverse_mass_matrix
    )
    (((draws, lp, acceptance, divergent), moments), steps), sampling_s = run_blocking(
        compiled_sampling, sample_key, noise_key, position, length, step_size, inverse_mass_matrix
    )

    grads_per_draw = GRADS_PER_STEP * int(steps)
    ensemble_trace = None
    if trace_fn is not None:  # the ensemble exists from the first draw; the tuning chain's cost comes before it
        grads_per_chain = np.full(budget.draws, float(grads_per_draw))
        grads_per_chain[0] += GRADS_PER_STEP * int(tuning_steps)
        ensemble_trace = {"moments": np.asarray(moments), "grads_per_chain": grads_per_chain}
    return lockstep_result(
        case,
        (draws, lp, acceptance, divergent),
        grads_per_draw,
        float(step_size),
        report,
        # the one tuning chain's gradients, counted for each report chain (they all start from it)
        grad_evals_warmup=GRADS_PER_STEP * int(tuning_steps) * report,
        grad_evals_sampling=grads_per_draw * report * budget.draws,
        compile_s=compile_tune_s + compile_sampling_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        ensemble_trace=ensemble_trace,
        engine_info={
            "frontend": "blackjax.adjusted_mclmc + adjusted_mclmc_find_L_and_step_size (shipped defaults)",
            "kernel": "static",
            "n_chains": budget.chains,
            "dtype": settings["dtype"],
            "step_size": float(step_size),
            "trajectory_length": float(length),
            "integration_steps": int(steps),
            "initialization": "one tuning chain from the shared U(-2, 2) point of chain 0, then every chain at "
            f"its tuned position + N(0, {STATIC_START_NOISE}^2)",
            "tuning_integrator_steps": int(tuning_steps),
            "compile_s_warmup": compile_tune_s,
            "compile_s_sampling": compile_sampling_s,
        },
    )


ENGINE = EngineSpec(
    name=NAME,
    run=run,
    versions=lambda: library_versions("blackjax", "jax"),
    health_gate="microcanonical",
    nuts=False,
    settings={
        "report_chains": REPORT_CHAINS,
        "kernel": Setting(
            "dynamic",
            ("dynamic", "static"),
            "dynamic: every chain tuned, random steps per iteration (BlackJAX's recommendation); "
            "static: one tuning chain, fixed round(L/eps) steps (the published comparison)",
            absent_means="static",
        ),
    },
    start_backend=start_backend,
)
