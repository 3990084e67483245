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


def grid_reference(log_density_numpy, guess: np.ndarray, constrained: dict, points: int) -> Reference:
    """Posterior mean and sd of the constrained parameters by quadrature on a grid around
    the mode, +-8 Laplace sds on each unconstrained axis (the edges carry no mass).
    ``log_density_numpy(*axes)`` is vectorized over arrays of parameters; ``constrained``
    maps each name to a function of the axes."""
    from scipy.optimize import minimize

    d = len(guess)
    neg = lambda p: -log_density_numpy(*p)  # noqa: E731
    options = {"xatol": 1e-10, "fatol": 1e-10, "maxiter": 40000}
    mode = minimize(neg, np.asarray(guess, dtype=float), method="Nelder-Mead", options=options).x
    h = 1e-4
    hess = np.empty((d, d))
    for i in range(d):
        for j in range(d):
            ei, ej = np.eye(d)[i] * h, np.eye(d)[j] * h
            hess[i, j] = (neg(mode + ei + ej) - neg(mode + ei - ej) - neg(mode - ei + ej) + neg(mode - ei - ej)) / (
                4 * h * h
            )
    sds = np.sqrt(np.diag(np.linalg.inv(hess)))
    axes = [np.linspace(m - 8 * s, m + 8 * s, points) for m, s in zip(mode, sds)]
    grid = np.meshgrid(*axes, indexing="ij")
    logp = log_density_numpy(*grid)
    weights = np.exp(logp - logp.max())
    weights /= weights.sum()
    values = {name: f(*grid) for name, f in constrained.items()}
    mean = {n: float(np.sum(weights * g)) for n, g in values.items()}
    sd = {n: float(np.sqrt(np.sum(weights * (g - mean[n]) ** 2))) for n, g in values.items()}
    var_sq = {n: float(np.sum(weights * (g**2 - np.sum(weights * g**2)) ** 2)) for n, g in values.items()}
    return Reference(
        kind="analytic",
        mean=mean,
        sd=sd,
        mcse={n: 0.0 for n in values},
        var_sq=var_sq,
        source=f"quadrature on a {points}^{d} grid",
    )


