"""nutpie at its own speed: the case's Stan program compiled through BridgeStan and sampled
natively, as nutpie's users run it (``nutpie_nuts`` with ``frontend: native``).

The program is compiled once per program into the BridgeStan cache (``cases.stan_program``,
``STAN_THREADS=true`` as ``nutpie.compile_stan_model`` builds it) and handed to nutpie as
the library ``compile_stan_model`` would have made: nutpie 0.16.8's ``CompiledStanModel``
around ``_lib.StanLibrary`` (a private name of that version; where it is missing the run
fails with the reason rather than compiling again on every run). Nothing crosses into
Python per gradient, so its ESS/s is the sampler's and is quoted against CmdStan's.

What differs from the callback frontend, and is recorded per run:

- Starts: nutpie draws its own U(-2, 2) starts for a Stan model (it ignores any given
  point), so its chains do not start at the suite's shared points.
- Gradients: the sum of ``n_steps`` over warmup and sampling draws, plus one per chain for
  its start point. nutpie's step-size searches (one leapfrog step per try, at the start and
  after the first mass-matrix update) are no draw's and cannot be counted from outside;
  the callback frontend measures them at a few dozen per chain, well under 0.1% of a
  1000-draw warmup.
- Timing: the wall time of ``nutpie.sample`` split between warmup and sampling in
  proportion to their ``n_steps`` (nutpie reports no per-phase clock), compile time being
  the load of the cached library (the compile itself is the cache's, once per program).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..cases import Case
from .base import Budget, EngineUnavailable, RunResult

FRONTEND = "nutpie.compile_stan_model (BridgeStan library, native)"


def run_native(case: Case, settings: dict[str, Any], budget: Budget, seed: int, arguments: dict[str, Any]):
    from ..cases.stan_program import (
        StanProgramError,
        bridgestan_missing,
        bridgestan_model,
        compiled_library,
        stan_names,
    )

    if case.stan_code is None:
        raise EngineUnavailable("nutpie's native frontend samples a Stan program, and this case has none")
    missing = bridgestan_missing()
    if missing:
        raise EngineUnavailable(f"nutpie's native frontend compiles the Stan program with BridgeStan, and {missing}")
    import nutpie
    from nutpie import _lib
    from nutpie.compile_stan import CompiledStanModel

    from .nutpie_nuts import nutpie_sample_stats

    began = time.perf_counter()
    try:
        library = compiled_library(case.stan_code)
        model = bridgestan_model(case.stan_code, case.stan_data)  # checks the data (one clear line) and constrains
    except StanProgramError as exc:
        raise RuntimeError(str(exc)) from None
    if stan_names(model)[1] != tuple(case.param_names):  # draws are scored by name against the reference
        raise RuntimeError(
            f"the Stan program's parameters {stan_names(model)[1]} are not the case's {tuple(case.param_names)}"
        )
    compiled = CompiledStanModel(
        code=case.stan_code,
        library=_lib.StanLibrary(str(library)),
        dims={},
        _coords={},
        model_name="model",
        model=None,
        data=None,
    ).with_data(**dict(case.stan_data or {}))
    compile_s = time.perf_counter() - began
    arguments = {**arguments, "store_unconstrained": True}
    began = time.perf_counter()
    trace = nutpie.sample(compiled, **arguments)
    wall_s = time.perf_counter() - began
    stats, warmup_stats = trace.sample_stats, trace.warmup_sample_stats
    unconstrained = np.asarray(stats["unconstrained_draw"].values, dtype=float)  # (chain, draw, d)
    draws = np.stack([np.stack([model.param_constrain(x) for x in chain]) for chain in unconstrained])
    sample_stats = nutpie_sample_stats(stats)
    warmup_steps = int(warmup_stats["n_steps"].values.sum())
    sampling_steps = int(sample_stats["n_steps"].sum())
    share = warmup_steps / max(warmup_steps + sampling_steps, 1)
    return RunResult(
        draws=draws,
        param_names=case.param_names,
        sample_stats=sample_stats,
        grad_evals_warmup=warmup_steps + budget.chains,
        grad_evals_sampling=sampling_steps,
        compile_s=compile_s,
        warmup_s=wall_s * share,
        sampling_s=wall_s * (1 - share),
        engine_info={
            "frontend": FRONTEND,
            "density": "stan-program",  # compiled, not the case's JAX density: not callback-bound
            "nutpie_arguments": arguments,
            "step_size_per_chain": stats["step_size_bar"].values[:, -1].astype(float).tolist(),
            "initialization": "nutpie's own U(-2, 2) starts (it ignores given points for a Stan model)",
            "gradients_note": "warmup: the sum of warmup n_steps plus one start point per chain; nutpie's "
            "step-size searches outside draws are not counted (a few dozen per chain)",
            "timing_source": "nutpie.sample's wall time split between warmup and sampling by their n_steps",
            "library": str(library),
        },
    )
