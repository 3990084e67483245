"""BlackJAX's MAMS as shipped (``adjusted_mclmc``), configured as in the published
many-chain comparison:

- the isokinetic McLachlan integrator;
- ``adjusted_mclmc_find_L_and_step_size`` on one chain, target acceptance 0.9, diagonal
  preconditioning, with its shipped defaults (which include
  ``target_num_integration_steps=2.0``, pinning L to about 2 eps: users get that), given
  the budget's warmup iterations;
- then all the budget's chains start at the tuned position plus N(0, 0.5^2) noise and
  run in lockstep under ``vmap`` with n_steps = round(L / step_size).

Diagnostics use the first ``report_chains`` chains, as for our LAPS, so ESS per
gradient is normalized the same way. Needs ``chain_method: vectorized``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult
from .contract import REPORT_CHAINS, EngineSpec, library_versions
from .jax_common import (SUPERCHAIN_SIZE, compile_ahead, configure_jax, draws_to_chains, fixed_steps_sample_stats,
                         initial_points, many_chain_report, moments_trace_fn, run_blocking, start_backend)

NAME = "blackjax_mams"
TUNE_FRACTIONS = (0.1, 0.1)  # BlackJAX's defaults for frac_tune1, frac_tune2
GRADS_PER_STEP = 2  # McLachlan: two gradient evaluations per step


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    report = many_chain_report(NAME, settings, budget.chains)
    configure_jax(settings["dtype"])
    import blackjax
    import jax
    import jax.numpy as jnp

    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    start = jnp.asarray(initial_points(case, seed, 1)[0], dtype=dtype)
    tune_key, noise_key, sample_key = jax.random.split(jax.random.key(seed), 3)
    logdensity = case.log_density
    trace_fn = moments_trace_fn(case)
    base_kernel = blackjax.adjusted_mclmc.build_kernel(integrator=blackjax.mcmc.integrators.isokinetic_mclachlan)

    def tuning_kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix, integration_steps_params):
        (average_steps,) = integration_steps_params
        steps = jnp.maximum(jnp.round(average_steps), 1).astype(jnp.int32)
        return base_kernel(rng_key, state, logdensity_fn, step_size, (steps,), inverse_mass_matrix)

    num_steps = max(1, round(budget.warmup / sum(TUNE_FRACTIONS)))  # so that tuning runs `warmup` iterations

    def tune(key, position):
        state = blackjax.adjusted_mclmc.init(position, logdensity)
        state, params, integrator_steps = blackjax.adjusted_mclmc_find_L_and_step_size(
            tuning_kernel, logdensity, num_steps, state, key, target=0.9, diagonal_preconditioning=True)
        return state.position, params.L, params.step_size, params.inverse_mass_matrix, integrator_steps

    def sampling(key, noise_key, position, length, step_size, inverse_mass_matrix):
        positions = position + 0.5 * jax.random.normal(noise_key, (budget.chains, position.shape[0]), position.dtype)
        states = jax.vmap(lambda x: blackjax.adjusted_mclmc.init(x, logdensity))(positions)
        steps = jnp.maximum(jnp.round(length / step_size), 1).astype(jnp.int32)

        def one(states, key):
            keys = jax.random.split(key, budget.chains)
            states, info = jax.vmap(lambda k, s: base_kernel(k, s, logdensity, step_size, (steps,),
                                                             inverse_mass_matrix))(keys, states)
            out = (states.position[:report], states.logdensity[:report], info.acceptance_rate[:report],
                   info.is_divergent[:report])
            moments = jnp.mean(trace_fn(states.position), axis=0) if trace_fn else None
            return states, (out, moments)

        return jax.lax.scan(one, states, jax.random.split(key, budget.draws))[1], steps

    compiled_tune, compile_tune_s = compile_ahead(tune, tune_key, start)
    (position, length, step_size, inverse_mass_matrix, tuning_steps), warmup_s = run_blocking(
        compiled_tune, tune_key, start)
    compiled_sampling, compile_sampling_s = compile_ahead(sampling, sample_key, noise_key, position, length, step_size,
                                                          inverse_mass_matrix)
    (((draws, lp, acceptance, divergent), moments), steps), sampling_s = run_blocking(
        compiled_sampling, sample_key, noise_key, position, length, step_size, inverse_mass_matrix)

    grads_per_draw = GRADS_PER_STEP * int(steps)
    ensemble_trace = None
    if trace_fn is not None:  # the ensemble exists from the first draw; the tuning chain's cost comes before it
        grads_per_chain = np.full(budget.draws, float(grads_per_draw))
        grads_per_chain[0] += GRADS_PER_STEP * int(tuning_steps)
        ensemble_trace = {"moments": np.asarray(moments), "grads_per_chain": grads_per_chain}
    return RunResult(
        draws=case.constrain(draws_to_chains(draws)),
        param_names=case.param_names,
        sample_stats=fixed_steps_sample_stats(lp, acceptance, divergent, grads_per_draw, float(step_size)),
        # the one tuning chain's gradients, counted for each report chain (they all start from it)
        grad_evals_warmup=GRADS_PER_STEP * int(tuning_steps) * report,
        grad_evals_sampling=grads_per_draw * report * budget.draws,
        compile_s=compile_tune_s + compile_sampling_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        ensemble_trace=ensemble_trace,
        report_chains=report,
        superchain_size=SUPERCHAIN_SIZE,
        engine_info={
            "frontend": "blackjax.adjusted_mclmc + adjusted_mclmc_find_L_and_step_size (shipped defaults)",
            "n_chains": budget.chains,
            "dtype": settings["dtype"],
            "step_size": float(step_size),
            "trajectory_length": float(length),
            "integration_steps": int(steps),
            "initialization": "one tuning chain from the shared U(-2, 2) point of chain 0, then every chain at "
                              "its tuned position + N(0, 0.5^2)",
            "tuning_num_steps_argument": num_steps,
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
    settings={"report_chains": REPORT_CHAINS},
    start_backend=start_backend,
)
