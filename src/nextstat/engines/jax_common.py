"""Pieces every JAX engine shares: dtype, initial points, chain keys, fair clocks."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from ..cases import Case
from ..cases.start_points import start_points


def configure_jax(dtype: str) -> None:
    """Set the float width before any array exists; float64 is the default for CPU runs.

    Where ``NEXTSTAT_CACHE_DIR`` is set (a cluster's shared disk, see the workflow's
    ``cache_dir``), JAX's persistent compilation cache lives in it, so that only the
    first job to compile a kernel pays for it. An explicit ``JAX_COMPILATION_CACHE_DIR``
    (the timing protocol's private caches) wins."""
    import os

    import jax

    jax.config.update("jax_enable_x64", dtype == "float64")
    if os.environ.get("NEXTSTAT_CACHE_DIR") and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        from ..paths import cache_dir

        jax.config.update("jax_compilation_cache_dir", str(cache_dir("jax")))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def start_backend() -> float:
    """Start JAX's backend (the XLA client; on a GPU, the CUDA context and its libraries)
    and return the seconds it took. The timing protocol calls it before its clock starts:
    a fresh process pays this once, whatever it runs, so it is reported beside the
    engine's time rather than inside it (time to result still includes it)."""
    import jax
    import jax.numpy as jnp

    start = time.perf_counter()
    jax.block_until_ready(jnp.zeros(()) + 1)
    return time.perf_counter() - start


def initial_points(case: Case, seed: int, n_chains: int) -> np.ndarray:
    """The run's shared start points (``cases.start_points``), each drawn again until the
    case's log density and its gradient are finite there."""
    import jax

    value_and_grad, _ = compile_ahead(jax.value_and_grad(case.log_density), np.zeros(case.dim))

    def finite(x: np.ndarray) -> bool:
        value, grad = value_and_grad(x)
        return bool(np.isfinite(value) and np.all(np.isfinite(grad)))

    return start_points(case, seed, n_chains, finite)


def chain_keys(seed: int, n_chains: int):
    import jax

    return jax.random.split(jax.random.key(seed), n_chains)


def compile_ahead(fn: Callable, *example_args: Any) -> tuple[Callable, float]:
    """Compile ``jax.jit(fn)`` for these argument shapes; return it and the seconds spent.
    Inside ``programs_shared_across_data`` a program already compiled for another dataset
    is reused (the seconds are then the trace's alone)."""
    import jax

    start = time.perf_counter()
    compiled: Callable
    if _shared_programs is None:
        compiled = jax.jit(fn).lower(*example_args).compile()
    else:
        compiled = _compile_sharing_constants(fn, example_args, _shared_programs)
    return compiled, time.perf_counter() - start


#: compiled programs by their structure, while ``programs_shared_across_data`` is open
_shared_programs: OrderedDict | None = None
#: how many structures it keeps (an SBC run needs a few: warmup, sampling, start checks)
SHARED_PROGRAMS_KEPT = 16


@contextmanager
def programs_shared_across_data():
    """Within it, every ``compile_ahead`` compiles a program once per structure and hands
    the arrays it closes over (a case's data, its constants) to the compiled program as
    arguments: runs of one engine on datasets of the same shapes (simulation-based
    calibration's replications) trace their programs but compile them once. Outside it,
    each compile is the run's own, as the timing protocol asks."""
    global _shared_programs
    outer, _shared_programs = _shared_programs, OrderedDict()
    try:
        yield
    finally:
        _shared_programs = outer


def _compile_sharing_constants(fn: Callable, example_args: tuple, programs: OrderedDict) -> Callable:
    """``fn`` traced for these arguments; its program compiled with the constants it
    closes over as arguments, or taken from ``programs`` where an identical program (the
    same text, constant shapes and argument structure) was compiled before. A ``jax.jit``
    call inside the program (BlackJAX jits its own loops) keeps the constants it closes
    over inside its nested program: such calls are inlined first, so that their constants
    become the program's own. Constants still nested (a jitted call inside a loop's body)
    are part of the key, by value, so that a program is never reused with another
    dataset's nested constants baked in. A program that calls back into Python is compiled
    afresh: its callback may be another object printed under the same name."""
    import jax

    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*example_args)
    flat_args, in_tree = jax.tree.flatten(example_args)
    out_tree = jax.tree.structure(out_shape)
    if _calls_jit_with_constants(closed.jaxpr):
        traced = closed
        closed = jax.make_jaxpr(lambda *flat: _inline_jit_calls(traced.jaxpr, traced.consts, *flat))(*flat_args)
    consts = list(closed.consts)
    text = str(closed.jaxpr)
    nested = hashlib.sha256()
    _digest_nested_constants(closed.jaxpr, nested)
    key = (text, nested.hexdigest(), in_tree, out_tree, tuple(str(jax.typeof(c)) for c in consts))
    program = programs.get(key)
    if program is None:
        jaxpr = closed.jaxpr

        def evaluate(consts, *flat):
            return jax.core.eval_jaxpr(jaxpr, consts, *flat)

        program = jax.jit(evaluate).lower(consts, *flat_args).compile()
        if "callback" not in text:
            programs[key] = program
            while len(programs) > SHARED_PROGRAMS_KEPT:
                programs.popitem(last=False)
    else:
        programs.move_to_end(key)

    def call(*args):
        return jax.tree.unflatten(out_tree, program(consts, *jax.tree.leaves(args)))

    return call


