"""Any Stan program as a case for every engine, through BridgeStan.

BridgeStan compiles a Stan program into a shared library with the log density and its
gradient on the unconstrained space, the constraining transform and the parameter names.
Here that library becomes a case: Stan's engine runs the program itself (as for every
case with a Stan program), and the engines that sample a JAX density (ours, BlackJAX,
NumPyro, nutpie's callback frontend) get ``log_density``, a JAX function whose value and
gradient are one host callback into BridgeStan (``jax.pure_callback`` under a
``custom_jvp``, so ``value_and_grad`` costs one BridgeStan gradient). Such a density is
callback-bound: a run's time measures the call into C++ through Python as much as the
sampler, so reports rate those rows on ESS per gradient, not ESS/s (``density_source``).

Compiled libraries are cached by the program's sha256 under ``paths.cache_dir("bridgestan")``
(``$NEXTSTAT_CACHE_DIR`` on a cluster), built with ``STAN_THREADS=true`` as nutpie builds
them, so nutpie's native frontend loads the same library. BridgeStan itself is the user's:
``pip install bridgestan`` and ``$BRIDGESTAN`` pointing at its sources (BridgeStan's own
convention); where either is missing, a Stan-program case says so and the engines that need
it are skipped with that reason.

A case spec is ``path/to/model.stan`` or ``path/to/model.stan@path/to/data.json``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import cache_dir
from .base import Case

ENV_VAR = "BRIDGESTAN"
DATA_SEPARATOR = "@"
#: ``Case.density_source`` of a case whose JAX density calls BridgeStan
BRIDGESTAN_DENSITY = "bridgestan"
MAKE_ARGS = ("STAN_THREADS=true",)


class StanProgramError(ValueError):
    """A Stan program that cannot become a case: the message names the file and says why."""


def bridgestan_missing() -> str | None:
    """Why BridgeStan cannot compile a program here, or None where it can."""
    try:
        import bridgestan  # noqa: F401
    except ImportError:
        return "the Python package bridgestan is not installed (pip install bridgestan)"
    home = os.environ.get(ENV_VAR)
    if not home:
        return f"${ENV_VAR} is not set: point it at BridgeStan's sources (BridgeStan's own convention)"
    if not (Path(home) / "Makefile").is_file():
        return f"${ENV_VAR}={home} holds no BridgeStan sources (no Makefile there)"
    return None


def compiled_library(stan_code: str) -> Path:
    """The program's BridgeStan library, compiled once per program (by its sha256) and
    kept in the cache. Raises ``StanProgramError`` where BridgeStan is missing or stanc or
    the C++ compiler refuses the program (with its last lines)."""
    missing = bridgestan_missing()
    if missing:
        raise StanProgramError(f"BridgeStan is not available: {missing}")
    import bridgestan

    digest = hashlib.sha256(stan_code.encode()).hexdigest()[:16]
    folder = cache_dir("bridgestan") / digest
    library = folder / "model_model.so"
    if library.is_file():
        return library
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:  # concurrent runs of one program compile it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if library.is_file():
            return library
        source = folder / "model.stan"
        source.write_text(stan_code)
        bridgestan.set_bridgestan_path(os.environ[ENV_VAR])
        try:
            return Path(bridgestan.compile_model(source, make_args=list(MAKE_ARGS)))
        except Exception as exc:  # stanc's or the compiler's message: its last lines say what is wrong
            said = [line.strip() for line in str(exc).splitlines()]
            lines = [line for line in said if line and not set(line) <= set("-^| ") and not line.startswith("make")]
            raise StanProgramError(f"the Stan program does not compile: {' '.join(lines[-2:])}") from None


@cache
def _model(stan_code: str, data_json: str):
    import bridgestan

    try:
        # (a library is never rewritten: its folder is named by its program's hash, so reloading it is safe)
        return bridgestan.StanModel(str(compiled_library(stan_code)), data=data_json, seed=1, warn=False)
    except RuntimeError as exc:  # the data do not match the program's data block
        raise StanProgramError(f"the data do not fit the program: {str(exc).strip()}") from None


def bridgestan_model(stan_code: str, data: Mapping[str, Any] | None):
    """The BridgeStan model of the program on ``data`` (one per program and data, per process)."""
    return _model(stan_code, json.dumps(data or {}, sort_keys=True))


def bridgestan_density(model):
    """The JAX log density (unconstrained, Jacobian included) that calls ``model``: its value
    and gradient come from one BridgeStan call. Vectorized calls (``vmap``) loop on the host."""
    import jax
    import jax.numpy as jnp

    # Where the program throws (a scale that underflows to 0 far out in a step-size search, a
    # domain error), Stan's samplers reject the point as of infinite energy: the density is
    # -inf there (a zero gradient beside it), so a JAX sampler diverges and rejects it too.
    def value(x):
        try:
            lp = model.log_density(np.asarray(x, dtype=np.float64), jacobian=True)
        except RuntimeError:
            lp = -np.inf
        return np.asarray(lp, dtype=x.dtype)

    def value_and_gradient(x):
        try:
            lp, grad = model.log_density_gradient(np.asarray(x, dtype=np.float64), jacobian=True)
        except RuntimeError:
            lp, grad = -np.inf, np.zeros(x.shape)
        return np.asarray(lp, dtype=x.dtype), np.asarray(grad, dtype=x.dtype)

    @jax.custom_jvp
    def log_density(x):
        return jax.pure_callback(value, jax.ShapeDtypeStruct((), x.dtype), x, vmap_method="sequential")

    @log_density.defjvp
    def _(primals, tangents):
        (x,), (tangent,) = primals, tangents
        shapes = (jax.ShapeDtypeStruct((), x.dtype), jax.ShapeDtypeStruct(x.shape, x.dtype))
        lp, grad = jax.pure_callback(value_and_gradient, shapes, x, vmap_method="sequential")
        return lp, jnp.dot(grad, tangent)

    return log_density


def bridgestan_constrain(model):
    """NumPy (..., d) unconstrained -> (..., p) constrained parameters, through BridgeStan."""

    def constrain(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1, x.shape[-1])
        out = np.stack([model.param_constrain(row) for row in flat]) if len(flat) else np.empty((0, model.param_num()))
        return out.reshape(*x.shape[:-1], out.shape[-1])

    return constrain


def stan_names(model) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unconstrained names, constrained parameter names) in Stan's order, written as
    ``name[1,2]`` as the rest of the harness writes them (BridgeStan writes ``name.1.2``)."""

    def bracketed(name: str) -> str:
        base, *index = name.split(".")
        return f"{base}[{','.join(index)}]" if index else base

    return tuple(map(bracketed, model.param_unc_names())), tuple(map(bracketed, model.param_names()))


