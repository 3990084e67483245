"""BlackJAX NUTS with its Stan-style window adaptation, as users run it.

Chains run one after another (each chain its own tree: no lockstep under vmap).
Warmup and sampling are each compiled once, ahead of time, and reused by every chain,
so compile time is measured apart from execution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult, SettingsError
from .jax_common import chain_keys, compile_ahead, configure_jax, initial_points, run_blocking

NAME = "blackjax_nuts"


def versions() -> dict[str, str]:
    import blackjax
    import jax

    return {"blackjax": blackjax.__version__, "jax": jax.__version__}


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    if settings["chain_method"] != "sequential":
        raise SettingsError(f"{NAME} runs chains sequentially on CPU; chain_method={settings['chain_method']!r} is not offered")
    configure_jax(settings["dtype"])
    import blackjax
    import jax
    import jax.numpy as jnp

    logdensity = case.log_density
    max_depth = settings["max_tree_depth"]
    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    inits = jnp.asarray(initial_points(case, seed, budget.chains), dtype=dtype)
    keys = chain_keys(seed, budget.chains)

    adaptation = blackjax.window_adaptation(
        blackjax.nuts,
        logdensity,
        is_mass_matrix_diagonal=settings["metric"] == "diag",
        target_acceptance_rate=settings["target_accept"],
        max_num_doublings=max_depth,
    )

    def warmup(key, position):
        (state, parameters), info = adaptation.run(key, position, num_steps=budget.warmup)
        return state, parameters["step_size"], parameters["inverse_mass_matrix"], info.info.num_integration_steps

    kernel = blackjax.nuts.build_kernel()

    def sample(key, state, step_size, inverse_mass_matrix):
        def one_draw(state, draw_key):
            state, info = kernel(draw_key, state, logdensity, step_size, inverse_mass_matrix, max_num_doublings=max_depth)
            stats = (
                info.num_integration_steps,
                info.is_divergent,
                info.energy,
                info.acceptance_rate,
                info.num_trajectory_expansions,
            )
            return state, (state.position, stats)

        return jax.lax.scan(one_draw, state, jax.random.split(key, budget.draws))[1]

    warmup_keys, sample_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    compiled_warmup, compile_warmup_s = compile_ahead(warmup, warmup_keys[0], inits[0])

    positions, stats, warmup_steps = [], [], []
    warmup_s = sampling_s = 0.0
    compiled_sample = None
    compile_sample_s = 0.0
    step_sizes = []
    for chain in range(budget.chains):
        (state, step_size, imm, steps), seconds = run_blocking(compiled_warmup, warmup_keys[chain], inits[chain])
        warmup_s += seconds
        warmup_steps.append(int(np.sum(steps)))
        if compiled_sample is None:
            compiled_sample, compile_sample_s = compile_ahead(sample, sample_keys[chain], state, step_size, imm)
        (chain_positions, chain_stats), seconds = run_blocking(compiled_sample, sample_keys[chain], state, step_size, imm)
        sampling_s += seconds
        positions.append(np.asarray(chain_positions))
        stats.append([np.asarray(s) for s in chain_stats])
        step_sizes.append(float(step_size))

    n_steps, divergent, energy, accept, depth = (np.stack([s[i] for s in stats]) for i in range(5))
    draws = case.constrain(np.stack(positions))
    return RunResult(
        draws=draws,
        param_names=case.param_names,
        sample_stats={
            "n_steps": n_steps.astype(int),
            "diverging": divergent.astype(bool),
            "energy": energy.astype(float),
            "acceptance_rate": accept.astype(float),
            "step_size": np.repeat(np.asarray(step_sizes)[:, None], budget.draws, axis=1),
            "tree_depth": depth.astype(int),
        },
        grad_evals_warmup=int(sum(warmup_steps)),
        grad_evals_sampling=int(n_steps.sum()),
        compile_s=compile_warmup_s + compile_sample_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        engine_info={
            "frontend": "blackjax",
            "adaptation": "blackjax.window_adaptation",
            "step_size_per_chain": step_sizes,
            "compile_s_warmup": compile_warmup_s,
            "compile_s_sampling": compile_sample_s,
        },
    )
