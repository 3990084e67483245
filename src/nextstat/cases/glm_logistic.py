"""Logistic regression with an intercept and N(0, 1) priors, on simulated data."""

from __future__ import annotations

import numpy as np

from .base import DATASET_SEED, Case, bernoulli_logit_loglik, identity, indexed_names
from .case_data import load_case_data

#: ``logreg_scaled_n1000_p10``'s column scales (see ``simulate_correlated``).
SCALED_COLUMNS = (0.1, 10.0)

STAN_CODE = """
data {
  int<lower=0> N;
  int<lower=1> P;
  matrix[N, P] X;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real alpha;
  vector[P] beta;
}
model {
  alpha ~ normal(0, 1);
  beta ~ normal(0, 1);
  y ~ bernoulli_logit_glm(X, alpha, beta);
}
"""


def simulate(n: int, p: int, seed: int = DATASET_SEED) -> dict:
    """Standard-normal covariates, coefficients drawn from the prior, Bernoulli outcomes.
    How the committed data file was made (``case_data``); cases read the file."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    alpha = rng.standard_normal()
    beta = rng.standard_normal(p)
    eta = alpha + X @ beta
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    # Rounded so that the JSON data Stan reads is exactly the data JAX uses.
    return {"N": n, "P": p, "X": np.round(X, 12).tolist(), "y": y.tolist()}


def glm_logistic(n: int, p: int) -> Case:
    name = f"glm_logistic_n{n}_p{p}"
    return glm_logistic_given(name, load_case_data(name))


def glm_logistic_given(name: str, data: dict) -> Case:
    """The logistic regression on this data (``N``, ``P``, ``X``, ``y``): the committed
    files, or a simulation-based calibration's simulated outcomes."""
    n, p = data["N"], data["P"]
    X = np.asarray(data["X"], dtype=float)
    y = np.asarray(data["y"], dtype=float)
    names = ("alpha", *indexed_names("beta", p))

    def log_density(x):
        import jax.numpy as jnp

        return bernoulli_logit_loglik(y, x[0] + X @ x[1:]) - 0.5 * jnp.sum(x**2)

    return Case(
        name=name,
        family="glm_logistic",
        parameterization="none",
        description=f"Logistic regression, {n} rows x {p} standard-normal covariates + intercept, N(0, 1) priors.",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data=data,
        stan_code=STAN_CODE,
        stan_data=data,
    )


LOGREG_STAN_CODE = """
data {
  int<lower=0> N;
  int<lower=1> P;
  matrix[N, P] X;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  vector[P] beta;
}
model {
  beta ~ normal(0, 1);
  y ~ bernoulli_logit_glm(X, 0, beta);
}
"""


def simulate_correlated(
    n: int, p: int, rho: float, seed: int = DATASET_SEED, column_scales: tuple[float, float] | None = None
) -> dict:
    """Covariates with AR(1) correlation rho between neighbouring columns; no intercept.
    ``column_scales=(low, high)`` multiplies the columns by scales spaced geometrically
    from low to high, as unstandardized covariates are. How the committed data files were
    made (``case_data``): the product with the Cholesky factor is a BLAS call, whose last
    bits differ between CPUs, which is why cases read the files."""
    rng = np.random.default_rng(seed)
    corr = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(corr).T
    if column_scales is not None:
        X = X * np.geomspace(*column_scales, p)
    beta = rng.standard_normal(p)
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(int)
    return {"N": n, "P": p, "X": np.round(X, 12).tolist(), "y": y.tolist()}


def logreg(n: int, p: int, rho: float = 0.5, column_scales: tuple[float, float] | None = None) -> Case:
    """Logistic regression without intercept on correlated covariates: the posterior's
    correlations make a diagonal metric work for its step size. With ``column_scales``
    the covariates are also unstandardized (see ``simulate_correlated``)."""
    name = f"logreg_n{n}_p{p}" if column_scales is None else f"logreg_scaled_n{n}_p{p}"
    scaled = "" if column_scales is None else f", columns scaled {column_scales[0]:g} to {column_scales[1]:g}"
    return logreg_given(
        name,
        load_case_data(name),
        f"Logistic regression, no intercept, {n} rows x {p} AR(1)-correlated covariates (rho {rho}"
        f"{scaled}), N(0, 1) priors.",
    )


def logreg_given(name: str, data: dict, description: str, stan_data: dict | None = None) -> Case:
    """The logistic regression without intercept on this data (``N``, ``P``, ``X``, ``y``);
    ``stan_data`` where the data hold arrays that Stan's JSON needs as lists."""
    X = np.asarray(data["X"], dtype=float)
    y = np.asarray(data["y"], dtype=float)
    names = indexed_names("beta", int(data["P"]))

    def log_density(beta):
        import jax.numpy as jnp

        return bernoulli_logit_loglik(y, X @ beta) - 0.5 * jnp.sum(beta**2)

    return Case(
        name=name,
        family="glm_logistic",
        parameterization="none",
        description=description,
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data=data,
        stan_code=LOGREG_STAN_CODE,
        stan_data=stan_data or data,
    )
