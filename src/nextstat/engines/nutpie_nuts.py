"""nutpie (the Rust NUTS behind PyMC's fast path) sampling the case's JAX log density.

nutpie takes a Python density through ``nutpie.compiled_pyfunc.from_pyfunc``: its Rust
sampler calls ``logp(x) -> (value, gradient)`` for every leapfrog step and an expand
function for every draw it stores. Here ``logp`` is ``jax.value_and_grad`` of the
case's density, compiled ahead in float64 (``compile_s``), and the expand function is
the case's ``constrain``, so the draws come back constrained, one array per draw.

With ``cores=1`` nutpie runs the chains one after another in one thread and asks for
each chain's start point before its first gradient; it is handed the shared U(-2, 2)
points in chain order. Every call into Python goes through ``_Callbacks``, which counts
the gradients, clocks each phase and checks afterwards that nutpie's chain ``c`` is the
``c``-th chain it started.

Timing: nutpie's Rust code calls the JAX gradient through Python, so its wall time
measures that callback as much as the algorithm. The callback's own seconds (inside the
JAX call) and the expand seconds are recorded per phase beside the rest, the sampler's
share (Rust, plus crossing into Python and back). Warmup and sampling seconds are clock
reads in the callbacks: a chain's warmup runs from its start-point request to its last
warmup draw stored, its sampling from there to its last draw; summed over chains.

Gradients: nutpie's per-draw ``n_steps`` count the leapfrog steps of each trajectory.
nutpie also evaluates the density at each start point and searches for a step size
(doubling or halving from 0.1, one leapfrog step per try) at the start and again early
in warmup, after its first mass-matrix update; those gradients are no draw's, so they
are counted by the callback and added to warmup's.

Version: this reads the ``InferenceData`` that nutpie 0.16.8 returns (what pip resolves
for Python 3.11). nutpie 0.16.11 needs Python 3.12 and returns an ``xarray.DataTree``;
that path is untested here, so such a result fails the run with the reason.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, RunResult, SettingsError
from .contract import EngineSpec, Setting, library_versions
from .jax_common import compile_ahead, prepare_chains, start_backend

NAME = "nutpie_nuts"
FRONTEND = "nutpie.compiled_pyfunc.from_pyfunc (JAX value_and_grad callback)"
PHASES = ("warmup", "sampling")

#: our ``adaptation`` names -> the arguments of ``nutpie.sample`` that select them
ADAPTATION_ARGUMENTS = {
    "fisher": {"use_grad_based_mass_matrix": True},
    "stan": {"use_grad_based_mass_matrix": False},
    "fisher-lowrank": {"low_rank_modified_mass_matrix": True},
}
ADAPTATION_NOTES = {
    "fisher": "nutpie's default: diagonal mass matrix from the variances of draws and gradients (Fisher divergence), "
    "updated on nutpie's own schedule, dual-averaged step size",
    "stan": "nutpie's diagonal mass matrix from the variance of draws only, updated on nutpie's own schedule "
    "(not Stan's windows), dual-averaged step size",
    "fisher-lowrank": "nutpie's low-rank modified mass matrix from draws and gradients (Fisher divergence), "
    "updated on nutpie's own schedule, dual-averaged step size",
}


def check_settings(settings: dict[str, Any], budget: Budget) -> None:
    if settings["dtype"] != "float64":
        raise SettingsError(f"nutpie integrates in float64; dtype={settings['dtype']!r} is not offered")
    if settings["metric"] != "diag":
        raise SettingsError(
            f"nutpie adapts a diagonal mass matrix (adaptation 'fisher' or 'stan') or a low-rank one "
            f"('fisher-lowrank'); metric={settings['metric']!r} is not offered"
        )
    if budget.warmup < 1:
        raise SettingsError("nutpie needs at least one warmup draw (its adaptation schedule asserts it)")


class _Callbacks:
    """nutpie's calls into Python during one ``nutpie.sample``, counted and clocked.

    Relies on ``cores=1``: the chains run one after another, each asking for its start
    point first, and each draw (warmup's included) passes through ``expand`` once."""

    def __init__(self, value_and_grad, constrain, starts: np.ndarray, warmup: int):
        self._value_and_grad = value_and_grad
        self._constrain = constrain
        self._starts = starts
        self._warmup = warmup
        self.gradients = dict.fromkeys(PHASES, 0)
        self.callback_s = dict.fromkeys(PHASES, 0.0)
        self.expand_s = dict.fromkeys(PHASES, 0.0)
        self.phase_s = dict.fromkeys(PHASES, 0.0)
        self.draws: list[list[np.ndarray]] = []  # per chain started: its constrained draws, in order
        self._mark = 0.0

    @property
    def _phase(self) -> str:
        return "warmup" if len(self.draws[-1]) < self._warmup else "sampling"

    def start_point(self, _seed) -> np.ndarray:
        chain = len(self.draws)
        if chain == len(self._starts):
            raise RuntimeError(
                f"nutpie asked for start point {chain + 1} of {len(self._starts)} chains "
                "(a start point it rejected, or chains not run one after another)"
            )
        self.draws.append([])
        self._mark = time.perf_counter()
        return self._starts[chain]

    def logp(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        value, grad = self._value_and_grad(x)
        out = float(value), np.asarray(grad, dtype=np.float64)
        phase = self._phase
        self.callback_s[phase] += time.perf_counter() - start
        self.gradients[phase] += 1
        return out

    def expand(self, x: np.ndarray) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        phase = self._phase  # the draw being stored
        draw = np.ascontiguousarray(self._constrain(x), dtype=np.float64)
        self.draws[-1].append(draw)
        now = time.perf_counter()
        self.expand_s[phase] += now - start
        self.phase_s[phase] += now - self._mark
        self._mark = now
        return {"params": draw}


def nutpie_arguments(settings: dict[str, Any], budget: Budget, seed: int) -> dict[str, Any]:
    """What ``nutpie.sample`` is called with, on either frontend."""
    return {
        "chains": budget.chains,
        "tune": budget.warmup,
        "draws": budget.draws,
        "seed": seed,
        "cores": 1,
        "target_accept": settings["target_accept"],
        "maxdepth": settings["max_tree_depth"],
        "save_warmup": True,
        "progress_bar": False,
        **ADAPTATION_ARGUMENTS[settings["adaptation"]],
    }


def run(case: Case, settings: dict[str, Any], budget: Budget, seed: int) -> RunResult:
    check_settings(settings, budget)
    if settings["frontend"] == "native":
        from .nutpie_native import run_native

        result = run_native(case, settings, budget, seed, nutpie_arguments(settings, budget, seed))
        result.engine_info["adaptation"] = ADAPTATION_NOTES[settings["adaptation"]]
        return result
    inits, _ = prepare_chains(NAME, case, settings, budget.chains, seed)
    import jax
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    value_and_grad, compile_s = compile_ahead(jax.value_and_grad(case.log_density), inits[0])
    starts = np.ascontiguousarray(inits, dtype=np.float64)
    calls = _Callbacks(value_and_grad, case.constrain, starts, budget.warmup)
    model = from_pyfunc(
        case.dim,
        lambda: calls.logp,
        lambda seed1, seed2, chain: calls.expand,
        [np.dtype("float64")],
        [(len(case.param_names),)],
        ["params"],
        make_initial_point_fn=calls.start_point,
    )
    arguments = nutpie_arguments(settings, budget, seed)
    start = time.perf_counter()
    trace = nutpie.sample(model, **arguments)
    frontend_wall_s = time.perf_counter() - start

    draws = _draws_in_start_order(trace, calls, budget)
    stats, warmup_stats = trace.sample_stats, trace.warmup_sample_stats
    n_steps = stats["n_steps"].values.astype(int)
    n_steps_warmup = int(warmup_stats["n_steps"].values.sum())
    gradients = sum(calls.gradients.values())
    grad_evals_sampling = int(n_steps.sum())
    own_s = {phase: calls.phase_s[phase] - calls.callback_s[phase] - calls.expand_s[phase] for phase in PHASES}
    return RunResult(
        draws=draws,
        param_names=case.param_names,
        sample_stats=nutpie_sample_stats(stats),
        grad_evals_warmup=gradients - grad_evals_sampling,
        grad_evals_sampling=grad_evals_sampling,
        compile_s=compile_s,
        warmup_s=calls.phase_s["warmup"],
        sampling_s=calls.phase_s["sampling"],
        engine_info={
            "frontend": FRONTEND,
            "adaptation": ADAPTATION_NOTES[settings["adaptation"]],
            "nutpie_arguments": arguments,
            "step_size_per_chain": stats["step_size_bar"].values[:, -1].astype(float).tolist(),
            "gradients_counted": dict(calls.gradients),
            "n_steps_sum": {"warmup": n_steps_warmup, "sampling": grad_evals_sampling},
            "gradients_outside_draws": gradients - n_steps_warmup - grad_evals_sampling,
            "callback_s": dict(calls.callback_s),
            "callback_us_per_grad": 1e6 * sum(calls.callback_s.values()) / max(gradients, 1),
            "expand_s": dict(calls.expand_s),
            "sampler_own_s": own_s,
            "frontend_wall_s": frontend_wall_s,
            "timing_source": "clock reads in nutpie's callbacks: a chain's warmup runs from its start-point request "
            "to its last warmup draw, its sampling from there to its last draw, summed over chains; "
            "both include the JAX callback (callback_s) and the expand calls (expand_s), the rest "
            "(sampler_own_s) is nutpie's Rust sampler and its calls into Python",
            "gradients_note": "warmup gradients are every callback gradient not in a sampling draw's n_steps: "
            "warmup's n_steps plus each chain's start point and nutpie's step-size searches",
        },
    )


def nutpie_sample_stats(stats) -> dict[str, np.ndarray]:
    """nutpie's per-draw statistics (its ``sample_stats``) under the harness's names."""
    return {
        "lp": stats["logp"].values.astype(float),
        "n_steps": stats["n_steps"].values.astype(int),
        "diverging": stats["diverging"].values.astype(bool),
        "energy": stats["energy"].values.astype(float),
        "acceptance_rate": stats["mean_tree_accept"].values.astype(float),
        "step_size": stats["step_size"].values.astype(float),
        "tree_depth": stats["depth"].values.astype(int),
    }


def _draws_in_start_order(trace, calls: _Callbacks, budget: Budget) -> np.ndarray:
    """The sampling draws, shaped (chain, draw, parameter), after checking that nutpie's
    chain ``c`` is the ``c``-th chain the callbacks saw start (so it began at start point ``c``)."""
    import arviz

    if not isinstance(trace, arviz.InferenceData):
        raise RuntimeError(
            f"nutpie returned a {type(trace).__name__}; this engine reads the InferenceData of nutpie 0.16.8"
        )
    draws = np.asarray(trace["posterior"]["params"].values, dtype=float)
    seen = np.asarray([chain[budget.warmup :] for chain in calls.draws])
    if seen.shape != draws.shape or not np.array_equal(seen, draws):
        raise RuntimeError(
            "nutpie's chains are not in the order they were started: the start points cannot be matched to them"
        )
    return draws


ENGINE = EngineSpec(
    name=NAME,
    run=run,
    versions=lambda: library_versions("nutpie", "jax"),
    callback_bound_frontends=(FRONTEND,),
    frontend_caveats={
        FRONTEND: "**nutpie rows are callback-bound.** nutpie's Rust sampler calls the JAX gradient "
        "through Python at every leapfrog step, so their µs/grad and ESS/s measure that "
        "callback more than the sampler (its cost per gradient, measured in each run, is "
        "`engine_info.callback_us_per_grad`); rate nutpie on ESS/grad. No ESS/s ratio is "
        "quoted for or against these rows."
    },
    settings={
        "adaptation": Setting(
            "fisher",
            ("stan", "fisher", "fisher-lowrank"),
            "nutpie's mass-matrix adaptation: fisher (its default, gradient-based diagonal), "
            "stan (draw-based diagonal) or fisher-lowrank (low-rank modified)",
        ),
        "frontend": Setting(
            "callback",
            ("callback", "native"),
            "callback: nutpie samples the case's JAX density through a Python callback (callback-bound: rated on "
            "ESS per gradient); native: the case's Stan program compiled through BridgeStan, as nutpie's users run "
            "it (engines/nutpie_native.py), its ESS/s quoted",
            absent_means="callback",
        ),
    },
    start_backend=start_backend,
)
