"""BlackJAX's own LAPS (``blackjax.adaptation.laps.laps``, Robnik & Seljak) as shipped,
then sampling with the kernel it tuned.

``laps()`` is BlackJAX's many-chain adaptation: phase 1 is an unadjusted MCLMC burn-in
of every chain (step size from the energy-error variance, L and the diagonal metric
from the ensemble, early stop once the ensemble's fluctuations settle); phase 2 runs
adjusted MCLMC (McLachlan, 15 steps per sample, partial refresh with
``L_proposal_factor=1.25``) and bisects the step size to the target acceptance. It
returns the chains' final states only, one draw per chain, so draws for diagnostics
come from continuing that same kernel for the budget's draws. Arguments are the
library's defaults except those a budget sets:

- ``num_steps1`` = the budget's warmup iterations (unadjusted steps, one gradient each);
- ``num_steps2`` = 2 x warmup gradient calls of phase 2 (about warmup / 15 samples,
  enough for the bisection to settle);
- ``acc_prob`` = ``target_accept``; the suites set 0.7, BlackJAX's own choice below 200
  dimensions;
- ``superchain_size`` = 16, as for our LAPS, so nested R-hat reads the same (laps()'s
  default is 1, every chain its own start);
- ``early_stop`` and ``r_end`` (phase 1's stop once the ensemble's fluctuations fall
  below 0.01) as shipped, the values the sampling book uses.

The ``bisection`` setting picks phase 2's step-size bisection: ``shipped`` runs BlackJAX
1.7.1's, which keeps the step proposed one iteration after the acceptance met its
tolerance (a known defect, shown as its own row); ``fixed`` keeps the step that met it.

Two things ``laps()`` does not hand back are rebuilt from what it does: the step size
is where phase 2's bisection ends, replayed with BlackJAX's own update over the history
in its diagnostics (``bisected_step_size``), and the diagonal inverse metric is the
ensemble variance of the final positions, the estimator phase 1 ends with, taken one
phase later.

``laps()`` runs eagerly (it reads ``.item()`` between phases), so it cannot be compiled
ahead; its compile time is what JAX's monitoring events report during the call
(tracing, lowering and backend compiles), and the warmup time is the rest.

Starts: BlackJAX draws each superchain's start through ``sample_init(key)``; we make
that U(-2, 2) on the unconstrained space, the distribution every engine starts from
(the points themselves differ from the other engines').

Ensemble convergence (``RunResult.ensemble_trace``): ``laps()``'s own bias hook
(``observables_for_bias``) also drives its phase-1 early stop, so it is left as shipped;
the trace reads every chain's constrained parameters and their squares through
``all_chains_info``, which BlackJAX stores for all chains at every step without touching
the adaptation (it costs memory, steps x chains x 2p numbers, and a little warmup time).

Compatibility: with JAX 0.10, ``shard_map``'s replication check rejects the scalar
outputs of BlackJAX 1.7.1's ``run_eca``; the call runs with ``check_vma=False``, the
workaround JAX's error names. The computation is unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any

import numpy as np

from ..cases import Case
from ..cases.start_points import INIT_RADIUS
from .base import Budget, RunResult
from .contract import REPORT_CHAINS, EngineSpec, Setting, library_versions
from .jax_common import (
    SUPERCHAIN_SIZE,
    compile_ahead,
    configure_jax,
    lockstep_draws,
    lockstep_result,
    many_chain_report,
    moments_trace_fn,
    run_blocking,
    start_backend,
)

NAME = "blackjax_laps"
STEPS_PER_SAMPLE = 15  # laps()'s default
L_PROPOSAL_FACTOR = 1.25  # what laps() builds its phase-2 kernel with
GRADS_PER_STEP = 2  # McLachlan: two gradient evaluations per step
PHASE2_GRADIENTS_PER_WARMUP = 2

_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds: list[float] = []
_listening = False


def _on_duration(event: str, duration: float, **_: Any) -> None:
    if event in _COMPILE_EVENTS:
        _compile_seconds.append(duration)


@contextlib.contextmanager
def compile_clock():
    """Seconds JAX spends tracing, lowering and compiling inside the block (one listener
    per process, registered on first use). Yields a function reading the running total."""
    global _listening
    import jax

    if not _listening:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        _listening = True
    start = len(_compile_seconds)
    yield lambda: float(sum(_compile_seconds[start:]))


@contextlib.contextmanager
def _shard_map_without_replication_check():
    import blackjax.eca
    import jax

    shipped = blackjax.eca.shard_map
    blackjax.eca.shard_map = functools.partial(jax.shard_map, check_vma=False)
    try:
        yield
    finally:
        blackjax.eca.shard_map = shipped


def _bisection_meeting_tolerance(acc_prob_wanted, reduce_shift=None, tolerance=0.03):
    """BlackJAX 1.7.1's ``bisection_monotonic_fn`` with one change: once an iteration's
    acceptance is within ``tolerance`` of the target, the step size that iteration used
    is kept. The shipped update decides whether to stop one iteration late, so it keeps
    the step it proposed *after* the good one. Same state, bounds and signature."""
    import jax
    import jax.numpy as jnp
    from blackjax.adaptation.step_size import bisection_monotonic_fn

    shipped = bisection_monotonic_fn(
        acc_prob_wanted, **({} if reduce_shift is None else {"reduce_shift": reduce_shift}), tolerance=tolerance
    )

    def update(state, exp_x, acc_rate_new):
        (bounds_new, terminated_new), proposed = shipped(state, exp_x, acc_rate_new)
        return (bounds_new, terminated_new), jax.lax.select(
            terminated_new, jnp.asarray(exp_x, proposed.dtype), proposed
        )

    return update


BISECTIONS = {"shipped": None, "fixed": _bisection_meeting_tolerance}


@contextlib.contextmanager
def _bisection(variant: str):
    """laps() with the shipped step-size bisection, or with the one that keeps the step
    meeting the tolerance (patched into ``blackjax.adaptation.laps`` for the call)."""
    import blackjax.adaptation.laps as laps_module

    shipped = laps_module.bisection_monotonic_fn
    if BISECTIONS[variant] is not None:
        laps_module.bisection_monotonic_fn = BISECTIONS[variant]
    try:
        yield
    finally:
        laps_module.bisection_monotonic_fn = shipped


def bisected_step_size(phase2: dict, acc_prob: float, variant: str) -> tuple[float, bool]:
    """The step size phase 2's bisection ends with, replayed with the update laps() ran
    (``variant``) over the (step size, ensemble acceptance) history laps() reports; and
    whether the bisection had stopped (an acceptance within its tolerance of the target).

    BlackJAX 1.7.1's shipped ``bisection_monotonic_fn`` freezes the step size that it
    computes *after* the iteration that met the tolerance, not the one that met it, so the
    frozen step can be far off target (eight schools, seed 123: 0.701 at eps 2.05, then
    eps 4.10 frozen at acceptance 0.06). That is what laps() samples with as shipped, so
    it is what the ``shipped`` variant uses; ``fixed`` keeps the step that met it."""
    import jax.numpy as jnp
    from blackjax.adaptation.step_size import bisection_monotonic_fn

    update = (BISECTIONS[variant] or bisection_monotonic_fn)(acc_prob)
    state = (jnp.array([-jnp.inf, jnp.inf]), False)
    step = None
    for used, acceptance in zip(np.asarray(phase2["step_size"]), np.asarray(phase2["acc_prob"])):
        state, step = update(state, jnp.asarray(used), jnp.asarray(acceptance))
    assert step is not None, "the caller refuses a run without adjusted samples"
    return float(step), bool(state[1])


def _laps_defaults(*names: str) -> dict[str, Any]:
    """laps()'s own defaults for the arguments we leave to it, as recorded facts."""
    import inspect

    from blackjax.adaptation.laps import laps

    parameters = inspect.signature(laps).parameters
    return {name: parameters[name].default for name in names}


