"""posteriordb as a source of cases: ``pdb:<posterior name>`` wherever a case name goes.

Stan engines run posteriordb's own Stan program on its data, unchanged. JAX engines run
the JAX density written here for that program (one per Stan program, shared by its data
sets; each passes ``nextstat parity`` against Stan's ``log_prob``). A posterior whose
program has no JAX density yet still runs on Stan; JAX engines skip it, saying why. Every
run is scored against posteriordb's reference draws.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import cast

import numpy as np

from ..base import Case, Reference, indexed_names
from .density import DensityBuilder, JaxDensity
from .reader import ENV_VAR, Posterior, PosteriorDBError, posterior_names, posteriordb_dir, read_posterior

PREFIX = "pdb:"
#: Modules of this package that are not densities; every other one defines ``DENSITIES``
#: (Stan program name -> builder), so adding a program's density is one module.
_NOT_DENSITIES = ("density", "reader")

__all__ = [
    "ENV_VAR",
    "PREFIX",
    "JaxDensity",
    "Posterior",
    "PosteriorDBError",
    "jax_densities",
    "list_posteriors",
    "posteriordb_case",
    "posteriordb_dir",
    "reference_from_draws",
]


@cache
def jax_densities() -> dict[str, DensityBuilder]:
    """Stan program name -> the builder of its JAX density."""
    found: dict[str, DensityBuilder] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name not in _NOT_DENSITIES:
            found.update(importlib.import_module(f"{__name__}.{module_info.name}").DENSITIES)
    return found


def list_posteriors(directory: str | Path | None = None) -> list[str]:
    """The posteriors of a posteriordb directory, by name (without the ``pdb:`` prefix)."""
    return posterior_names(posteriordb_dir(directory))


def posteriordb_case(name: str, directory: str | Path | None = None) -> Case:
    """The case ``pdb:<name>``: posteriordb's Stan program, data and reference draws, and
    the JAX density of its program where one exists."""
    posterior = read_posterior(posteriordb_dir(directory), name)
    draws = posterior.reference_draws
    builder = jax_densities().get(posterior.model_name)
    title = posterior.model_info.get("title") or posterior.model_name
    case = Case(
        name=PREFIX + name,
        family="posteriordb",
        parameterization="none",
        description=f"posteriordb {name}: {title} (model {posterior.model_name}, data {posterior.data_name})",
        unconstrained_names=(),
        param_names=tuple(draws) if draws else _names_from_dimensions(posterior.dimensions),
        log_density=_no_jax_density,
        constrain=_no_jax_density,
        data=posterior.data,
        dataset_name=f"posteriordb:{posterior.data_name}",
        stan_code=posterior.stan_code,
        stan_data=posterior.data,
        reference=reference_from_draws(posterior) if draws else None,
        source=f"posteriordb:{posterior.root}",
        missing_jax_density=(
            None
            if builder
            else f"posteriordb program '{posterior.model_name}' has no JAX density in nextstat yet "
            f"(written ones: {', '.join(sorted(jax_densities()))})"
        ),
    )
    if builder is None:  # BridgeStan's density of the program, where BridgeStan is here
        from ..stan_program import StanProgramError, with_bridgestan_density

        try:
            return with_bridgestan_density(case, f"case '{PREFIX + name}'")
        except StanProgramError as exc:
            return replace(case, missing_jax_density=str(exc))
    density = builder(posterior.data)
    return replace(
        case,
        unconstrained_names=density.unconstrained_names,
        param_names=density.param_names,
        log_density=density.log_density,
        constrain=density.constrain,
    )


def reference_from_draws(posterior: Posterior) -> Reference:
    """Mean, sd, MCSE of the mean and Var[x^2] of every parameter posteriordb's reference
    draws cover, estimated as the built-in cases' references are."""
    from ...diagnostics import parameter_summary

    draws = posterior.reference_draws
    assert draws is not None, "called only for a posterior with reference draws"
    names = tuple(draws)
    stacked = np.stack([draws[n] for n in names], axis=-1)  # (chain, draw, parameter)
    # read as numbers: reference draws are finite, so is every figure of their summary
    summary = cast(dict[str, dict[str, float]], parameter_summary(stacked, names))
    flat = stacked.reshape(-1, len(names))
    args = (posterior.reference_info.get("inference") or {}).get("method_arguments") or {}
    chains, per_chain = stacked.shape[:2]
    return Reference(
        kind="reference-draws",
        mean={n: float(summary[n]["mean"]) for n in names},
        sd={n: float(summary[n]["sd"]) for n in names},
        mcse={n: float(summary[n]["mcse"]) for n in names},
        var_sq={n: float(np.var(flat[:, i] ** 2, ddof=1)) for i, n in enumerate(names)},
        source=(
            f"posteriordb reference draws '{posterior.reference_name}': {chains} chains x {per_chain} draws"
            + (f" (Stan, thinned by {args['thin']}, seed {args['seed']})" if "thin" in args and "seed" in args else "")
        ),
    )


def _names_from_dimensions(dimensions: dict[str, int]) -> tuple[str, ...]:
    names: list[str] = []
    for base, size in dimensions.items():
        names += [base] if size == 1 else list(indexed_names(base, size))
    return tuple(names)


def _no_jax_density(*_args):
    from ...engines.base import EngineUnavailable

    raise EngineUnavailable("this posteriordb posterior has no JAX density: only Stan engines can run it")
