"""posteriordb's normal linear regressions: ``y ~ normal(X * beta, sigma)``, ``sigma > 0``.

Each builder below mirrors its Stan program: it computes the program's transformed data
with the same operations (in NumPy, once), lays the predictors out as the columns of a
design matrix in the order of the program's coefficients, and hands it with the program's
priors to ``normal_linear_model``. Unconstrained coordinates: the coefficients, then
``log_sigma``. Terms Stan's ``~`` drops (those free of parameters) are left out everywhere;
a density is Stan's up to one additive constant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..base import exp_columns, indexed_names
from .density import DensityBuilder, JaxDensity

#: A prior term: JAX ``(coefficients, sigma) -> log density``, up to a constant.
PriorTerm = Callable[[Any, Any], Any]


def normal_linear_model(
    outcome: np.ndarray,
    design: np.ndarray,
    coefficient_names: tuple[str, ...],
    priors: tuple[PriorTerm, ...] = (),
) -> JaxDensity:
    """``outcome ~ normal(design * coefficients, sigma)`` plus the prior terms, on
    ``(coefficients, log sigma)`` with the Jacobian of ``sigma = exp(log_sigma)``.

    The residuals are formed one by one and scaled before they are squared, as Stan's
    ``normal_lpdf`` does, never through sufficient statistics, which cancel badly when a
    predictor is far from zero."""
    y = np.asarray(outcome, dtype=float)
    X = np.asarray(design, dtype=float)
    n, p = X.shape
    if y.shape != (n,) or len(coefficient_names) != p:
        raise ValueError(f"outcome {y.shape}, design {X.shape} and {len(coefficient_names)} coefficient names disagree")

    def log_density(x):
        import jax.numpy as jnp

        coefficients, log_sigma = x[:p], x[p]
        sigma = jnp.exp(log_sigma)
        z = (y - X @ coefficients) / sigma
        # -n log(sigma) from the likelihood, +log(sigma) the Jacobian
        log_lik = -0.5 * jnp.sum(z * z) - (n - 1) * log_sigma
        return log_lik + sum(prior(coefficients, sigma) for prior in priors)

    return JaxDensity(
        unconstrained_names=(*coefficient_names, "log_sigma"),
        param_names=(*coefficient_names, "sigma"),
        log_density=log_density,
        constrain=exp_columns(p),
    )


def normal_coefficients(loc, scale) -> PriorTerm:
    """``coefficients ~ normal(loc, scale)``, loc and scale scalars or one per coefficient."""
    loc, scale = np.asarray(loc, dtype=float), np.asarray(scale, dtype=float)

    def term(coefficients, sigma):
        import jax.numpy as jnp

        return -0.5 * jnp.sum(((coefficients - loc) / scale) ** 2)

    return term


def normal_sigma(scale: float) -> PriorTerm:
    """``sigma ~ normal(0, scale)`` (half-normal, as sigma is positive)."""

    def term(coefficients, sigma):
        return -0.5 * (sigma / scale) ** 2

    return term


def cauchy_sigma(scale: float) -> PriorTerm:
    """``sigma ~ cauchy(0, scale)`` (half-Cauchy, as sigma is positive)."""

    def term(coefficients, sigma):
        import jax.numpy as jnp

        return -jnp.log1p((sigma / scale) ** 2)

    return term


def _vectors(data: Mapping[str, Any], *names: str) -> list[np.ndarray]:
    return [np.asarray(data[name], dtype=float) for name in names]


def _with_intercept(*predictors: np.ndarray) -> np.ndarray:
    """The design matrix ``[1, predictors...]`` of ``beta[1] + beta[2] * a + beta[3] * b ...``."""
    return np.column_stack([np.ones_like(predictors[0]), *predictors])


def _sd(v: np.ndarray) -> np.ndarray:
    """Stan's ``sd``: the sample standard deviation, with N - 1."""
    return np.sqrt(np.sum((v - np.mean(v)) ** 2) / (v.size - 1))


def _beta(p: int) -> tuple[str, ...]:
    return indexed_names("beta", p)


# --- sblrc, sblri -------------------------------------------------------------------


def blr(data: Mapping[str, Any]) -> JaxDensity:
    X = np.asarray(data["X"], dtype=float).reshape(int(data["N"]), int(data["D"]))
    (y,) = _vectors(data, "y")
    return normal_linear_model(y, X, _beta(X.shape[1]), (normal_coefficients(0.0, 10.0), normal_sigma(10.0)))


# --- kilpisjarvi_mod ------------------------------------------------------------------


def kilpisjarvi(data: Mapping[str, Any]) -> JaxDensity:
    x, y = _vectors(data, "x", "y")
    prior = normal_coefficients([data["pmualpha"], data["pmubeta"]], [data["psalpha"], data["psbeta"]])
    return normal_linear_model(y, _with_intercept(x), ("alpha", "beta"), (prior,))


# --- kidiq, kidiq_with_mom_work -------------------------------------------------------