def _chain_mesh(n_chains: int):
    """All devices of the default backend when the chains split evenly over them, else one."""
    import jax

    devices = jax.devices()
    if n_chains % len(devices):
        devices = devices[:1]
    return jax.sharding.Mesh(np.array(devices), ("chains",))


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    report = many_chain_report(NAME, settings, budget.chains)
    configure_jax(settings["dtype"])
    import blackjax
    import jax
    import jax.numpy as jnp
    from blackjax.adaptation.laps import laps

    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    laps_key, sample_key = jax.random.split(jax.random.key(seed))
    mesh = _chain_mesh(budget.chains)

    def sample_init(key):
        return jax.random.uniform(key, (case.dim,), dtype, minval=-INIT_RADIUS, maxval=INIT_RADIUS)

    num_steps2 = PHASE2_GRADIENTS_PER_WARMUP * budget.warmup
    trace_fn = moments_trace_fn(case)
    per_chain_trace = (lambda position: trace_fn(position[None])[0]) if trace_fn else None
    started = time.perf_counter()
    with compile_clock() as compile_seconds, _shard_map_without_replication_check(), _bisection(settings["bisection"]):
        info, grads_per_step, acc_prob, final_state = laps(
            case.log_density,
            sample_init,
            case.dim,
            budget.warmup,
            num_steps2,
            budget.chains,
            mesh,
            laps_key,
            acc_prob=settings["target_accept"],
            steps_per_sample=STEPS_PER_SAMPLE,
            superchain_size=SUPERCHAIN_SIZE,
            diagnostics=True,
            all_chains_info=per_chain_trace,
        )
        final_state = jax.block_until_ready(final_state)
        compile_laps_s = compile_seconds()
    warmup_s = time.perf_counter() - started - compile_laps_s

    phase1_steps = int(len(info["phase_1"]["step_size"]))
    phase2_samples = int(len(info["phase_2"]["step_size"]))
    if phase2_samples == 0:
        raise RuntimeError(
            f"blackjax laps() ran no adjusted samples: warmup {budget.warmup} gives "
            f"num_steps2={num_steps2} < {grads_per_step * STEPS_PER_SAMPLE} gradients per sample"
        )
    bisected_step, bisection_done = bisected_step_size(info["phase_2"], float(acc_prob), settings["bisection"])
    step_size = jnp.asarray(bisected_step, dtype)
    positions = final_state.position
    inverse_mass_matrix = jnp.var(positions, axis=0)
    kernel = blackjax.adjusted_mclmc.build_kernel(integrator=blackjax.mcmc.integrators.isokinetic_mclachlan)

    def sampling(key, states, step_size, inverse_mass_matrix):
        def advance(keys, states):
            return jax.vmap(
                lambda k, s: kernel(
                    k, s, case.log_density, step_size, (STEPS_PER_SAMPLE,), inverse_mass_matrix, L_PROPOSAL_FACTOR
                )
            )(keys, states)

        return lockstep_draws(advance, states, key, budget.chains, budget.draws, report, trace_fn)

    compiled, compile_sampling_s = compile_ahead(sampling, sample_key, final_state, step_size, inverse_mass_matrix)
    ((draws, lp, acceptance, divergent), moments), sampling_s = run_blocking(
        compiled, sample_key, final_state, step_size, inverse_mass_matrix
    )

    grads_per_draw = int(grads_per_step) * STEPS_PER_SAMPLE
    # per chain: one gradient at initialization, one per unadjusted step, a sample's worth per adjusted sample
    warmup_grads_per_chain = 1 + phase1_steps + phase2_samples * grads_per_draw
    ensemble_trace = None
    if trace_fn is not None:
        phases = [np.asarray(info[phase]["all_chains_info"]).mean(axis=1) for phase in ("phase_1", "phase_2")]
        grads = [
            np.ones(phase1_steps),
            np.full(phase2_samples, float(grads_per_draw)),
            np.full(budget.draws, float(grads_per_draw)),
        ]
        grads[0][0] += 1  # the gradient at initialization
        ensemble_trace = {
            "moments": np.concatenate([*phases, np.asarray(moments)]),
            "grads_per_chain": np.concatenate(grads),
        }
    return lockstep_result(
        case,
        (draws, lp, acceptance, divergent),
        grads_per_draw,
        float(step_size),
        report,
        grad_evals_warmup=warmup_grads_per_chain * report,
        grad_evals_sampling=grads_per_draw * report * budget.draws,
        compile_s=compile_laps_s + compile_sampling_s,
        warmup_s=warmup_s,
        sampling_s=sampling_s,
        ensemble_trace=ensemble_trace,
        engine_info={
            "frontend": "blackjax.adaptation.laps.laps (shipped defaults) + adjusted_mclmc with its tuned kernel",
            "n_chains": budget.chains,
            "dtype": settings["dtype"],
            "devices": int(mesh.devices.size),
            "step_size": float(step_size),
            "steps_per_sample": STEPS_PER_SAMPLE,
            "trajectory_length": float(step_size) * STEPS_PER_SAMPLE,
            "acc_prob": float(acc_prob),
            "num_steps1": budget.warmup,
            "num_steps2": num_steps2,
            "phase1_steps_run": phase1_steps,
            "phase2_samples": phase2_samples,
            "phase2_last_acceptance": float(info["phase_2"]["acc_prob"][-1]),
            "phase2_bisection_stopped": bisection_done,
            "bisection": settings["bisection"],
            **_laps_defaults("early_stop", "r_end"),
            "initialization": "U(-2, 2) per superchain, drawn by BlackJAX's initialize through sample_init",
            "compile_s_warmup": compile_laps_s,
            "compile_s_sampling": compile_sampling_s,
        },
    )


ENGINE = EngineSpec(
    name=NAME,
    run=run,
    versions=lambda: library_versions("blackjax", "jax"),
    health_gate="microcanonical",
    nuts=False,
    settings={
        "report_chains": REPORT_CHAINS,
        "bisection": Setting(
            "shipped",
            tuple(BISECTIONS),
            "phase 2's step-size bisection: shipped (BlackJAX 1.7.1, keeps the step proposed after "
            "the tolerance was met) or fixed (keeps the step that met it)",
        ),
    },
    start_backend=start_backend,
)