#: the primitive of a ``jax.jit`` call inside a traced program (``pjit`` before JAX 0.7)
JIT_PRIMITIVES = ("jit", "pjit")


def _calls_jit_with_constants(jaxpr) -> bool:
    """Whether a jitted call at the program's top level (or inside such a call) closes over
    constants of its own."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in JIT_PRIMITIVES:
            inner = eqn.params["jaxpr"]
            if inner.consts or _calls_jit_with_constants(inner.jaxpr):
                return True
    return False


def _inline_jit_calls(jaxpr, consts, *args) -> list:
    """Evaluate ``jaxpr`` as ``jax.core.eval_jaxpr`` does, but with every jitted call at its
    top level (and inside those) evaluated in place: traced, their constants become the
    tracing program's."""
    from jax.extend.core import Literal

    env = dict(zip(jaxpr.constvars, consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))

    def read(var):
        return var.val if isinstance(var, Literal) else env[var]

    for eqn in jaxpr.eqns:
        operands = [read(var) for var in eqn.invars]
        if eqn.primitive.name in JIT_PRIMITIVES:
            inner = eqn.params["jaxpr"]
            results = _inline_jit_calls(inner.jaxpr, inner.consts, *operands)
        else:
            results = eqn.primitive.bind(*operands, **eqn.primitive.get_bind_params(eqn.params))
            if not eqn.primitive.multiple_results:
                results = [results]
        env.update(zip(eqn.outvars, results, strict=True))
    return [read(var) for var in jaxpr.outvars]


def _digest_nested_constants(jaxpr, digest) -> None:
    """Feed ``digest`` the values of every constant the printed program does not show: the
    constants of its nested closed programs and its array literals, recursively."""
    from jax.extend.core import ClosedJaxpr, Jaxpr, Literal

    def constant(value) -> None:
        import jax

        if jax.dtypes.issubdtype(getattr(value, "dtype", None), jax.dtypes.prng_key):
            value = jax.random.key_data(value)
        array = np.asarray(value)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())

    for eqn in jaxpr.eqns:
        for var in eqn.invars:
            if isinstance(var, Literal) and np.ndim(var.val):
                constant(var.val)
        for param in eqn.params.values():
            for inner in param if isinstance(param, tuple | list) else (param,):
                if isinstance(inner, ClosedJaxpr):
                    for value in inner.consts:
                        constant(value)
                    _digest_nested_constants(inner.jaxpr, digest)
                elif isinstance(inner, Jaxpr):
                    _digest_nested_constants(inner, digest)


def run_blocking(fn: Callable, *args: Any) -> tuple[Any, float]:
    """Call and wait for the device (JAX dispatch is asynchronous) before reading the clock."""
    import jax

    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def tree_depth_from_steps(n_steps: np.ndarray) -> np.ndarray:
    """Doublings of a NUTS tree with ``n_steps`` leapfrog steps: ceil(log2(n + 1))."""
    return np.ceil(np.log2(np.asarray(n_steps, dtype=float) + 1.0)).astype(int)


class ChainRuns(NamedTuple):
    carries: list  # per chain: what warmup handed to sampling (state, step size, metric, ...)
    outputs: list  # per chain: sampling outputs, as NumPy
    warmup_gradients: int
    compile_warmup_s: float
    compile_sample_s: float
    warmup_s: float
    sampling_s: float


