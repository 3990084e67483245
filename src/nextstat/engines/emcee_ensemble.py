"""emcee 3's affine-invariant ensemble sampler (Foreman-Mackey et al. 2013), as its users
run it on a JAX model: ``EnsembleSampler`` with the default stretch move (a = 2) and
``vectorize=True``, its log probability the case's JAX density jitted and vmapped over the
walkers, so one XLA call evaluates every walker's proposal of a half-ensemble step.

- **Walkers** are emcee's chains: ``walkers`` of them (default 0: four per dimension, at
  least 16, even, above emcee's floor of twice the dimension), started from the shared
  U(-2, 2) points for the seed (the first ``budget.chains`` of them are every other engine's
  starts). ``budget.chains`` is not used.
- **Walkers diagnosed**: every walker, as a chain, while their kept draws fit in 2 GiB;
  past that (4,000 walkers of dimension 1,000 keep 32 GB) the first ``report_walkers`` of
  them (``report_walkers``: 0 for as many as fit), as our LAPS diagnoses its report chains.
  Every walker samples either way; emcee stores nothing (``store=False``) and the engine
  keeps the diagnosed walkers' positions step by step. ESS per evaluation counts the
  diagnosed walkers' evaluations; ESS/s sets their ESS against the whole ensemble's time,
  so with a subset it undercounts emcee by walkers / diagnosed: ``engine_info`` records both
  counts and emcee's own ESS of the whole ensemble (walkers x steps / tau).
- **Warmup** is burn-in: emcee has nothing to adapt, so the first ``budget.warmup`` steps
  are run and dropped (``sampler.reset()``), then ``budget.draws`` steps are kept.
- **Cost** is counted in density evaluations, one per walker per step, where nextstat counts
  gradients (emcee uses none): its "ESS per gradient" is ESS per density evaluation, and a
  gradient costs a small multiple of one (reverse mode: about two to four evaluations), so
  that ratio flatters it by that multiple against the gradient-based rows; ESS/s does not.
- **Its own statistics**: emcee's integrated autocorrelation time per unconstrained
  coordinate (``get_autocorr_time``, Sokal's window, ``quiet=True`` so that a short run
  warns instead of failing; emcee's authors ask for a run of 50 times it), from the
  diagnosed walkers by ``emcee.autocorr.integrated_time`` (what ``get_autocorr_time``
  calls), and the ESS it implies for every walker (walkers x draws / tau) are recorded
  beside arviz's ESS in ``engine_info``; the acceptance fraction of every walker (0.2 to 0.5
  as its authors advise) is in the health gate.
- Per draw: ``acceptance_rate`` is 1 where the walker moved (its log density changed: a stretch proposal never
  lands where it started), ``step_size`` the stretch scale a.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, EngineUnavailable, RunResult
from .contract import EngineSpec, NumberIn, Setting, library_versions
from .jax_common import compile_ahead

NAME = "emcee_ensemble"
STRETCH = 2.0  # emcee's default stretch move scale
WALKERS_PER_DIMENSION = 4
MIN_WALKERS = 16
#: the diagnosed walkers' draws are kept in memory up to this size (float64)
MAX_KEPT_BYTES = 2 * 2**30


def walker_count(requested: int, dim: int) -> int:
    """The walkers a run uses: ``requested``, or four per dimension (at least 16), made even
    (the stretch move updates two halves); never below emcee's floor of 2 x dim."""
    if requested != int(requested):
        raise EngineUnavailable(f"walkers={requested}: a whole number of walkers, please")
    count = int(requested) or max(MIN_WALKERS, WALKERS_PER_DIMENSION * dim)
    if count < 2 * dim:
        raise EngineUnavailable(f"walkers={count}: emcee needs at least twice the dimension ({2 * dim}) walkers")
    return count + count % 2