def kidscore_momhs(data: Mapping[str, Any]) -> JaxDensity:
    kid_score, mom_hs = _vectors(data, "kid_score", "mom_hs")
    return normal_linear_model(kid_score, _with_intercept(mom_hs), _beta(2), (cauchy_sigma(2.5),))


def kidscore_momhsiq(data: Mapping[str, Any]) -> JaxDensity:
    kid_score, mom_iq, mom_hs = _vectors(data, "kid_score", "mom_iq", "mom_hs")
    return normal_linear_model(kid_score, _with_intercept(mom_hs, mom_iq), _beta(3), (cauchy_sigma(2.5),))


def kidscore_interaction(data: Mapping[str, Any]) -> JaxDensity:
    kid_score, mom_iq, mom_hs = _vectors(data, "kid_score", "mom_iq", "mom_hs")
    inter = mom_hs * mom_iq
    return normal_linear_model(kid_score, _with_intercept(mom_hs, mom_iq, inter), _beta(4), (cauchy_sigma(2.5),))


def kidscore_interaction_c(data: Mapping[str, Any]) -> JaxDensity:
    kid_score, mom_hs, mom_iq = _vectors(data, "kid_score", "mom_hs", "mom_iq")
    c_mom_hs = mom_hs - np.mean(mom_hs)
    c_mom_iq = mom_iq - np.mean(mom_iq)
    inter = c_mom_hs * c_mom_iq
    return normal_linear_model(kid_score, _with_intercept(c_mom_hs, c_mom_iq, inter), _beta(4))


def kidscore_interaction_c2(data: Mapping[str, Any]) -> JaxDensity:
    kid_score, mom_hs, mom_iq = _vectors(data, "kid_score", "mom_hs", "mom_iq")
    c2_mom_hs = mom_hs - 0.5
    c2_mom_iq = mom_iq - 100
    inter = c2_mom_hs * c2_mom_iq
    return normal_linear_model(kid_score, _with_intercept(c2_mom_hs, c2_mom_iq, inter), _beta(4))


def kidscore_interaction_z(data: Mapping[str, Any]) -> JaxDensity:
    kid_score, mom_hs, mom_iq = _vectors(data, "kid_score", "mom_hs", "mom_iq")
    z_mom_hs = (mom_hs - np.mean(mom_hs)) / (2 * _sd(mom_hs))
    z_mom_iq = (mom_iq - np.mean(mom_iq)) / (2 * _sd(mom_iq))
    inter = z_mom_hs * z_mom_iq
    return normal_linear_model(kid_score, _with_intercept(z_mom_hs, z_mom_iq, inter), _beta(4))


def kidscore_mom_work(data: Mapping[str, Any]) -> JaxDensity:
    (kid_score,) = _vectors(data, "kid_score")
    mom_work = np.asarray(data["mom_work"])
    work2, work3, work4 = ((mom_work == level).astype(float) for level in (2, 3, 4))
    return normal_linear_model(kid_score, _with_intercept(work2, work3, work4), _beta(4))


# --- earnings -------------------------------------------------------------------------


def earn_height(data: Mapping[str, Any]) -> JaxDensity:
    earn, height = _vectors(data, "earn", "height")
    return normal_linear_model(earn, _with_intercept(height), _beta(2))


def log10earn_height(data: Mapping[str, Any]) -> JaxDensity:
    earn, height = _vectors(data, "earn", "height")
    log10_earn = np.log10(earn)
    return normal_linear_model(log10_earn, _with_intercept(height), _beta(2))


def logearn_height(data: Mapping[str, Any]) -> JaxDensity:
    earn, height = _vectors(data, "earn", "height")
    log_earn = np.log(earn)
    return normal_linear_model(log_earn, _with_intercept(height), _beta(2))


def logearn_height_male(data: Mapping[str, Any]) -> JaxDensity:
    earn, height, male = _vectors(data, "earn", "height", "male")
    log_earn = np.log(earn)
    return normal_linear_model(log_earn, _with_intercept(height, male), _beta(3))


def logearn_interaction(data: Mapping[str, Any]) -> JaxDensity:
    earn, height, male = _vectors(data, "earn", "height", "male")
    log_earn = np.log(earn)
    inter = height * male
    return normal_linear_model(log_earn, _with_intercept(height, male, inter), _beta(4))


def logearn_interaction_z(data: Mapping[str, Any]) -> JaxDensity:
    earn, height, male = _vectors(data, "earn", "height", "male")
    log_earn = np.log(earn)
    z_height = (height - np.mean(height)) / _sd(height)
    inter = z_height * male
    return normal_linear_model(log_earn, _with_intercept(z_height, male, inter), _beta(4))


def logearn_logheight_male(data: Mapping[str, Any]) -> JaxDensity:
    earn, height, male = _vectors(data, "earn", "height", "male")
    log_earn = np.log(earn)
    log_height = np.log(height)
    return normal_linear_model(log_earn, _with_intercept(log_height, male), _beta(3))


