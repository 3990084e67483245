"""Our NUTS (``nextstat.samplers.nuts``) with Stan's warmup (or nutpie's schedule), run as the
harness runs every engine.

Chains run one after another under the shared timing protocol (``run_chains``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult, SettingsError
from .contract import EngineSpec, Setting, library_versions
from .jax_common import chain_result, prepare_chains, run_chains, stack_chains, start_backend

NAME = "nextstat_nuts"
ADAPTATION_NOTES = {
    "stan": "stan (windowed variance + dual averaging)",
    "fisher": "fisher (diagonal Fisher-divergence metric from draws and gradients, Stan's windows + dual averaging)",
    "fisher-lowrank": "fisher-lowrank (low-rank + diagonal Fisher-divergence metric, Stan's windows + dual averaging)",
}
SCHEDULE_NOTES = {"stan": "Stan's windows", "nutpie": "nutpie's schedule"}


def warmup_schedule(settings: dict[str, Any]) -> str:
    """The schedule a run uses: ``auto`` is nutpie's for the Fisher estimators (measured
    ahead of Stan's windows for them on the posteriordb suite; README) and Stan's windows
    for Stan's variance, so that the default row stays Stan's warmup."""
    if settings["schedule"] != "auto":
        return settings["schedule"]
    return "nutpie" if settings["adaptation"] in ("fisher", "fisher-lowrank") else "stan"


def adaptation_note(settings: dict[str, Any]) -> str:
    """What the warmup did, for the artifact: the metric estimator on its schedule."""
    return ADAPTATION_NOTES[settings["adaptation"]].replace("Stan's windows", SCHEDULE_NOTES[warmup_schedule(settings)])


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    schedule = warmup_schedule(settings)
    if schedule == "nutpie" and settings["metric"] == "dense":
        raise SettingsError(
            f"{NAME}: schedule='nutpie' estimates a diagonal or low-rank metric; metric='dense' is not offered"
        )
    inits, keys = prepare_chains(NAME, case, settings, budget.chains, seed)
    import jax
    import jax.numpy as jnp

    from ..samplers.nutpie_warmup import run_nutpie_warmup
    from ..samplers.nuts import build_kernel
    from ..samplers.stan_warmup import run_warmup

    kernel = build_kernel(
        case.log_density, max_tree_depth=settings["max_tree_depth"], top_level_join=settings["top_level_join"]
    )

    # nutpie's schedule estimates a diagonal or low-rank metric only (a dense one is refused above)
    run_schedule = (
        run_nutpie_warmup
        if schedule == "nutpie"
        else functools.partial(run_warmup, dense=settings["metric"] == "dense")
    )

    def warmup(key, position):
        final, info = run_schedule(
            key,
            position,
            case.log_density,
            budget.warmup,
            target_accept=settings["target_accept"],
            kernel=kernel,
            adaptation=settings["adaptation"],
        )
        guards = (final.refused_estimates, final.skipped_draws)
        return (final.state, final.step_size, final.inverse_metric, guards), jnp.sum(info.n_leapfrog)

    def sample(key, state, step_size, inverse_metric, guards):
        def one(state, draw_key):
            state, info = kernel(draw_key, state, step_size, inverse_metric)
            return state, (state.position, state.logdensity, info)

        return jax.lax.scan(one, state, jax.random.split(key, budget.draws))[1]

    runs = run_chains(warmup, sample, keys, inits)
    info = lambda field: stack_chains(runs.outputs, lambda out: getattr(out[2], field))  # noqa: E731
    n_steps = info("n_leapfrog").astype(int)
    step_sizes = [float(carry[1]) for carry in runs.carries]
    return chain_result(
        case,
        runs,
        sample_stats={
            "lp": stack_chains(runs.outputs, lambda out: out[1]).astype(float),
            "n_steps": n_steps,
            "diverging": info("divergent").astype(bool),
            "energy": info("energy").astype(float),
            "acceptance_rate": info("accept_stat").astype(float),
            "step_size": np.repeat(np.asarray(step_sizes)[:, None], budget.draws, axis=1),
            "tree_depth": info("tree_depth").astype(int),
        },
        engine_info={
            "metric_estimates_refused_per_chain": [int(carry[3][0]) for carry in runs.carries],
            "warmup_draws_skipped_per_chain": [int(carry[3][1]) for carry in runs.carries],
            "frontend": "nextstat.samplers.nuts",
            "adaptation": adaptation_note(settings),
            "schedule": schedule,
            "top_level_join": settings["top_level_join"],
            "step_size_per_chain": step_sizes,
        },
    )


ENGINE = EngineSpec(
    name=NAME,
    run=run,
    versions=lambda: library_versions("jax", nextstat=True),
    ours=True,
    settings={
        # "multinomial" is a deliberately weaker variant (what the regression gate must catch), never a default
        "top_level_join": Setting("progressive", ("progressive", "multinomial"), "the top-level join of NUTS subtrees"),
        "adaptation": Setting(
            "stan",
            ("stan", "fisher", "fisher-lowrank"),
            "the warmup windows' metric estimator: `stan` is Stan's windowed variance; `fisher` and "
            "`fisher-lowrank` minimize the Fisher divergence from the warmup draws and their "
            "gradients (samplers/fisher_metric.py)",
        ),
        "schedule": Setting(
            "auto",
            ("auto", "stan", "nutpie"),
            "when the metric is estimated during warmup: `stan` is Stan's windows (buffers 75 / 50, doubling slow "
            "windows, one estimate at each window's end); `nutpie` re-estimates after every draw from a foreground "
            "estimate that a background one replaces every 10 (first 30%) or 80 draws, fixes the metric for the "
            "final 15%, and adapts the step size as nuts-rs does (samplers/nutpie_warmup.py); `auto` is `nutpie` "
            "for the Fisher adaptations and `stan` for Stan's",
        ),
    },
    start_backend=start_backend,
)
