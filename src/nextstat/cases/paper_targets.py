"""The MAMS paper's own targets (Robnik et al. 2025, Table 1) that need no dataset.

Each has exact moments up to the fourth, so its reference carries Var[x^2] as well as the
mean and sd, and the paper's metric (gradients until b2 < 0.01, ``moment_bias.py``) is
measured against the truth rather than against another sampler:

- ``banana_d2``: inference-gym's Banana, x1 ~ N(0, 10^2), x2 | x1 ~ N(0.03 (x1^2 - 100), 1).
- ``rosenbrock_d36``: 18 independent copies of x ~ N(1, 1), y | x ~ N(x^2, Q), Q = 0.1,
  the Rosenbrock target of the MCHMC and MAMS papers.
- ``gaussian_kappa100_d100``: a 100-dimensional Gaussian with variances log-spaced from
  0.1 to 10 (condition number 100), axis-aligned, so a diagonal metric can undo it; the
  paper does not print its eigenvalues, so this is our choice of the spectrum it names.
- Neal's funnel in 20 dimensions is ``neal_funnel_20d`` (funnel.py), now with its exact Var[x^2].

Moments of N(mu, 1) used below: E[x^4] = mu^4 + 6 mu^2 + 3, E[x^8] = 764 at mu = 1.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Case, Reference, identity, indexed_names

BANANA_CURVATURE = 0.03
BANANA_STAN = """
data { real<lower=0> curvature; }
parameters { real x1; real x2; }
model {
  x1 ~ normal(0, 10);
  x2 ~ normal(curvature * (square(x1) - 100), 1);
}
"""

ROSENBROCK_Q = 0.1
ROSENBROCK_STAN = """
data { int<lower=1> copies; real<lower=0> Q; }
parameters { vector[copies] x; vector[copies] y; }
model {
  x ~ normal(1, 1);
  y ~ normal(square(x), sqrt(Q));
}
"""

GAUSSIAN_STAN = """
data { int<lower=1> d; vector<lower=0>[d] sigma; }
parameters { vector[d] x; }
model { x ~ normal(0, sigma); }
"""


def banana(curvature: float = BANANA_CURVATURE) -> Case:
    names = ("x1", "x2")

    def log_density(theta):
        x1, x2 = theta[0], theta[1]
        return -(x1**2) / 200.0 - 0.5 * (x2 - curvature * (x1**2 - 100.0)) ** 2

    # x2 = z + c w with z ~ N(0, 1) and w = x1^2 - 100 = 100 (u - 1), u ~ chi2_1:
    # E[w^2] = 100^2 * 2, E[w^4] = 100^4 * 60 (central moments of chi2_1), so
    # Var[x2] = 1 + 2 c^2 10^4 and E[x2^4] = 3 + 6 c^2 E[w^2] + c^4 E[w^4].
    var_x2 = 1.0 + 2.0 * curvature**2 * 1e4
    fourth_x2 = 3.0 + 6.0 * curvature**2 * 2e4 + curvature**4 * 6e9
    return Case(
        name="banana_d2",
        family="banana",
        parameterization="none",
        description=f"inference-gym's Banana: x1 ~ N(0, 10), x2 ~ N({curvature:g} (x1^2 - 100), 1); the MAMS paper's.",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data={"curvature": curvature},
        stan_code=BANANA_STAN,
        stan_data={"curvature": curvature},
        reference=Reference(
            kind="analytic",
            mean={"x1": 0.0, "x2": 0.0},
            sd={"x1": 10.0, "x2": math.sqrt(var_x2)},
            mcse={"x1": 0.0, "x2": 0.0},
            var_sq={"x1": 2.0 * 10.0**4, "x2": fourth_x2 - var_x2**2},
            source="exact: x1 ~ N(0, 10); x2 a normal plus a scaled chi2_1",
        ),
    )


def rosenbrock(copies: int = 18, q: float = ROSENBROCK_Q) -> Case:
    x_names, y_names = indexed_names("x", copies), indexed_names("y", copies)
    names = (*x_names, *y_names)

    def log_density(theta):
        x, y = theta[:copies], theta[copies:]
        return -0.5 * ((x - 1.0) ** 2).sum() - (0.5 / q) * ((y - x**2) ** 2).sum()

    # x ~ N(1, 1): E[x^2] = 2, E[x^4] = 10, E[x^8] = 764. y = x^2 + sqrt(Q) e:
    # E[y] = 2, Var[y] = Var[x^2] + Q = 6 + Q, E[y^4] = E[x^8] + 6 Q E[x^4] + 3 Q^2.
    second_y = 6.0 + q + 4.0
    fourth_y = 764.0 + 6.0 * q * 10.0 + 3.0 * q**2
    return Case(
        name=f"rosenbrock_d{2 * copies}",
        family="rosenbrock",
        parameterization="none",
        description=f"Rosenbrock, {copies} copies of x ~ N(1, 1), y ~ N(x^2, {q:g}): the MAMS paper's.",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data={"copies": copies, "Q": q},
        stan_code=ROSENBROCK_STAN,
        stan_data={"copies": copies, "Q": q},
        reference=Reference(
            kind="analytic",
            mean={**{n: 1.0 for n in x_names}, **{n: 2.0 for n in y_names}},
            sd={**{n: 1.0 for n in x_names}, **{n: math.sqrt(6.0 + q) for n in y_names}},
            mcse={n: 0.0 for n in names},
            var_sq={**{n: 10.0 - 4.0 for n in x_names}, **{n: fourth_y - second_y**2 for n in y_names}},
            source="exact: moments of N(1, 1) up to the eighth",
        ),
    )


def ill_conditioned_gaussian(d: int = 100, condition: float = 100.0) -> Case:
    names = indexed_names("x", d)
    sd = np.sqrt(np.geomspace(1.0 / math.sqrt(condition), math.sqrt(condition), d))

    def log_density(x):
        return -0.5 * ((x / sd) ** 2).sum()

    return Case(
        name=f"gaussian_kappa{condition:g}_d{d}",
        family="gaussian",
        parameterization="none",
        description=f"Gaussian in {d} dimensions, variances log-spaced, condition number {condition:g}, axis-aligned.",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data={"d": d, "sigma": sd.tolist()},
        stan_code=GAUSSIAN_STAN,
        stan_data={"d": d, "sigma": sd.tolist()},
        reference=Reference(
            kind="analytic",
            mean={n: 0.0 for n in names},
            sd={n: float(s) for n, s in zip(names, sd, strict=True)},
            mcse={n: 0.0 for n in names},
            var_sq={n: float(2.0 * s**4) for n, s in zip(names, sd, strict=True)},
            source=f"N(0, diag(sd^2)), variances log-spaced from {1 / math.sqrt(condition):g} "
            f"to {math.sqrt(condition):g}",
        ),
    )


def correlated_gaussian(d: int = 10, rho: float = 0.99) -> Case:
    """N(0, S) with S_ij = rho^|i-j| s_i s_j, s log-spaced from 0.1 to 10: the shape of
    posteriordb's raw-scale regressions, where no diagonal preconditioner whitens the
    target (``benchmarks.dense_preconditioners`` and the dense-preconditioner tests)."""
    names = indexed_names("x", d)
    scales = np.geomspace(0.1, 10.0, d)
    cov = rho ** np.abs(np.subtract.outer(np.arange(d), np.arange(d))) * np.outer(scales, scales)
    precision = np.linalg.inv(cov)

    def log_density(x):
        return -0.5 * x @ precision @ x

    return Case(
        name=f"correlated_gaussian_rho{rho:g}_d{d}",
        family="gaussian",
        parameterization="none",
        description=f"Gaussian in {d} dimensions, neighbours correlated {rho:g}, scales 0.1 to 10.",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data={"d": d, "rho": rho},
        reference=Reference(
            kind="analytic",
            mean=dict.fromkeys(names, 0.0),
            sd=dict(zip(names, np.sqrt(np.diag(cov)).tolist(), strict=True)),
            mcse=dict.fromkeys(names, 0.0),
            var_sq=dict(zip(names, (2.0 * np.diag(cov) ** 2).tolist(), strict=True)),
            source=f"N(0, S), S_ij = {rho:g}^|i-j| s_i s_j",
        ),
    )