def ma_grid_reference(y: np.ndarray, points: int = 121) -> Reference:
    """The MA(1) posterior's moments of (mu, theta, sigma) by ``grid_reference``."""
    return grid_reference(
        lambda mu, theta, log_sigma: ma_log_density_numpy(y, mu, theta, log_sigma),
        np.array([np.mean(y), 0.0, 0.0]),
        {"mu": lambda m, t, s: m, "theta": lambda m, t, s: t, "sigma": lambda m, t, s: np.exp(s)},
        points,
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


ARMA_T = 200
ARMA_PRIOR_SD = {"mu": 10.0, "phi": 2.0, "theta": 2.0}
ARMA_SIGMA_CAUCHY = 2.5
ARMA_DATA_SEED = 2
ARMA_GRID_POINTS = 41  # per axis: the moments agree with 61 points to 1e-9


def arma_data(T: int = ARMA_T) -> np.ndarray:
    """y_t = 0.5 + 0.6 y_{t-1} + e_t + 0.3 e_{t-1}, e ~ N(0, 1), from y_0 = 0; rounded to 6
    decimals (elementwise arithmetic only: the same on every machine)."""
    e = np.random.default_rng(ARMA_DATA_SEED).standard_normal(T + 1)
    y, previous = np.empty(T), 0.0
    for t in range(T):
        previous = 0.5 + 0.6 * previous + e[t + 1] + 0.3 * e[t]
        y[t] = previous
    return np.round(y, 6)


def arma_log_density_numpy(y: np.ndarray, mu, phi, theta, log_sigma):
    """posteriordb's ``arma11`` on (mu, phi, theta, log sigma), vectorized over arrays of
    parameters: nu_1 = mu + phi mu, nu_t = mu + phi y_{t-1} + theta err_{t-1}, err ~
    N(0, sigma); sigma ~ half-Cauchy(0, 2.5), with its Jacobian."""
    err = y[0] - (mu + phi * mu)
    total = err**2
    for t in range(1, len(y)):
        err = y[t] - (mu + phi * y[t - 1] + theta * err)
        total = total + err**2
    return arma_log_density_from_errors(np, len(y), total, mu, phi, theta, log_sigma)


def arma_log_density_from_errors(xp, n: int, total, mu, phi, theta, log_sigma):
    """The ARMA(1, 1) log density from the sum of its ``n`` squared one-step errors ``total``:
    what the NumPy (vectorized) and the JAX (scanned) densities share; ``xp`` is numpy or
    jax.numpy."""
    sigma = xp.exp(log_sigma)
    return (
        -n * log_sigma
        - 0.5 * total / sigma**2
        - 0.5 * (mu / ARMA_PRIOR_SD["mu"]) ** 2
        - 0.5 * (phi / ARMA_PRIOR_SD["phi"]) ** 2
        - 0.5 * (theta / ARMA_PRIOR_SD["theta"]) ** 2
        - xp.log1p((sigma / ARMA_SIGMA_CAUCHY) ** 2)
        + log_sigma
    )


def arma11() -> Case:
    """posteriordb's ARMA(1, 1) model on 200 simulated observations. At the U(-2, 2) starts
    with |theta| > 1 the errors grow like theta^t: the log density is -1e47 to -1e110 and
    its gradient as large. Our NUTS on nutpie's schedule froze a chain here (seed 42:
    Stan's step-size heuristic, run from that start, halved the step to 1e-52 and dual
    averaging, restarted there and never again, climbed only to 1e-6 by the end of warmup;
    ``nutpie_warmup.nutpie_step_size_search``). The data are the process's from generator
    seed 2: from other data some protocol seeds put a chain on the ridge where the MA root
    cancels the AR root (phi = -theta), a local mode that traps Stan's windows and
    nutpie alike (see the module notes); this set tests warmup, not multimodality."""
    y = arma_data()

    def log_density(x):
        import jax
        import jax.numpy as jnp

        mu, phi, theta, log_sigma = x[0], x[1], x[2], x[3]
        ys = jnp.asarray(y, dtype=x.dtype)

        def step(carry, t):
            err, total = carry
            err = ys[t] - (mu + phi * ys[t - 1] + theta * err)
            return (err, total + err**2), None

        err0 = ys[0] - (mu + phi * mu)
        (_, total), _ = jax.lax.scan(step, (err0, err0**2), jnp.arange(1, len(y)))
        return arma_log_density_from_errors(jnp, len(y), total, mu, phi, theta, log_sigma)

    return Case(
        name="arma11",
        family="time_series",
        parameterization="none",
        description=f"ARMA(1, 1), {ARMA_T} observations; its errors grow like theta^t for |theta| > 1.",
        unconstrained_names=("mu", "phi", "theta", "log_sigma"),
        param_names=("mu", "phi", "theta", "sigma"),
        log_density=log_density,
        constrain=exp_columns(3),
        data={"y": y.tolist()},
        reference=grid_reference(
            lambda mu, phi, theta, log_sigma: arma_log_density_numpy(y, mu, phi, theta, log_sigma),
            np.array([np.mean(y) * 0.4, 0.6, 0.0, 0.0]),
            {
                "mu": lambda m, p, t, s: m,
                "phi": lambda m, p, t, s: p,
                "theta": lambda m, p, t, s: t,
                "sigma": lambda m, p, t, s: np.exp(s),
            },
            ARMA_GRID_POINTS,
        ),
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


FAR_START_CASES = {
    "ma1": ma1,
    "arma11": arma11,
    "scaled_regression": scaled_regression,
    "funnel_ncp_neck": funnel_ncp_neck,
}
