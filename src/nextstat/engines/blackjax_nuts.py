"""BlackJAX NUTS with its Stan-style window adaptation, as users run it.

Chains run one after another under the shared timing protocol (``run_chains``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult
from .contract import EngineSpec, library_versions
from .jax_common import chain_result, prepare_chains, run_chains, stack_chains, start_backend

NAME = "blackjax_nuts"


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    inits, keys = prepare_chains(NAME, case, settings, budget.chains, seed)
    import blackjax
    import jax
    import jax.numpy as jnp

    logdensity = case.log_density
    max_depth = settings["max_tree_depth"]

    adaptation = blackjax.window_adaptation(
        blackjax.nuts,
        logdensity,
        is_mass_matrix_diagonal=settings["metric"] == "diag",
        target_acceptance_rate=settings["target_accept"],
        max_num_doublings=max_depth,
    )

    def warmup(key, position):
        (state, parameters), info = adaptation.run(key, position, num_steps=budget.warmup)
        carry = (state, parameters["step_size"], parameters["inverse_mass_matrix"])
        return carry, jnp.sum(info.info.num_integration_steps)

    kernel = blackjax.nuts.build_kernel()

    def sample(key, state, step_size, inverse_mass_matrix):
        def one_draw(state, draw_key):
            state, info = kernel(
                draw_key, state, logdensity, step_size, inverse_mass_matrix, max_num_doublings=max_depth
            )
            return state, (
                state.position,
                info.num_integration_steps,
                info.is_divergent,
                info.energy,
                info.acceptance_rate,
                info.num_trajectory_expansions,
            )

        return jax.lax.scan(one_draw, state, jax.random.split(key, budget.draws))[1]

    runs = run_chains(warmup, sample, keys, inits)
    n_steps, divergent, energy, accept, depth = (  # output 0, the positions, is chain_result's
        stack_chains(runs.outputs, lambda out, i=i: out[i]) for i in range(1, 6)
    )
    step_sizes = [float(carry[1]) for carry in runs.carries]
    return chain_result(
        case,
        runs,
        sample_stats={
            "n_steps": n_steps.astype(int),
            "diverging": divergent.astype(bool),
            "energy": energy.astype(float),
            "acceptance_rate": accept.astype(float),
            "step_size": np.repeat(np.asarray(step_sizes)[:, None], budget.draws, axis=1),
            "tree_depth": depth.astype(int),
        },
        engine_info={
            "frontend": "blackjax",
            "adaptation": "blackjax.window_adaptation",
            "step_size_per_chain": step_sizes,
        },
    )


ENGINE = EngineSpec(
    name=NAME, run=run, versions=lambda: library_versions("blackjax", "jax"), start_backend=start_backend
)
