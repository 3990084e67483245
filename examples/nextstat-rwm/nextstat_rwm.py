"""Adaptive random-walk Metropolis in JAX: a sampler from outside nextstat, under its contract.

The proposal is x' = x + s * sqrt(v) * z, z ~ N(0, I), where v is a diagonal scale and s a
global one. During warmup v follows the running variance of the chain's own draws (from
the second half of warmup's first quarter on) and log s follows a Robbins-Monro step
towards the acceptance 0.234 (Roberts, Gelman and Gilks 1997); both are fixed for
sampling. It uses no gradient: its cost is one density evaluation per draw, counted
where nextstat counts gradients, so its ESS per "gradient" is ESS per density
evaluation (a gradient costs a small multiple of one).

Everything nextstat reads is the ``EngineSpec`` below: ``run(case, settings, budget,
seed) -> RunResult`` with constrained draws (chain, draw, parameter), the per-draw
statistics every engine reports, evaluation counts and seconds. The chains start from
nextstat's shared U(-2, 2) points for the seed, as every engine's do.
"""

from __future__ import annotations

import time

import numpy as np

from nextstat.engines import Budget, EngineSpec, RunResult
from nextstat.engines.contract import library_versions

NAME = "rwm_metropolis"
TARGET = 0.234


def _chain(log_density, dim: int, warmup: int, draws: int):
    import jax
    import jax.numpy as jnp

    def step(carry, inputs):
        x, lp, log_s, scale, n, mean, m2 = carry
        key, adapting, gain = inputs
        proposal_key, accept_key = jax.random.split(key)
        proposal = x + jnp.exp(log_s) * jnp.sqrt(scale) * jax.random.normal(proposal_key, (dim,), x.dtype)
        proposal_lp = log_density(proposal)
        proposal_lp = jnp.where(jnp.isfinite(proposal_lp), proposal_lp, -jnp.inf)
        accept_prob = jnp.minimum(1.0, jnp.exp(proposal_lp - lp))
        accepted = jax.random.uniform(accept_key, (), x.dtype) < accept_prob
        x = jnp.where(accepted, proposal, x)
        lp = jnp.where(accepted, proposal_lp, lp)
        log_s = jnp.where(adapting, log_s + gain * (accept_prob - TARGET), log_s)
        n1 = n + adapting
        delta = jnp.where(adapting, x - mean, 0.0)
        mean = mean + delta / jnp.maximum(n1, 1.0)
        m2 = m2 + delta * (x - mean)
        estimated = (n1 >= 20) & adapting
        scale = jnp.where(estimated, (m2 / jnp.maximum(n1 - 1.0, 1.0) + 1e-8) * 2.38**2 / dim, scale)
        return (x, lp, log_s, scale, n1, mean, m2), (x, accept_prob, lp, jnp.exp(log_s))

    @jax.jit
    def run(key, x0):
        total = warmup + draws
        adapting = jnp.arange(total) < warmup
        gains = 1.0 / jnp.sqrt(1.0 + jnp.arange(total))
        zeros = jnp.zeros(dim, x0.dtype)
        carry = (x0, log_density(x0), jnp.log(jnp.asarray(0.1, x0.dtype)), jnp.ones(dim, x0.dtype), 0.0, zeros, zeros)
        _, trace = jax.lax.scan(step, carry, (jax.random.split(key, total), adapting, gains))
        return jax.tree.map(lambda a: a[warmup:], trace)

    return run


def run(case, settings, budget: Budget, seed: int) -> RunResult:
    import jax
    import jax.numpy as jnp

    from nextstat.cases.start_points import start_points

    jax.config.update("jax_enable_x64", settings["dtype"] == "float64")
    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    starts = jnp.asarray(start_points(case, seed, budget.chains), dtype)
    keys = jax.random.split(jax.random.key(seed), budget.chains)
    sampler = _chain(case.log_density, case.dim, budget.warmup, budget.draws)
    began = time.perf_counter()
    sampler.lower(keys[0], starts[0]).compile()
    compile_s = time.perf_counter() - began
    began = time.perf_counter()
    traces = [jax.block_until_ready(sampler(keys[c], starts[c])) for c in range(budget.chains)]
    elapsed = time.perf_counter() - began
    share = budget.warmup / max(budget.warmup + budget.draws, 1)
    positions, accept, lp, step = (np.stack([np.asarray(t[i]) for t in traces]) for i in range(4))
    ones = np.ones(accept.shape, dtype=int)
    return RunResult(
        draws=case.constrain(positions),
        param_names=case.param_names,
        sample_stats={
            "lp": lp.astype(float),
            "n_steps": ones,
            "diverging": np.zeros(accept.shape, dtype=bool),
            "energy": -lp.astype(float),
            "acceptance_rate": accept.astype(float),
            "step_size": step.astype(float),
        },
        grad_evals_warmup=budget.chains * budget.warmup,
        grad_evals_sampling=int(ones.sum()),
        compile_s=compile_s,
        warmup_s=elapsed * share,  # one scan runs both: split by iterations
        sampling_s=elapsed * (1 - share),
        engine_info={
            "frontend": "nextstat_rwm (adaptive random-walk Metropolis, JAX)",
            "cost_unit": "density evaluations (no gradient)",
            "target_acceptance": TARGET,
            "step_size_per_chain": step[:, -1].astype(float).tolist(),
        },
    )


ENGINE = EngineSpec(
    name=NAME,
    run=run,
    versions=lambda: library_versions("jax", nextstat=True),
    health_gate="microcanonical",  # its E-BFMI (no momentum) is a warning only, as for MAMS
    nuts=False,
)
