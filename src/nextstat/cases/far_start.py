"""Posteriors whose usual U(-2, 2) starts are far from the mode: for testing warmup.

Not in the report's catalog. Each has a reference that needs no sampler:

- ``ma1``: an MA(1) time series whose one-step errors grow like theta^t once
  |theta| > 1, so at a start with theta = 2 the log density is about -1e60 and its
  gradient about 1e62. Reference: quadrature on a grid. (Not ARMA(1, 1): its conditional
  likelihood has a local mode where an AR root cancels an MA root, phi = -theta = -1,
  some 420 nats below the posterior mode, and a chain that starts beside it stays there:
  multimodality, which no warmup fixes and this set does not test.)
- ``scaled_regression``: a linear regression whose four covariates have scales 1e-3 to
  1e3, so posterior scales differ by 1e6 and a start is up to 1e5 posterior sds out.
  Reference: the Gaussian posterior, exactly.
- ``funnel_ncp_neck``: the non-centered funnel with v shifted so that every start lies
  in the neck (v near -9, three prior sds down). Reference: analytic.

Use one as ``--case src/nextstat/cases/far_start.py:ma1`` or import it.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from .base import Case, Reference, TraceableConstrain, exp_columns, identity, indexed_names

MA_T = 100
MA_PRIOR_SD = {"mu": 10.0, "theta": 2.0, "sigma": 2.5}


def ma_data(T: int = MA_T, mu: float = 1.0, theta: float = 0.5, sigma: float = 1.0) -> np.ndarray:
    """y_t = mu + e_t + theta e_{t-1}, e ~ N(0, sigma^2); rounded to 6 decimals
    (elementwise arithmetic only: the same on every machine)."""
    e = sigma * np.random.default_rng(2024).standard_normal(T + 1)
    return np.round(mu + e[1:] + theta * e[:-1], 6)


def ma_log_density_numpy(y: np.ndarray, mu, theta, log_sigma):
    """The MA(1) log density on (mu, theta, log sigma), vectorized over arrays of parameters:
    conditional errors err_t = y_t - mu - theta err_{t-1} from err_0 = 0, half-normal prior
    on sigma with its Jacobian."""
    err = y[0] - mu
    total = err**2
    for t in range(1, len(y)):
        err = y[t] - mu - theta * err
        total = total + err**2
    sigma = np.exp(log_sigma)
    return (
        -len(y) * log_sigma
        - 0.5 * total / sigma**2
        - 0.5 * (mu / MA_PRIOR_SD["mu"]) ** 2
        - 0.5 * (theta / MA_PRIOR_SD["theta"]) ** 2
        - 0.5 * (sigma / MA_PRIOR_SD["sigma"]) ** 2
        + log_sigma
    )


def ma_grid_reference(y: np.ndarray, points: int = 121) -> Reference:
    """Posterior mean and sd of (mu, theta, sigma) by quadrature on a grid over (mu, theta,
    log sigma) around the mode, +-8 Laplace sds on each axis (the edges carry no mass)."""
    from scipy.optimize import minimize

    neg = lambda p: -ma_log_density_numpy(y, *p)  # noqa: E731
    mode = minimize(
        neg,
        np.array([np.mean(y), 0.0, 0.0]),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20000},
    ).x
    h = 1e-4
    hess = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            ei, ej = np.eye(3)[i] * h, np.eye(3)[j] * h
            hess[i, j] = (neg(mode + ei + ej) - neg(mode + ei - ej) - neg(mode - ei + ej) + neg(mode - ei - ej)) / (
                4 * h * h
            )
    sds = np.sqrt(np.diag(np.linalg.inv(hess)))
    axes = [np.linspace(m - 8 * s, m + 8 * s, points) for m, s in zip(mode, sds)]
    grid = np.meshgrid(*axes, indexing="ij")
    logp = ma_log_density_numpy(y, *grid)
    weights = np.exp(logp - logp.max())
    weights /= weights.sum()
    values = {"mu": grid[0], "theta": grid[1], "sigma": np.exp(grid[2])}
    mean = {n: float(np.sum(weights * g)) for n, g in values.items()}
    sd = {n: float(np.sqrt(np.sum(weights * (g - mean[n]) ** 2))) for n, g in values.items()}
    var_sq = {n: float(np.sum(weights * (g**2 - np.sum(weights * g**2)) ** 2)) for n, g in values.items()}
    return Reference(
        kind="analytic",
        mean=mean,
        sd=sd,
        mcse={n: 0.0 for n in values},
        var_sq=var_sq,
        source=f"quadrature on a {points}^3 grid",
    )


def ma1() -> Case:
    y = ma_data()

    def log_density(x):
        import jax
        import jax.numpy as jnp

        mu, theta, log_sigma = x[0], x[1], x[2]
        ys = jnp.asarray(y, dtype=x.dtype)

        def step(carry, current):
            err, total = carry
            err = current - mu - theta * err
            return (err, total + err**2), None

        err0 = ys[0] - mu
        (_, total), _ = jax.lax.scan(step, (err0, err0**2), ys[1:])
        sigma = jnp.exp(log_sigma)
        return (
            -len(y) * log_sigma
            - 0.5 * total / sigma**2
            - 0.5 * (mu / MA_PRIOR_SD["mu"]) ** 2
            - 0.5 * (theta / MA_PRIOR_SD["theta"]) ** 2
            - 0.5 * (sigma / MA_PRIOR_SD["sigma"]) ** 2
            + log_sigma
        )

    return Case(
        name="ma1",
        family="time_series",
        parameterization="none",
        description=f"MA(1), {MA_T} observations; its errors grow like theta^t for |theta| > 1.",
        unconstrained_names=("mu", "theta", "log_sigma"),
        param_names=("mu", "theta", "sigma"),
        log_density=log_density,
        constrain=exp_columns(2),
        data={"y": y.tolist()},
        reference=ma_grid_reference(y),
        source="far_start",
    )


SCALES = (1e-3, 1e-1, 1e1, 1e3)
REGRESSION_N = 100
REGRESSION_PRIOR_SD = 1e4


def scaled_regression() -> Case:
    """y = X beta + N(0, 1) noise, columns of X scaled 1e-3 .. 1e3, beta ~ N(0, 1e4^2)."""
    rng = np.random.default_rng(7)
    X = np.round(rng.standard_normal((REGRESSION_N, len(SCALES))), 6) * np.asarray(SCALES)
    beta_true = np.asarray([1.0, -1.0, 0.5, 0.25]) / np.asarray(SCALES) * 0.1
    y = np.round(X @ beta_true + rng.standard_normal(REGRESSION_N), 6)
    precision = X.T @ X + np.eye(len(SCALES)) / REGRESSION_PRIOR_SD**2
    cov = np.linalg.inv(precision)
    mean = cov @ (X.T @ y)
    names = indexed_names("beta", len(SCALES))

    def log_density(beta):
        import jax.numpy as jnp

        resid = y - X @ beta
        return -0.5 * jnp.sum(resid**2) - 0.5 * jnp.sum(beta**2) / REGRESSION_PRIOR_SD**2

    return Case(
        name="scaled_regression",
        family="regression",
        parameterization="none",
        description="Linear regression, covariate scales 1e-3 to 1e3 (posterior scales over 1e6).",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data={"X": X.tolist(), "y": y.tolist()},
        reference=Reference(
            kind="analytic",
            mean=dict(zip(names, mean.tolist())),
            sd=dict(zip(names, np.sqrt(np.diag(cov)).tolist())),
            mcse={n: 0.0 for n in names},
            source="Gaussian posterior",
        ),
        source="far_start",
    )


NECK_SHIFT = 9.0  # v = x_0 - 9: a U(-2, 2) start has v in [-11, -7]
FUNNEL_D = 10


def funnel_ncp_neck() -> Case:
    names = ("v", *indexed_names("z", FUNNEL_D - 1))

    def log_density(x):
        import jax.numpy as jnp

        v = x[0] - NECK_SHIFT
        return -(v**2) / 18.0 - 0.5 * jnp.sum(x[1:] ** 2)

    def constrain(x):
        out = np.array(x, dtype=float, copy=True)
        out[..., 0] -= NECK_SHIFT
        return out

    cast(TraceableConstrain, constrain).traceable = lambda x: x.at[..., 0].add(-NECK_SHIFT)
    return Case(
        name="funnel_ncp_neck",
        family="funnel",
        parameterization="ncp",
        description="Non-centered funnel, 10 dimensions, every U(-2, 2) start in the neck (v near -9).",
        unconstrained_names=("v_shifted", *names[1:]),
        param_names=names,
        log_density=log_density,
        constrain=constrain,
        data={"d": FUNNEL_D, "shift": NECK_SHIFT},
        reference=Reference(
            kind="analytic",
            mean={n: 0.0 for n in names},
            sd={"v": 3.0, **{n: 1.0 for n in names[1:]}},
            mcse={n: 0.0 for n in names},
        ),
        source="far_start",
    )


FAR_START_CASES = {"ma1": ma1, "scaled_regression": scaled_regression, "funnel_ncp_neck": funnel_ncp_neck}
