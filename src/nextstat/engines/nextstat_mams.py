"""Our MAMS (``nextstat.samplers.mams``) for a few chains on CPU, run as the harness runs
every engine: chains one after another under the shared timing protocol (``run_chains``).

``target_accept`` is MAMS's target acceptance (0.9 is the published choice; a suite
sets it per row); ``eps_jitter`` (default 0.1) jitters the step size per transition;
``adaptation`` is the metric's estimator, ``variance``, ``fisher`` (the Fisher
divergence's diagonal), ``fisher-lowrank`` (its low-rank-plus-diagonal form, a dense
preconditioner: ``samplers/mams_warmup.py``) or ``auto`` (the default: ``fisher-lowrank`` up to
``mams_warmup.AUTO_LOWRANK_MAX_DIM`` parameters, ``variance`` above; the artifact's
``engine_info.adaptation_used`` says which); ``length_rule`` how warmup sets the
trajectory length from its draws' ESS (``per-parameter`` by default; ``mean-ess`` is the
MAMS paper's tuner: shorter L, better on curved targets, worse on correlated posteriors
that a diagonal does not whiten: ``benchmarks.mams_length_rule``).
Its health gate is the microcanonical one: E-BFMI, computed from the potential energy
at the draws, is reported as a warning only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult
from .contract import EPS_JITTER, EngineSpec, NumberIn, Setting, library_versions
from .jax_common import chain_result, prepare_chains, run_chains, stack_chains, start_backend

NAME = "nextstat_mams"
#: adaptation -> what the artifact says its preconditioner is
METRIC_WORDS = {
    "variance": "diagonal (variance)",
    "fisher": "diagonal (Fisher-divergence sqrt(Var x / Var g))",
    "fisher-lowrank": "dense (the Fisher divergence's low-rank-plus-diagonal estimate, through its Cholesky factor)",
}
ADAPTATION_CHOICES = (*METRIC_WORDS, "auto")


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    inits, keys = prepare_chains(NAME, case, settings, budget.chains, seed)
    import jax
    import jax.numpy as jnp

    from ..samplers import mams_warmup
    from ..samplers.mams import build_kernel, random_trajectory_length

    jitter = float(settings["eps_jitter"])
    adaptation = settings["adaptation"]
    if adaptation == "auto":
        adaptation = mams_warmup.auto_adaptation(case.dim)
    random_length = settings["length_jitter"] == "uniform"
    kernel = build_kernel(case.log_density)

    def warmup(key, position):
        final, info = mams_warmup.run_warmup(
            key,
            position,
            case.log_density,
            budget.warmup,
            target_accept=settings["target_accept"],
            jitter=jitter,
            kernel=kernel,
            adaptation=adaptation,
            length_rule=settings["length_rule"],
            length_factor=float(settings["length_factor"]),
        )
        # the metric as the kernel takes it: warmup holds it factored (a dense one by its Cholesky factor)
        carry = (final.state, final.step_size, final.factor, final.trajectory_length)
        setup = (final.initial_step_size, final.approach.iterations, final.settle_rounds)
        return (carry, setup), jnp.sum(info.n_grads) + final.setup_grads

    def sample(key, carry, setup):
        return sample_from(key, *carry)

    def sample_from(key, state, step_size, metric, length):
        def one(state, draw_key):
            length_now = (
                random_trajectory_length(jax.random.fold_in(draw_key, 1), length, step_size)
                if random_length
                else length
            )
            state, info = kernel(draw_key, state, step_size, length_now, metric, jitter)
            return state, (state.position, state.logdensity, info)

        return jax.lax.scan(one, state, jax.random.split(key, budget.draws))[1]

    runs = run_chains(warmup, sample, keys, inits)
    info = lambda field: stack_chains(runs.outputs, lambda out: getattr(out[2], field))  # noqa: E731
    logdensity = stack_chains(runs.outputs, lambda out: out[1]).astype(float)
    step_sizes = [float(carry[0][1]) for carry in runs.carries]
    lengths = [float(carry[0][3]) for carry in runs.carries]
    initial_step_sizes = [float(carry[1][0]) for carry in runs.carries]
    return chain_result(
        case,
        runs,
        sample_stats={
            "lp": logdensity,
            "n_steps": info("n_grads").astype(int),  # gradient evaluations per draw
            "diverging": info("divergent").astype(bool),
            "energy": -logdensity,  # the potential: isokinetic dynamics has no Gaussian kinetic energy
            "acceptance_rate": info("accept_prob").astype(float),
            "accepted": info("accepted").astype(bool),  # what the Metropolis step did
            "distance": info("distance").astype(float),  # how far each transition moved
            "step_size": np.repeat(np.asarray(step_sizes)[:, None], budget.draws, axis=1),
        },
        engine_info={
            "frontend": "nextstat.samplers.mams",
            "integrator": "isokinetic minimal-norm (McLachlan), 2 gradients per step",
            "adaptation": "far starts climb to the typical set (line-searched gradient ascent while "
            "it gains > d + 4 sqrt(d) "
            "nats); Stan's step-size heuristic; dual averaging of eps to target_accept, floored at "
            f"1e-3 x its restart eps; {METRIC_WORDS[adaptation]} preconditioner"
            " from two windows (30-40%, then 40-60% of warmup in the first's space); L ="
            f" {float(settings['length_factor']):g} x path length per"
            f" effective sample over 60-80% of warmup; a chain whose {mams_warmup.SETTLE_PROBES} probe transitions"
            f" at the final eps accept under {mams_warmup.SETTLE_ACCEPT} on average resumes dual averaging for"
            f" {mams_warmup.SETTLE_FRACTION:.0%} more of warmup (at most {mams_warmup.SETTLE_ROUNDS} times)",
            "trajectory_length_per_chain": lengths,
            "step_size_per_chain": step_sizes,
            "initial_step_size_per_chain": initial_step_sizes,
            "climb_iterations_per_chain": [int(carry[1][1]) for carry in runs.carries],
            # how often the settle check at warmup's end resumed dual averaging (mams_warmup.settle)
            "settle_rounds_per_chain": [int(carry[1][2]) for carry in runs.carries],
            "adaptation_used": adaptation,
            "eps_jitter": jitter,
            "length_jitter": settings["length_jitter"],
            "length_rule": settings["length_rule"],
            "length_factor": float(settings["length_factor"]),
            "mean_acceptance": float(np.mean(info("accept_prob"))),
            "accepted_fraction": float(np.mean(info("accepted"))),
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
        "adaptation": Setting(
            "auto",
            ADAPTATION_CHOICES,
            "the window's metric estimator: `variance` is the tuning window's variance, `fisher` "
            "the diagonal minimizer of the Fisher divergence over that window, `fisher-lowrank` its "
            "low-rank-plus-diagonal form as a dense preconditioner (samplers/mams_warmup.metric_window); "
            "`auto` is `fisher-lowrank` up to 100 parameters and `variance` above (mams_warmup.auto_adaptation)",
            absent_means="variance",
        ),
        "length_rule": Setting(
            "per-parameter",
            ("per-parameter", "mean-ess"),
            "how warmup sets L from its draws: `per-parameter` averages path / ESS over parameters (MCLMC's "
            "tuner; the slowest parameter pulls L up); `mean-ess` is 0.4 x path per draw / (ESS per draw averaged "
            "over parameters), the MAMS paper's adjusted tuner (samplers/mams_warmup.length_from_draws)",
            absent_means="per-parameter",
        ),
        "length_factor": Setting(
            0.4,  # mams_warmup.LENGTH_FACTOR (not imported here: it would import JAX)
            NumberIn(0.05, 5.0),
            "L = this x the path length per effective sample of warmup's draws (0.4: MCLMC's and the MAMS "
            "paper's choice; samplers/mams_warmup.length_from_draws)",
            absent_means=0.4,
        ),
        "length_jitter": Setting(
            "none",
            ("none", "uniform"),
            "sampling's steps per transition: `none` is round(L/eps), `uniform` is uniform on "
            "1..2L/eps-1 with mean L/eps (samplers/mams.random_trajectory_length)",
        ),
    },
    start_backend=start_backend,
)
