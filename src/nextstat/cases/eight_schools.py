"""Eight schools, non-centered (Rubin 1981; the classic Stan program)."""

from __future__ import annotations

import numpy as np

from .base import Case, exp_columns, indexed_names

Y = (28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0)
SIGMA = (15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0)

STAN_CODE = """
data {
  int<lower=0> J;
  array[J] real y;
  array[J] real<lower=0> sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] theta_tilde;
}
model {
  vector[J] theta = mu + tau * theta_tilde;
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  theta_tilde ~ normal(0, 1);
  y ~ normal(theta, sigma);
}
"""


def eight_schools(observed: tuple[float, ...] = Y) -> Case:
    """The classic data, or ``observed`` effects (simulation-based calibration simulates them)."""
    y = np.array(observed)
    sigma = np.array(SIGMA)
    names = ("mu", "tau", *indexed_names("theta_tilde", 8))

    def log_density(x):
        import jax.numpy as jnp

        mu, log_tau, theta_tilde = x[0], x[1], x[2:]
        tau = jnp.exp(log_tau)
        theta = mu + tau * theta_tilde
        log_prior = -0.5 * (mu / 5.0) ** 2 - jnp.log1p((tau / 5.0) ** 2) - 0.5 * jnp.sum(theta_tilde**2)
        log_lik = -0.5 * jnp.sum(((y - theta) / sigma) ** 2)
        return log_prior + log_lik + log_tau  # + log |d tau / d log_tau|

    return Case(
        name="eight_schools",
        family="hierarchical_normal",
        parameterization="ncp",
        description="Eight schools, non-centered: mu ~ N(0, 5), tau ~ half-Cauchy(0, 5).",
        unconstrained_names=("mu", "log_tau", *indexed_names("theta_tilde", 8)),
        param_names=names,
        log_density=log_density,
        constrain=exp_columns(1),  # tau = exp(log_tau)
        data={"J": 8, "y": list(observed), "sigma": list(SIGMA)},
        stan_code=STAN_CODE,
        stan_data={"J": 8, "y": list(observed), "sigma": list(SIGMA)},
    )
