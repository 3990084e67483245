"""NumPyro NUTS driven through its functional API with ``potential_fn = -log_density``.

``MCMC.run`` retraces on every call, so we jit NumPyro's own ``init_kernel`` and
``sample_kernel`` (under ``lax.scan``) once, compile them ahead of time, and time
execution apart from compilation. NumPyro adapts inside ``sample_kernel`` while the
iteration counter is below ``num_warmup``, so warmup and sampling are two scans.
"""

from __future__ import annotations

from typing import Any

from ..cases import Case
from .base import Budget, RunResult
from .contract import EngineSpec, library_versions
from .jax_common import chain_result, prepare_chains, run_chains, stack_chains, start_backend, tree_depth_from_steps

NAME = "numpyro_nuts"


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    inits, keys = prepare_chains(NAME, case, settings, budget.chains, seed, offers_vectorized=True)
    import jax
    import jax.numpy as jnp
    from numpyro.infer.hmc import hmc

    log_density = case.log_density
    init_kernel, sample_kernel = hmc(potential_fn=lambda x: -log_density(x), algo="NUTS")

    def init(key, position):  # NumPyro's own init, jitted with the warmup
        return init_kernel(
            position,
            num_warmup=budget.warmup,
            target_accept_prob=settings["target_accept"],
            max_tree_depth=settings["max_tree_depth"],
            dense_mass=settings["metric"] == "dense",
            rng_key=key,
        )

    def scan_kernel(state, length):
        def one(state, _):
            state = sample_kernel(state)
            stats = (
                state.num_steps,
                state.diverging,
                state.energy,
                state.accept_prob,
                state.adapt_state.step_size,
            )
            return state, (state.z, stats)

        return jax.lax.scan(one, state, None, length=length)

    def warmup(key, position):
        state, (_, stats) = scan_kernel(init(key, position), budget.warmup)
        return (state,), jnp.sum(stats[0])

    def sample(key, state):  # NumPyro's state carries its own random key
        return scan_kernel(state, budget.draws)[1]

    runs = run_chains(warmup, sample, keys, inits, vectorized=settings["chain_method"] == "vectorized")
    n_steps, divergent, energy, accept, step_size = (
        stack_chains(runs.outputs, lambda out, i=i: out[1][i]) for i in range(5)
    )
    return chain_result(
        case,
        runs,
        sample_stats={
            "n_steps": n_steps.astype(int),
            "diverging": divergent.astype(bool),
            "energy": energy.astype(float),
            "acceptance_rate": accept.astype(float),
            "step_size": step_size.astype(float),
            "tree_depth": tree_depth_from_steps(n_steps),
        },
        engine_info={
            "frontend": "numpyro.infer.hmc.hmc (functional API)",
            "adaptation": "numpyro windowed adaptation",
            "tree_depth": "derived from num_steps as ceil(log2(n + 1))",
            "step_size_per_chain": step_size[:, -1].tolist(),
        },
    )


ENGINE = EngineSpec(
    name=NAME, run=run, versions=lambda: library_versions("numpyro", "jax"), start_backend=start_backend
)
