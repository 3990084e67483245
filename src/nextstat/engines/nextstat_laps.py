"""Our LAPS (``nextstat.samplers.laps``): the budget's chains (4096 is the normal
operating point) in lockstep under ``vmap``, tuned from the ensemble, on CPU or on a GPU
unchanged. Diagnostics use a fixed number of report chains (``report_chains``, 256 by
default), so ESS per gradient counts the report chains' gradients only and is
comparable with every other engine; nested R-hat uses superchains of 16 chains that
share a start.

Needs ``chain_method: vectorized`` (the chains are one batch, not one after another).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult
from .contract import EPS_JITTER, REPORT_CHAINS, EngineSpec, Setting, library_versions
from .jax_common import (
    SUPERCHAIN_SIZE,
    compile_ahead,
    configure_jax,
    draws_to_chains,
    initial_points,
    many_chain_report,
    moments_trace_fn,
    run_blocking,
    start_backend,
)

NAME = "nextstat_laps"


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    report = many_chain_report(NAME, settings, budget.chains)
    configure_jax(settings["dtype"])
    import jax
    import jax.numpy as jnp

    from ..samplers import laps
    from ..samplers.mams import build_kernel

    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    starts = initial_points(case, seed, budget.chains // SUPERCHAIN_SIZE)
    positions = jnp.asarray(np.repeat(starts, SUPERCHAIN_SIZE, axis=0), dtype=dtype)  # superchains share a start
    warmup_key, sample_key = jax.random.split(jax.random.key(seed))
    jitter = float(settings["eps_jitter"])
    kernel = build_kernel(case.log_density)
    trace_fn = moments_trace_fn(case)

    def warmup(key, positions):
        return laps.run_warmup(
            key,
            positions,
            case.log_density,
            budget.warmup,
            target_accept=settings["target_accept"],
            jitter=jitter,
            kernel=kernel,
            report_chains=report,
            metric_estimator=settings["adaptation"],
            trace_fn=trace_fn,
            superchain_size=SUPERCHAIN_SIZE,
        )

    def sampling(key, ensemble):
        return laps.sample(
            key,
            ensemble,
            case.log_density,
            budget.draws,
            jitter=jitter,
            kernel=kernel,
            report_chains=report,
            trace_fn=trace_fn,
        )

    compiled_warmup, compile_warmup_s = compile_ahead(warmup, warmup_key, positions)
    tuned, warmup_s = run_blocking(compiled_warmup, warmup_key, positions)
    ensemble = tuned.ensemble
    compiled_sampling, compile_sampling_s = compile_ahead(sampling, sample_key, ensemble)
    sampled, sampling_s = run_blocking(compiled_sampling, sample_key, ensemble)
    draws, logdensity, info = sampled.positions, sampled.logdensity, sampled.info
    ensemble_trace = None
    if trace_fn is not None:
        ensemble_trace = {
            "moments": np.concatenate([np.asarray(tuned.trace.moments), np.asarray(sampled.trace.moments)]),
            "grads_per_chain": np.concatenate(
                [np.asarray(tuned.trace.grads_per_chain), np.asarray(sampled.trace.grads_per_chain)]
            ),
        }

    logdensity = draws_to_chains(logdensity).astype(float)
    n_grads = draws_to_chains(info.n_grads).astype(int)
    step_size = float(ensemble.step_size)
    return RunResult(
        draws=case.constrain(draws_to_chains(draws)),
        param_names=case.param_names,
        sample_stats={
            "lp": logdensity,
            "n_steps": n_grads,
            "diverging": draws_to_chains(info.divergent).astype(bool),
            "energy": -logdensity,
            "acceptance_rate": draws_to_chains(info.accept_prob).astype(float),
            "accepted": draws_to_chains(info.accepted).astype(bool),
            "distance": draws_to_chains(info.distance).astype(float),
            "step_size": np.full(logdensity.shape, step_size),
        },
        grad_evals_warmup=int(tuned.grads),
        grad_evals_sampling=int(n_grads.sum()),
        compile_s=compile_warmup_s + compile_sampling_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        ensemble_trace=ensemble_trace,
        report_chains=report,
        superchain_size=SUPERCHAIN_SIZE,
        engine_info={
            "frontend": "nextstat.samplers.laps",
            "n_chains": budget.chains,
            "dtype": settings["dtype"],
            "step_size": step_size,
            "initial_step_size": float(ensemble.initial_step_size),
            "trajectory_length": float(ensemble.trajectory_length),
            "eps_jitter": jitter,
            "gradients_all_chains_sampling": int(n_grads.sum()) * budget.chains // report,
            "compile_s_warmup": compile_warmup_s,
            "compile_s_sampling": compile_sampling_s,
            "integration_steps": int(max(1, round(float(ensemble.trajectory_length) / step_size))),
            "metric_estimator": settings["adaptation"],
            "stuck_chains_restarted": {
                "at_metric_freeze": int(tuned.restarted[0]),
                "at_end_of_warmup": int(tuned.restarted[1]),
            },
            "adaptation": "far starts climb to the typical set (line-searched gradient ascent while "
            "it gains > d + 4 sqrt(d) "
            "nats) and Stan's step-size heuristic (halving only), both once per superchain on its shared "
            "start, their gradients shared among its chains; "
            "ensemble: Var_chains metric (first half of warmup), dual averaging of the mean "
            "acceptance (floored at 1e-3 x its restart eps), L = sqrt(d) in the preconditioned space "
            "then, at the metric freeze, the "
            "steps per draw with the most lag-1 ESS per gradient over x and x^2 across the chains; at the metric "
            "freeze and at the end of warmup, chains whose recent acceptance is below 0.1 take the state of a "
            "moving chain of their superchain (laps.restart_stuck)",
        },
    )


ENGINE = EngineSpec(
    name=NAME,
    run=run,
    versions=lambda: library_versions("jax", nextstat=True),
    health_gate="microcanonical",
    nuts=False,
    ours=True,
    settings={
        "eps_jitter": EPS_JITTER,
        "report_chains": REPORT_CHAINS,
        "adaptation": Setting(
            "variance",
            ("variance", "fisher", "covariance"),
            "the ensemble's metric estimator: `variance` is the chains' variance, `fisher` the "
            "diagonal minimizer of the Fisher divergence across the chains at every warmup step, "
            "`covariance` the chains' covariance as a dense preconditioner (samplers/laps.ensemble_metric)",
        ),
    },
    start_backend=start_backend,
)
