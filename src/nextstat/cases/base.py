"""The posterior contract: one pinned target that every engine samples.

A case fixes the density on the unconstrained space (Jacobians included), the
data it conditions on, how unconstrained draws map to named constrained
parameters, and, where one exists, a Stan program for the Stan engine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np

#: Datasets are generated from this seed, never from the run seed, so every
#: engine and every run seed conditions on the same data.
DATASET_SEED = 12345


@dataclass(frozen=True)
class Reference:
    """Posterior moments of the constrained parameters that a run is checked against.

    ``mcse`` is the Monte Carlo error of ``mean`` (zero for analytic moments);
    ``var_sq`` is Var[x^2] per parameter where the reference measured it (None where it
    did not: a Gaussian marginal's 2 sd^4 + 4 mean^2 sd^2 then stands in, exact for the
    analytic Gaussian cases).
    """

    kind: str  # "analytic" or "reference-draws"
    mean: Mapping[str, float]
    sd: Mapping[str, float]
    mcse: Mapping[str, float]
    source: str = ""
    var_sq: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    parameterization: str  # "centered", "ncp" or "none"
    description: str
    #: Names of the unconstrained coordinates, in Stan's unconstrained order.
    unconstrained_names: tuple[str, ...]
    #: Names of the constrained parameters returned by ``constrain``.
    param_names: tuple[str, ...]
    #: JAX function R^d -> R: log density on the unconstrained space, Jacobians included.
    log_density: Callable[[Any], Any]
    #: NumPy function (..., d) -> (..., len(param_names)).
    constrain: Callable[[np.ndarray], np.ndarray]
    #: The data the density conditions on (JSON-serializable); hashed for the artifact.
    data: Mapping[str, Any] = field(default_factory=dict)
    stan_code: str | None = None
    stan_data: Mapping[str, Any] | None = None
    reference: Reference | None = None
    #: A pathological control is expected to fail its health gates.
    is_control: bool = False
    source: str = "builtin"
    #: Why the case's committed reference could not be used (e.g. made on other data),
    #: with ``reference`` None: runs still go ahead and say so in their correctness.
    reference_problem: Mapping[str, Any] | None = None
    #: The dataset's name where it has one outside this package (e.g. ``posteriordb:kidiq``);
    #: simulated data is named by its case and seed.
    dataset_name: str | None = None
    #: Why the case has no JAX density (``log_density`` and ``constrain`` then refuse to
    #: run): engines that sample a JAX density skip it with this reason; Stan's engine runs it.
    missing_jax_density: str | None = None
    #: Where ``log_density`` comes from: ``jax`` (written in JAX) or ``bridgestan`` (a host
    #: callback into the Stan program's BridgeStan library: callback-bound, ``stan_program``)
    density_source: str = "jax"

    @property
    def dim(self) -> int:
        return len(self.unconstrained_names)

    @property
    def dataset_sha256(self) -> str:
        return dataset_sha256(self.data)

    @property
    def dataset_id(self) -> str:
        if self.dataset_name:
            return self.dataset_name
        return f"{self.name}@seed{DATASET_SEED}" if self.data else f"{self.name}@no-data"

    def stan_init(self, x_unconstrained: np.ndarray) -> dict[str, Any]:
        """A Stan ``init`` dict for one unconstrained point (constrained values, arrays grouped)."""
        return group_indexed(self.param_names, self.constrain(np.asarray(x_unconstrained)))


def dataset_sha256(data: Mapping[str, Any]) -> str:
    """sha256 of a dataset's canonical JSON: what artifacts and references record."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, lists for arrays: stable across runs."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"))


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


_INDEXED = re.compile(r"^(?P<base>[A-Za-z_][A-Za-z0-9_]*)\[(?P<index>\d+)\]$")


def indexed_columns(names: tuple[str, ...]) -> dict[str, int | list[int]]:
    """``("mu", "theta[1]", "theta[2]")`` -> ``{"mu": 0, "theta": [1, 2]}``: scalars by
    position, indexed names (1-based, in order) grouped under their base name."""
    columns: dict[str, int | list[int]] = {}
    for i, name in enumerate(names):
        match = _INDEXED.match(name)
        if match is None:
            columns[name] = i
        else:
            cast(list[int], columns.setdefault(match["base"], [])).append(i)
    return columns


def group_indexed(names: tuple[str, ...], values: np.ndarray) -> dict[str, Any]:
    """``("mu", "theta[1]", "theta[2]")`` + values -> ``{"mu": v, "theta": [v, v]}``."""
    flat = np.asarray(values, dtype=float).tolist()
    return {
        base: [flat[i] for i in idx] if isinstance(idx, list) else flat[idx]
        for base, idx in indexed_columns(names).items()
    }


def indexed_names(base: str, n: int) -> tuple[str, ...]:
    return tuple(f"{base}[{i}]" for i in range(1, n + 1))


def identity(x: np.ndarray) -> np.ndarray:
    """``constrain`` for a case whose parameters are all unconstrained."""
    return np.asarray(x, dtype=float)


class TraceableConstrain(Protocol):
    """A NumPy ``constrain`` that carries the same map as a JAX function, ``traceable``."""

    traceable: Callable[[Any], Any]

    def __call__(self, x: np.ndarray, /) -> np.ndarray: ...


cast(TraceableConstrain, identity).traceable = lambda x: x


def exp_columns(*indices: int):
    """``constrain`` for a case whose coordinates ``indices`` are logs of positive parameters."""

    def constrain(x: np.ndarray) -> np.ndarray:
        out = np.array(x, dtype=float, copy=True)
        out[..., list(indices)] = np.exp(out[..., list(indices)])
        return out

    def traceable(x):
        import jax.numpy as jnp

        logs = jnp.zeros(x.shape[-1], dtype=bool).at[jnp.asarray(indices)].set(True)
        return jnp.where(logs, jnp.exp(jnp.where(logs, x, 0.0)), x)

    cast(TraceableConstrain, constrain).traceable = traceable
    return constrain


def traceable_constrain(case: Case) -> Callable | None:
    """The case's ``constrain`` as a JAX function that can run inside a traced sampler
    (the built-in cases have one as ``constrain.traceable``), or None."""
    return getattr(case.constrain, "traceable", None)


def bernoulli_logit_loglik(y, eta):
    """sum_i y_i eta_i - log(1 + exp(eta_i)): Stan's ``bernoulli_logit``, in JAX."""
    import jax.numpy as jnp
    from jax.nn import softplus

    return jnp.sum(y * eta - softplus(eta))
