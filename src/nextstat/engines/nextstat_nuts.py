"""Our NUTS (``nextstat.samplers.nuts``) with Stan's warmup, run as the harness runs every engine.

Chains run one after another, each its own tree (no lockstep). Warmup and sampling are
compiled once, ahead of time, and reused by every chain.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult, SettingsError
from .jax_common import chain_keys, compile_ahead, configure_jax, initial_points, run_blocking

NAME = "nextstat_nuts"


def versions() -> dict[str, str]:
    import jax

    from .. import __version__

    return {"nextstat": __version__ or "source", "jax": jax.__version__}


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    if settings["chain_method"] != "sequential":
        raise SettingsError(f"{NAME} runs chains sequentially on CPU; chain_method={settings['chain_method']!r} is not offered")
    configure_jax(settings["dtype"])
    import jax
    import jax.numpy as jnp

    from ..samplers.nuts import build_kernel
    from ..samplers.stan_warmup import run_warmup

    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    inits = jnp.asarray(initial_points(case, seed, budget.chains), dtype=dtype)
    keys = chain_keys(seed, budget.chains)
    kernel = build_kernel(case.log_density, max_tree_depth=settings["max_tree_depth"])

    def warmup(key, position):
        final, info = run_warmup(key, position, case.log_density, budget.warmup,
                                 target_accept=settings["target_accept"], dense=settings["metric"] == "dense",
                                 kernel=kernel)
        return final.state, final.step_size, final.inverse_metric, jnp.sum(info.n_leapfrog)

    def sample(key, state, step_size, inverse_metric):
        def one(state, draw_key):
            state, info = kernel(draw_key, state, step_size, inverse_metric)
            return state, (state.position, state.logdensity, info)

        return jax.lax.scan(one, state, jax.random.split(key, budget.draws))[1]

    warmup_keys, sample_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    compiled_warmup, compile_warmup_s = compile_ahead(warmup, warmup_keys[0], inits[0])
    compiled_sample, compile_sample_s = None, 0.0
    positions, log_densities, infos, step_sizes = [], [], [], []
    warmup_s = sampling_s = 0.0
    grad_warmup = 0
    for chain in range(budget.chains):
        (state, step_size, inverse_metric, steps), seconds = run_blocking(compiled_warmup, warmup_keys[chain], inits[chain])
        warmup_s += seconds
        grad_warmup += int(steps)
        if compiled_sample is None:
            compiled_sample, compile_sample_s = compile_ahead(sample, sample_keys[chain], state, step_size, inverse_metric)
        (chain_positions, chain_lp, info), seconds = run_blocking(compiled_sample, sample_keys[chain], state, step_size,
                                                                  inverse_metric)
        sampling_s += seconds
        positions.append(np.asarray(chain_positions))
        log_densities.append(np.asarray(chain_lp))
        infos.append(jax.tree.map(np.asarray, info))
        step_sizes.append(float(step_size))

    stack = lambda field: np.stack([getattr(i, field) for i in infos])  # noqa: E731
    n_steps = stack("n_leapfrog").astype(int)
    return RunResult(
        draws=case.constrain(np.stack(positions)),
        param_names=case.param_names,
        sample_stats={
            "lp": np.stack(log_densities).astype(float),
            "n_steps": n_steps,
            "diverging": stack("divergent").astype(bool),
            "energy": stack("energy").astype(float),
            "acceptance_rate": stack("accept_stat").astype(float),
            "step_size": np.repeat(np.asarray(step_sizes)[:, None], budget.draws, axis=1),
            "tree_depth": stack("tree_depth").astype(int),
        },
        grad_evals_warmup=grad_warmup,
        grad_evals_sampling=int(n_steps.sum()),
        compile_s=compile_warmup_s + compile_sample_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        engine_info={
            "frontend": "nextstat.samplers.nuts",
            "adaptation": "stan (windowed variance + dual averaging)",
            "top_level_join": "progressive",
            "step_size_per_chain": step_sizes,
            "compile_s_warmup": compile_warmup_s,
            "compile_s_sampling": compile_sample_s,
        },
    )