def run_chains(warmup: Callable, sample: Callable, keys, inits, vectorized: bool = False) -> ChainRuns:
    """The timing protocol every JAX engine shares: chains one after another (each its
    own tree, no lockstep); warmup and sampling each compiled once, ahead of time, and
    timed apart from execution; every clock read after ``block_until_ready``.

    ``warmup(key, position) -> (carry, gradient_count)`` and ``sample(key, *carry) -> outputs``.

    ``vectorized``: the chains as one batch instead (``jax.vmap`` of the same two functions,
    NumPyro's ``chain_method="vectorized"``): every NUTS iteration then lasts as long as its
    longest tree, a chain that stopped early waiting for the others, and the times are the
    batch's wall time rather than a sum over chains.
    """
    import jax

    warmup_keys, sample_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    if vectorized:
        return _run_batch(warmup, sample, warmup_keys, sample_keys, inits)
    compiled_warmup, compile_warmup_s = compile_ahead(warmup, warmup_keys[0], inits[0])
    compiled_sample, compile_sample_s = None, 0.0
    carries, outputs = [], []
    warmup_s = sampling_s = 0.0
    gradients = 0
    for chain in range(len(inits)):
        (carry, steps), seconds = run_blocking(compiled_warmup, warmup_keys[chain], inits[chain])
        warmup_s += seconds
        gradients += int(np.sum(steps))
        if compiled_sample is None:
            compiled_sample, compile_sample_s = compile_ahead(sample, sample_keys[chain], *carry)
        out, seconds = run_blocking(compiled_sample, sample_keys[chain], *carry)
        sampling_s += seconds
        carries.append(carry)
        outputs.append(jax.tree.map(np.asarray, out))
    return ChainRuns(carries, outputs, gradients, compile_warmup_s, compile_sample_s, warmup_s, sampling_s)


def _run_batch(warmup: Callable, sample: Callable, warmup_keys, sample_keys, inits) -> ChainRuns:
    """``run_chains`` with the chains as one vmapped batch; per-chain carries and outputs
    are unstacked so that engines read them as from the sequential path."""
    import jax

    batch_warmup, batch_sample = jax.vmap(warmup), jax.vmap(sample)
    compiled_warmup, compile_warmup_s = compile_ahead(batch_warmup, warmup_keys, inits)
    (carry, steps), warmup_s = run_blocking(compiled_warmup, warmup_keys, inits)
    compiled_sample, compile_sample_s = compile_ahead(batch_sample, sample_keys, *carry)
    out, sampling_s = run_blocking(compiled_sample, sample_keys, *carry)
    chains = len(inits)
    carries = [jax.tree.map(lambda leaf, c=c: leaf[c], carry) for c in range(chains)]
    outputs = [jax.tree.map(lambda leaf, c=c: np.asarray(leaf[c]), out) for c in range(chains)]
    return ChainRuns(carries, outputs, int(np.sum(steps)), compile_warmup_s, compile_sample_s, warmup_s, sampling_s)


def stack_chains(outputs: list, pick: Callable) -> np.ndarray:
    """``(chain, draw, ...)`` from per-chain outputs."""
    return np.stack([pick(out) for out in outputs])


def prepare_chains(
    engine_name: str, case: Case, settings: dict[str, Any], n_chains: int, seed: int, offers_vectorized: bool = False
):
    """What every JAX engine does before sampling: refuse chain methods it does not offer
    (``vectorized`` only where the engine offers it), set the float width, and derive the
    shared initial points and one key per chain."""
    from .base import SettingsError

    offered = ("sequential", "vectorized") if offers_vectorized else ("sequential",)
    if settings["chain_method"] not in offered:
        how = "sequentially or as one vectorized batch" if offers_vectorized else "sequentially"
        raise SettingsError(
            f"{engine_name} runs chains {how} on CPU; chain_method={settings['chain_method']!r} is not offered"
        )
    configure_jax(settings["dtype"])
    import jax.numpy as jnp

    dtype = jnp.float64 if settings["dtype"] == "float64" else jnp.float32
    return jnp.asarray(initial_points(case, seed, n_chains), dtype=dtype), chain_keys(seed, n_chains)


def chain_result(case: Case, runs: ChainRuns, sample_stats: dict[str, np.ndarray], engine_info: dict[str, Any]):
    """The RunResult of a ``run_chains`` run whose sampling outputs start with the positions:
    draws, gradient counts and timings come from the runs, the rest from the engine."""
    from .base import RunResult

    return RunResult(
        draws=case.constrain(stack_chains(runs.outputs, lambda out: out[0])),
        param_names=case.param_names,
        sample_stats=sample_stats,
        grad_evals_warmup=runs.warmup_gradients,
        grad_evals_sampling=int(sample_stats["n_steps"].sum()),
        compile_s=runs.compile_warmup_s + runs.compile_sample_s,
        warmup_s=runs.warmup_s,
        sampling_s=runs.sampling_s,
        engine_info={
            **engine_info,
            "compile_s_warmup": runs.compile_warmup_s,
            "compile_s_sampling": runs.compile_sample_s,
        },
    )


