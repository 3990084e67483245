"""A user's own posterior, benchmarked without touching nextstat's code.

Run it on one engine:
    nextstat run --case examples/my_regression.py:my_regression --engine blackjax_nuts \
        --seed 42 --budget 4x500x1000 --out results/adhoc/my_regression.json
or list it in a suite config under `cases:` as {id: my_regression, spec: examples/my_regression.py:my_regression}.

Contract (see nextstat.cases.Case): a JAX log density on the unconstrained space with
Jacobians included, names for the unconstrained coordinates in Stan's parameter order,
a `constrain` map to named parameters, the data, and optionally a Stan program with its
data (without one, the Stan engine is skipped with a reason).
"""

import numpy as np

from nextstat.cases import Case

rng = np.random.default_rng(2024)
N = 50
x = rng.uniform(-1, 1, N)
y = 1.0 + 2.0 * x + rng.normal(0, 0.5, N)

STAN_CODE = """
data { int<lower=0> N; vector[N] x; vector[N] y; }
parameters { real a; real b; real<lower=0> sigma; }
model {
  a ~ normal(0, 5);
  b ~ normal(0, 5);
  sigma ~ exponential(1);
  y ~ normal(a + b * x, sigma);
}
"""


def log_density(theta):
    import jax.numpy as jnp

    a, b, log_sigma = theta[0], theta[1], theta[2]
    sigma = jnp.exp(log_sigma)
    resid = (y - a - b * x) / sigma
    log_lik = -0.5 * jnp.sum(resid**2) - N * log_sigma
    log_prior = -0.5 * (a / 5.0) ** 2 - 0.5 * (b / 5.0) ** 2 - sigma
    return log_lik + log_prior + log_sigma  # Jacobian of sigma = exp(log_sigma)


def constrain(theta):
    out = np.array(theta, dtype=float, copy=True)
    out[..., 2] = np.exp(out[..., 2])
    return out


data = {"N": N, "x": x.tolist(), "y": y.tolist()}

my_regression = Case(
    name="my_regression",
    family="linear_regression",
    parameterization="none",
    description="Linear regression with an unknown noise scale (user example).",
    unconstrained_names=("a", "b", "log_sigma"),
    param_names=("a", "b", "sigma"),
    log_density=log_density,
    constrain=constrain,
    data=data,
    stan_code=STAN_CODE,
    stan_data=data,
)

# The same model without a Stan program: the Stan engine skips it, with the reason.
my_regression_jax_only = Case(
    **{**my_regression.__dict__, "name": "my_regression_jax_only", "stan_code": None, "stan_data": None}
)
