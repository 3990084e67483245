"""Stan/JAX parity: both engines must sample the same target.

Stan's Jacobian-adjusted ``log_prob`` (through PyStan, or through BridgeStan with
``against="bridgestan"``: the library the ``density=bridgestan`` rows and nutpie's native
frontend sample) and the case's JAX log density are compared at
random unconstrained points; they may differ by one constant (Stan's ``~`` drops
normalizing terms), nothing else. Gradients must agree outright, to a relative error
measured against each point's largest gradient component.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cases import Case
from .engines import EngineUnavailable

#: Relative tolerance in float64.
TOLERANCE = 1e-8
#: Where Stan's log density comes from: PyStan's model, or the program's BridgeStan library.
AGAINST = ("pystan", "bridgestan")


def parity(
    case: Case, n_points: int = 20, seed: int = 20240101, radius: float = 2.0, against: str = "pystan"
) -> dict[str, Any]:
    if against not in AGAINST:
        raise ValueError(f"against={against!r}: must be one of {', '.join(AGAINST)}")
    if not case.stan_code:
        raise EngineUnavailable(f"case '{case.name}' has no Stan program: nothing to compare")
    if case.missing_jax_density:
        raise EngineUnavailable(case.missing_jax_density)
    from .cases.stan_program import BRIDGESTAN_DENSITY

    if case.density_source == BRIDGESTAN_DENSITY:
        raise EngineUnavailable(f"case '{case.name}' has no JAX density: it samples BridgeStan's, nothing to compare")
    import jax

    jax.config.update("jax_enable_x64", True)
    points = np.random.default_rng(seed).uniform(-radius, radius, size=(n_points, case.dim))
    value_and_grad = jax.jit(jax.value_and_grad(case.log_density))
    stan_lp, stan_grad = _stan_values(case, points, against)
    jax_lp, jax_grad = map(np.asarray, zip(*(value_and_grad(x) for x in points)))
    offset = stan_lp - jax_lp
    constant = float(np.median(offset))
    logp_dev = np.abs(offset - constant) / np.maximum(1.0, np.abs(stan_lp))
    # norm-wise: each point's error against its largest gradient component, so that a
    # component that nearly cancels (a sum of large terms, as in a regression on
    # unscaled covariates) is not held to a relative precision no float sum has
    grad_scale = np.maximum(1.0, np.max(np.abs(stan_grad), axis=1, keepdims=True))
    grad_dev = np.abs(stan_grad - jax_grad) / grad_scale
    return {
        "case": case.name,
        "points": n_points,
        "constant": constant,
        "max_log_density_deviation": float(logp_dev.max()),
        "max_gradient_deviation": float(grad_dev.max()),
        "tolerance": TOLERANCE,
        "against": against,
        "passed": bool(logp_dev.max() < TOLERANCE and grad_dev.max() < TOLERANCE),
    }


def _stan_values(case: Case, points: np.ndarray, against: str) -> tuple[np.ndarray, np.ndarray]:
    """Stan's Jacobian-adjusted log density and its gradient at each point."""
    if against == "bridgestan":
        from .cases.stan_program import bridgestan_missing, bridgestan_model

        missing = bridgestan_missing()
        if missing:
            raise EngineUnavailable(f"parity against BridgeStan: {missing}")
        model = bridgestan_model(case.stan_code or "", case.stan_data)
        pairs = [model.log_density_gradient(np.array(x, dtype=np.float64), jacobian=True) for x in points]
        return np.array([lp for lp, _ in pairs]), np.array([grad for _, grad in pairs])
    from .engines.stan_common import pystan_build

    model = pystan_build(case.stan_code or "", case.stan_data, random_seed=1)
    stan_lp = np.array([model.log_prob(list(x), adjust_transform=True) for x in points])
    stan_grad = np.array([model.grad_log_prob(list(x)) for x in points])
    return stan_lp, stan_grad