# --- mesquite -------------------------------------------------------------------------


def mesquite(data: Mapping[str, Any]) -> JaxDensity:
    weight, diam1, diam2, canopy_height, total_height, density, group = _vectors(
        data, "weight", "diam1", "diam2", "canopy_height", "total_height", "density", "group"
    )
    design = _with_intercept(diam1, diam2, canopy_height, total_height, density, group)
    return normal_linear_model(weight, design, _beta(7))


def logmesquite(data: Mapping[str, Any]) -> JaxDensity:
    weight, diam1, diam2, canopy_height, total_height, density, group = _vectors(
        data, "weight", "diam1", "diam2", "canopy_height", "total_height", "density", "group"
    )
    log_weight = np.log(weight)
    log_diam1 = np.log(diam1)
    log_diam2 = np.log(diam2)
    log_canopy_height = np.log(canopy_height)
    log_total_height = np.log(total_height)
    log_density = np.log(density)
    design = _with_intercept(log_diam1, log_diam2, log_canopy_height, log_total_height, log_density, group)
    return normal_linear_model(log_weight, design, _beta(7))


def logmesquite_logvolume(data: Mapping[str, Any]) -> JaxDensity:
    weight, diam1, diam2, canopy_height = _vectors(data, "weight", "diam1", "diam2", "canopy_height")
    log_weight = np.log(weight)
    log_canopy_volume = np.log(diam1 * diam2 * canopy_height)
    return normal_linear_model(log_weight, _with_intercept(log_canopy_volume), _beta(2))


def logmesquite_logva(data: Mapping[str, Any]) -> JaxDensity:
    weight, diam1, diam2, canopy_height, group = _vectors(data, "weight", "diam1", "diam2", "canopy_height", "group")
    log_weight = np.log(weight)
    log_canopy_volume = np.log(diam1 * diam2 * canopy_height)
    log_canopy_area = np.log(diam1 * diam2)
    design = _with_intercept(log_canopy_volume, log_canopy_area, group)
    return normal_linear_model(log_weight, design, _beta(4))


def logmesquite_logvash(data: Mapping[str, Any]) -> JaxDensity:
    weight, diam1, diam2, canopy_height, total_height, group = _vectors(
        data, "weight", "diam1", "diam2", "canopy_height", "total_height", "group"
    )
    log_weight = np.log(weight)
    log_canopy_volume = np.log(diam1 * diam2 * canopy_height)
    log_canopy_area = np.log(diam1 * diam2)
    log_canopy_shape = np.log(diam1 / diam2)
    log_total_height = np.log(total_height)
    design = _with_intercept(log_canopy_volume, log_canopy_area, log_canopy_shape, log_total_height, group)
    return normal_linear_model(log_weight, design, _beta(6))


def logmesquite_logvas(data: Mapping[str, Any]) -> JaxDensity:
    weight, diam1, diam2, canopy_height, total_height, density, group = _vectors(
        data, "weight", "diam1", "diam2", "canopy_height", "total_height", "density", "group"
    )
    log_weight = np.log(weight)
    log_canopy_volume = np.log(diam1 * diam2 * canopy_height)
    log_canopy_area = np.log(diam1 * diam2)
    log_canopy_shape = np.log(diam1 / diam2)
    log_total_height = np.log(total_height)
    log_density = np.log(density)
    design = _with_intercept(log_canopy_volume, log_canopy_area, log_canopy_shape, log_total_height, log_density, group)
    return normal_linear_model(log_weight, design, _beta(7))


# --- nes1972 ... nes2000 --------------------------------------------------------------


def nes(data: Mapping[str, Any]) -> JaxDensity:
    partyid7, real_ideo, race_adj, educ1, gender, income = _vectors(
        data, "partyid7", "real_ideo", "race_adj", "educ1", "gender", "income"
    )
    age_discrete = np.asarray(data["age_discrete"])
    age30_44, age45_64, age65up = ((age_discrete == level).astype(float) for level in (2, 3, 4))
    design = _with_intercept(real_ideo, race_adj, age30_44, age45_64, age65up, educ1, gender, income)
    return normal_linear_model(partyid7, design, _beta(9))


DENSITIES: dict[str, DensityBuilder] = {
    builder.__name__: builder
    for builder in (
        blr,
        kilpisjarvi,
        kidscore_momhs,
        kidscore_momhsiq,
        kidscore_interaction,
        kidscore_interaction_c,
        kidscore_interaction_c2,
        kidscore_interaction_z,
        kidscore_mom_work,
        earn_height,
        log10earn_height,
        logearn_height,
        logearn_height_male,
        logearn_interaction,
        logearn_interaction_z,
        logearn_logheight_male,
        mesquite,
        logmesquite,
        logmesquite_logvolume,
        logmesquite_logva,
        logmesquite_logvash,
        logmesquite_logvas,
        nes,
    )
}