SUPERCHAIN_SIZE = 16  # many-chain engines: chains per superchain (they share a start) for nested R-hat


def many_chain_report(engine_name: str, settings: dict[str, Any], n_chains: int) -> int:
    """What every lockstep many-chain engine checks first; returns the report chain count."""
    from .base import SettingsError

    if settings["chain_method"] != "vectorized":
        raise SettingsError(
            f"{engine_name} runs its chains as one batch: set chain_method='vectorized' "
            f"(got {settings['chain_method']!r})"
        )
    report = int(settings["report_chains"])
    if n_chains % SUPERCHAIN_SIZE or report % SUPERCHAIN_SIZE or report > n_chains:
        raise SettingsError(
            f"{engine_name}: chains ({n_chains}) and report_chains ({report}) must be multiples of "
            f"{SUPERCHAIN_SIZE} with report_chains <= chains"
        )
    return report


def lockstep_draws(
    advance: Callable,
    states: Any,
    key: Any,
    n_chains: int,
    n_draws: int,
    report: int,
    trace_fn: Callable | None,
    extra: Callable = lambda info: (),
) -> Any:
    """A lockstep scan of ``advance(keys, states) -> (states, info)`` (one key per chain)
    over ``n_draws`` draws (BlackJAX's MAMS and LAPS kernels under ``vmap``). Returns, per
    draw, the report chains' (position, logdensity, acceptance rate, divergence,
    ``*extra(info)``) and the whole ensemble's moments (``trace_fn``; None without one)."""
    import jax
    import jax.numpy as jnp

    def one(states, key):
        states, info = advance(jax.random.split(key, n_chains), states)
        kept = (states.position, states.logdensity, info.acceptance_rate, info.is_divergent, *extra(info))
        moments = jnp.mean(trace_fn(states.position), axis=0) if trace_fn else None
        return states, (tuple(values[:report] for values in kept), moments)

    return jax.lax.scan(one, states, jax.random.split(key, n_draws))[1]


def draws_to_chains(values) -> np.ndarray:
    """A lockstep scan's (draw, chain, ...) outputs as (chain, draw, ...)."""
    return np.swapaxes(np.asarray(values), 0, 1)


def fixed_steps_sample_stats(lp, acceptance, divergent, grads_per_draw, step_size) -> dict[str, np.ndarray]:
    """Per-draw statistics of a lockstep scan (BlackJAX's MAMS and LAPS); inputs shaped
    (draw, chain). ``grads_per_draw`` and ``step_size`` are one number for every draw, or
    arrays broadcasting to (draw, chain) where draws differ in cost or chains in step."""
    lp = draws_to_chains(lp).astype(float)
    per_draw = lp.shape[::-1]
    return {
        "lp": lp,
        "n_steps": draws_to_chains(np.broadcast_to(np.asarray(grads_per_draw), per_draw)).astype(int),
        "diverging": draws_to_chains(divergent).astype(bool),
        "energy": -lp,
        "acceptance_rate": draws_to_chains(acceptance).astype(float),
        "step_size": draws_to_chains(np.broadcast_to(np.asarray(step_size, float), per_draw)).copy(),
    }


def lockstep_result(case: Case, scanned: tuple, grads_per_draw, step_size, report: int, **rest: Any):
    """The RunResult of a lockstep many-chain run from ``lockstep_draws``'s report-chain
    outputs (draws, logdensity, acceptance, divergence; shaped draw x chain): constrained
    draws, per-draw statistics, and the report and superchain sizes; ``rest`` is the
    run's gradients, timings, ensemble trace and engine record."""
    from .base import RunResult

    draws, lp, acceptance, divergent = scanned
    return RunResult(
        draws=case.constrain(draws_to_chains(draws)),
        param_names=case.param_names,
        sample_stats=fixed_steps_sample_stats(lp, acceptance, divergent, grads_per_draw, step_size),
        report_chains=report,
        superchain_size=SUPERCHAIN_SIZE,
        **rest,
    )


def moments_trace_fn(case: Case):
    """(chains, d) -> (chains, 2p): each constrained parameter and its square, for the
    samplers' ensemble trace; None where the case's ``constrain`` cannot be traced."""
    from ..cases.base import traceable_constrain

    constrain = traceable_constrain(case)
    if constrain is None:
        return None

    def trace_fn(positions):
        import jax.numpy as jnp

        values = constrain(positions)
        return jnp.concatenate([values, values * values], axis=-1)

    return trace_fn