def split_spec(spec: str) -> tuple[Path, Path | None]:
    program, _, data = spec.partition(DATA_SEPARATOR)
    return Path(program), Path(data) if data else None


def is_stan_spec(spec: str) -> bool:
    return split_spec(spec)[0].suffix == ".stan"


def stan_program_case(spec: str) -> Case:
    """The case ``path/to/model.stan[@path/to/data.json]``. Without BridgeStan the case
    still runs on Stan's engine; JAX engines skip it with the reason."""
    program, data_path = split_spec(spec)
    if not program.is_file():
        raise StanProgramError(f"case '{spec}': no Stan program {program}")
    code = program.read_text()
    data: dict[str, Any] = {}
    if data_path is not None:
        if not data_path.is_file():
            raise StanProgramError(f"case '{spec}': no data file {data_path}")
        try:
            data = json.loads(data_path.read_text())
        except json.JSONDecodeError as exc:
            raise StanProgramError(f"case '{spec}': data file {data_path} is not JSON: {exc}") from None
    return with_bridgestan_density(
        Case(
            name=program.stem,
            family="stan-program",
            parameterization="none",
            description=f"Stan program {program.name}" + (f" on {data_path.name}" if data_path else ""),
            unconstrained_names=(),
            param_names=(),
            log_density=_refuse,
            constrain=_refuse,
            data=data,
            stan_code=code,
            stan_data=data,
            source=spec,
            dataset_name=f"{program.stem}:{data_path.name}" if data_path else None,
        ),
        f"case '{spec}'",
    )


def with_bridgestan_density(case: Case, what: str) -> Case:
    """``case`` (with a Stan program, without a JAX density) given BridgeStan's density,
    names and constraining map; where BridgeStan is missing, the case as it is with the
    reason in ``missing_jax_density``. A program that does not compile, or data that do
    not fit it, raise ``StanProgramError`` naming ``what``."""
    from dataclasses import replace

    assert case.stan_code is not None
    missing = bridgestan_missing()
    if missing:
        why = f"BridgeStan would give its density, but {missing}"
        before = case.missing_jax_density
        return replace(case, missing_jax_density=f"{before}; {why}" if before else why)
    try:
        model = bridgestan_model(case.stan_code, case.stan_data)
    except StanProgramError as exc:
        raise StanProgramError(f"{what}: {exc}") from None
    unconstrained, constrained = stan_names(model)
    return replace(
        case,
        unconstrained_names=unconstrained,
        param_names=constrained,
        log_density=bridgestan_density(model),
        constrain=bridgestan_constrain(model),
        missing_jax_density=None,
        density_source=BRIDGESTAN_DENSITY,
    )


def with_forced_bridgestan_density(case: Case) -> Case:
    """``case`` sampled through its Stan program's BridgeStan density even where a JAX
    density is written (the engine setting ``density=bridgestan``): the very density Stan's
    engine samples. Raises ``EngineUnavailable`` where the case has no Stan program or
    BridgeStan is missing (the run is skipped with the reason), ``StanProgramError`` where
    the program does not compile or its data do not fit."""
    from ..engines.base import EngineUnavailable

    if case.stan_code is None:
        raise EngineUnavailable(f"density=bridgestan samples the case's Stan program, and case '{case.name}' has none")
    missing = bridgestan_missing()
    if missing:
        raise EngineUnavailable(f"density=bridgestan compiles the case's Stan program with BridgeStan, and {missing}")
    if case.density_source == BRIDGESTAN_DENSITY:
        return case
    return with_bridgestan_density(case, f"case '{case.name}'")


def _refuse(*_args):
    raise RuntimeError("this case has no JAX density here (see its missing_jax_density)")
