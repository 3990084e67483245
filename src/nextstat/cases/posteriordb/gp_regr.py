"""posteriordb's ``gp_regr``: a zero-mean Gaussian process regression, written as Stan writes it.

y ~ multi_normal(0, K), K[i, j] = alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2)) (Stan's
``gp_exp_quad_cov``) plus sigma (not sigma^2) on the diagonal; rho ~ gamma(25, 4),
alpha ~ normal(0, 2), sigma ~ normal(0, 1), all three positive. The density drops the
terms Stan's ``~`` drops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..base import exp_columns
from .density import DensityBuilder, JaxDensity


def gp_regr(data: Mapping[str, Any]) -> JaxDensity:
    x = np.asarray(data["x"], dtype=float)
    y = np.asarray(data["y"], dtype=float)
    squared_distance = (x[:, None] - x[None, :]) ** 2
    identity = np.eye(len(y))

    def log_density(z):
        import jax.numpy as jnp
        from jax.scipy.linalg import solve_triangular

        rho, alpha, sigma = jnp.exp(z[0]), jnp.exp(z[1]), jnp.exp(z[2])
        cov = alpha**2 * jnp.exp(squared_distance * (-0.5 / rho**2)) + sigma * identity
        chol = jnp.linalg.cholesky(cov)
        whitened = solve_triangular(chol, y, lower=True)
        log_likelihood = -jnp.sum(jnp.log(jnp.diagonal(chol))) - 0.5 * whitened @ whitened
        log_prior = 24.0 * z[0] - 4.0 * rho - 0.5 * (alpha / 2.0) ** 2 - 0.5 * sigma**2
        return log_likelihood + log_prior + jnp.sum(z)

    return JaxDensity(
        unconstrained_names=("log_rho", "log_alpha", "log_sigma"),
        param_names=("rho", "alpha", "sigma"),
        log_density=log_density,
        constrain=exp_columns(0, 1, 2),
    )


DENSITIES: dict[str, DensityBuilder] = {"gp_regr": gp_regr}