def diagnosed_walkers(requested: int, walkers: int, draws: int, dim: int) -> int:
    """How many walkers' draws are kept and diagnosed: ``requested`` (at most every walker),
    or with 0 every walker whose draws fit in MAX_KEPT_BYTES (at least two)."""
    if requested != int(requested):
        raise EngineUnavailable(f"report_walkers={requested}: a whole number of walkers, please")
    fitting = max(2, MAX_KEPT_BYTES // (8 * max(draws, 1) * dim))
    return min(walkers, int(requested) or fitting)


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    try:
        import emcee
    except ImportError as exc:
        raise EngineUnavailable(f"emcee is not installed: {exc}") from None
    import jax
    import jax.numpy as jnp

    from ..cases.start_points import start_points

    jax.config.update("jax_enable_x64", settings["dtype"] == "float64")
    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    walkers = walker_count(settings["walkers"], case.dim)
    batched = jax.vmap(case.log_density)
    programs, compile_s = {}, 0.0

    def log_prob(positions: np.ndarray) -> np.ndarray:
        nonlocal compile_s
        if len(positions) not in programs:  # each batch size compiled once, both of emcee's before the clocks
            programs[len(positions)], seconds = compile_ahead(batched, jnp.zeros(positions.shape, dtype))
            compile_s += seconds
        values = np.asarray(programs[len(positions)](jnp.asarray(positions, dtype)), dtype=float)
        return np.where(np.isfinite(values), values, -np.inf)

    starts = start_points(case, seed, walkers)
    start_log_prob = log_prob(starts)
    log_prob(starts[: walkers // 2])  # the stretch move's half-ensemble batch, compiled before its clock
    kept = diagnosed_walkers(settings["report_walkers"], walkers, budget.draws, case.dim)
    sampler = emcee.EnsembleSampler(
        walkers, case.dim, log_prob, moves=emcee.moves.StretchMove(a=STRETCH), vectorize=True
    )
    state = emcee.State(starts, log_prob=start_log_prob, random_state=np.random.RandomState(seed % 2**32).get_state())
    began = time.perf_counter()
    if budget.warmup:
        state = sampler.run_mcmc(state, budget.warmup, progress=False, store=False)
    warmup_s = time.perf_counter() - began
    chain = np.empty((budget.draws, kept, case.dim))
    log_density = np.empty((budget.draws, kept))
    moves = np.zeros(walkers)
    previous = np.array(state.log_prob)
    before = previous[:kept]
    began = time.perf_counter()
    for step, now in enumerate(sampler.sample(state, iterations=budget.draws, store=False)):
        # emcee updates its state in place: the diagnosed walkers are copied out, and a walker
        # moved where its log density changed (a stretch proposal never lands where it started)
        chain[step] = now.coords[:kept]
        log_density[step] = now.log_prob[:kept]
        moves += now.log_prob != previous
        previous = np.array(now.log_prob)
    sampling_s = time.perf_counter() - began

    tau = np.asarray(emcee.autocorr.integrated_time(chain, quiet=True), dtype=float)
    chain, log_density = np.swapaxes(chain, 0, 1), log_density.T  # (walker, draw, ...)
    moved = np.diff(log_density, axis=1, prepend=before[:, None]) != 0
    ones = np.ones(moved.shape, dtype=int)
    return RunResult(
        draws=case.constrain(chain),
        param_names=case.param_names,
        sample_stats={
            "lp": log_density,
            "n_steps": ones,
            "diverging": np.zeros(moved.shape, dtype=bool),
            "energy": -log_density,
            "acceptance_rate": moved.astype(float),
            "step_size": np.full(moved.shape, STRETCH),
        },
        grad_evals_warmup=kept * budget.warmup,
        grad_evals_sampling=int(ones.sum()),
        compile_s=compile_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        report_chains=kept,
        engine_info={
            "frontend": "emcee.EnsembleSampler (stretch move, vectorize=True, JAX log density jit + vmap)",
            "cost_unit": "density evaluations (no gradient), one per walker per step",
            "walkers": walkers,
            "walkers_diagnosed": kept,
            "stretch_a": STRETCH,
            "acceptance_fraction": float(np.mean(moves) / max(budget.draws, 1)),
            "autocorr_time_max": float(np.max(tau)),
            "autocorr_time": tau.tolist(),
            "emcee_ess_min": float(walkers * budget.draws / np.max(tau)),
            "draws_per_autocorr_time": float(budget.draws / np.max(tau)),
        },
    )


ENGINE = EngineSpec(
    name=NAME,
    run=run,
    versions=lambda: library_versions("emcee", "jax"),
    health_gate="ensemble",
    nuts=False,
    settings={
        "walkers": Setting(
            0, NumberIn(0, 1_000_000), "walkers (0: four per dimension, at least 16; at least twice the dimension)"
        ),
        "report_walkers": Setting(
            0,
            NumberIn(0, 1_000_000),
            "walkers whose draws are kept and diagnosed (0: every walker whose draws fit in 2 GiB)",
        ),
    },
    frontend_caveats={
        "emcee.EnsembleSampler (stretch move, vectorize=True, JAX log density jit + vmap)": (
            "emcee uses no gradient: its per-gradient figures are per density evaluation (a gradient costs about "
            "two to four), and its walkers, diagnosed as chains, are `walkers` of them, not the suite's chains (past "
            "2 GiB of draws only the first `walkers_diagnosed`, whose ESS its ESS/s sets against every walker's time)"
        )
    },
)
