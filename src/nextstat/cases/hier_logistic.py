"""Hierarchical logistic regression with non-centered random intercepts.

20 groups x 20 rows, one standard-normal covariate. Parameters, in this order:
mean intercept ``mu_alpha`` ~ N(0, 2), slope ``beta`` ~ N(0, 2), group scale
``sigma_alpha`` ~ half-N(0, 1), and standardized offsets ``z[1..20]`` ~ N(0, 1), with
group intercepts alpha_j = mu_alpha + sigma_alpha z_j.

That is 23 parameters. The published protocol counts 22; it names the same four
components (slope, mean intercept, group scale, offsets) without saying which is
dropped, so this case keeps all of them rather than guess.
"""

from __future__ import annotations

import numpy as np

from .base import DATASET_SEED, Case, bernoulli_logit_loglik, exp_columns, indexed_names
from .case_data import load_case_data

GROUPS = 20
ROWS_PER_GROUP = 20

STAN_CODE = """
data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> group;
  vector[N] x;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real mu_alpha;
  real beta;
  real<lower=0> sigma_alpha;
  vector[J] z;
}
model {
  mu_alpha ~ normal(0, 2);
  beta ~ normal(0, 2);
  sigma_alpha ~ normal(0, 1);
  z ~ std_normal();
  y ~ bernoulli_logit(mu_alpha + sigma_alpha * z[group] + beta * x);
}
"""


def simulate(seed: int = DATASET_SEED) -> dict:
    """How the committed data file was made (``case_data``); the case reads the file."""
    rng = np.random.default_rng(seed)
    n = GROUPS * ROWS_PER_GROUP
    group = np.repeat(np.arange(1, GROUPS + 1), ROWS_PER_GROUP)
    x = rng.standard_normal(n)
    mu_alpha, beta, sigma_alpha = -0.5, 1.0, 0.8
    alpha = mu_alpha + sigma_alpha * rng.standard_normal(GROUPS)
    eta = alpha[group - 1] + beta * x
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return {"N": n, "J": GROUPS, "group": group.tolist(), "x": np.round(x, 12).tolist(), "y": y.tolist()}


def hier_logistic_ri() -> Case:
    return hier_logistic_given(load_case_data("hier_logistic_ri"))


def hier_logistic_given(data: dict) -> Case:
    """The model on this data (``N``, ``J``, ``group``, ``x``, ``y``): the committed file, or
    a simulation-based calibration's simulated outcomes."""
    group = np.asarray(data["group"]) - 1
    x = np.asarray(data["x"], dtype=float)
    y = np.asarray(data["y"], dtype=float)
    names = ("mu_alpha", "beta", "sigma_alpha", *indexed_names("z", GROUPS))

    def log_density(theta):
        import jax.numpy as jnp

        mu_alpha, beta, log_sigma, z = theta[0], theta[1], theta[2], theta[3:]
        sigma = jnp.exp(log_sigma)
        log_lik = bernoulli_logit_loglik(y, mu_alpha + sigma * z[group] + beta * x)
        log_prior = -0.125 * mu_alpha**2 - 0.125 * beta**2 - 0.5 * sigma**2 - 0.5 * jnp.sum(z**2)
        return log_lik + log_prior + log_sigma  # Jacobian of sigma = exp(log_sigma)

    return Case(
        name="hier_logistic_ri",
        family="hierarchical_logistic",
        parameterization="ncp",
        description="Logistic regression with non-centered random intercepts: 20 groups x 20 rows, 23 parameters.",
        unconstrained_names=("mu_alpha", "beta", "log_sigma_alpha", *indexed_names("z", GROUPS)),
        param_names=names,
        log_density=log_density,
        constrain=exp_columns(2),  # sigma_alpha = exp(log_sigma_alpha)
        data=data,
        stan_code=STAN_CODE,
        stan_data=data,
    )
