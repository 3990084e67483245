"""What a JAX density for a posteriordb Stan program provides, and Stan's transforms.

A ``DensityBuilder`` takes a posterior's data (posteriordb's JSON, as Stan reads it) and
returns a ``JaxDensity``: the log density on Stan's unconstrained space, Jacobians
included, in Stan's unconstrained order (parameters in declaration order, each flattened
as Stan flattens it), and the map to posteriordb's parameter names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class JaxDensity:
    #: names of the unconstrained coordinates, in Stan's unconstrained order
    unconstrained_names: tuple[str, ...]
    #: posteriordb's names of the constrained parameters (``beta[1]``, ``sigma``), in Stan's order
    param_names: tuple[str, ...]
    #: JAX function R^d -> R: Stan's ``log_prob`` with Jacobians, up to one constant
    log_density: Callable[[Any], Any]
    #: NumPy function (..., d) -> (..., len(param_names)), carrying the same map as a JAX
    #: function in ``constrain.traceable`` (see ``cases.base.traceable_constrain``)
    constrain: Callable[[np.ndarray], np.ndarray]


DensityBuilder = Callable[[Mapping[str, Any]], JaxDensity]
