"""The posteriordb normal linear regressions, on posteriordb's own data (no Stan compile:
parity with Stan is checked elsewhere)."""

import numpy as np
import pytest

from nextstat.cases.posteriordb.regressions import DENSITIES

POSTERIORS = (
    "earnings-earn_height",
    "earnings-log10earn_height",
    "earnings-logearn_height",
    "earnings-logearn_height_male",
    "earnings-logearn_interaction",
    "earnings-logearn_interaction_z",
    "earnings-logearn_logheight_male",
    "kidiq-kidscore_interaction",
    "kidiq-kidscore_momhs",
    "kidiq-kidscore_momhsiq",
    "kidiq_with_mom_work-kidscore_interaction_c",
    "kidiq_with_mom_work-kidscore_interaction_c2",
    "kidiq_with_mom_work-kidscore_interaction_z",
    "kidiq_with_mom_work-kidscore_mom_work",
    "kilpisjarvi_mod-kilpisjarvi",
    "mesquite-logmesquite",
    "mesquite-logmesquite_logva",
    "mesquite-logmesquite_logvas",
    "mesquite-logmesquite_logvash",
    "mesquite-logmesquite_logvolume",
    "mesquite-mesquite",
    *(f"nes{year}-nes" for year in range(1972, 2001, 4)),
    "sblrc-blr",
    "sblri-blr",
)


pytestmark = pytest.mark.usefixtures("float64")


def load(posteriordb, posterior: str):
    return posteriordb.info(posterior), posteriordb.data(posterior)


def test_every_program_has_a_posterior():
    assert {posterior.split("-", 1)[1] for posterior in POSTERIORS} == set(DENSITIES)


@pytest.mark.parametrize("posterior", POSTERIORS)
def test_density_contract(posteriordb, posterior):
    import jax

    info, data = load(posteriordb, posterior)
    density = DENSITIES[info["model_name"]](data)
    assert list(density.param_names) == posteriordb.reference_names(posterior)
    d = sum(info["dimensions"].values())
    assert len(density.unconstrained_names) == len(density.param_names) == d
    assert density.unconstrained_names[-1] == "log_sigma"

    x = np.random.default_rng(0).uniform(-2, 2, size=(4, d))
    value_and_grad = jax.jit(jax.value_and_grad(density.log_density))
    for point in x:
        value, grad = value_and_grad(point)
        assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))

    constrained = density.constrain(x)
    assert constrained.shape == (4, d)
    np.testing.assert_array_equal(constrained[:, :-1], x[:, :-1])
    np.testing.assert_allclose(constrained[:, -1], np.exp(x[:, -1]), rtol=1e-15)
    traced = np.asarray(jax.jit(jax.vmap(density.constrain.traceable))(x))
    np.testing.assert_allclose(traced, constrained, rtol=1e-15)


def log_density_difference(density, x, other):
    return float(density.log_density(x)) - float(density.log_density(other))


def test_blr_matches_scipy(posteriordb):
    from scipy import stats

    _, data = load(posteriordb, "sblri-blr")
    X, y = np.asarray(data["X"], dtype=float), np.asarray(data["y"], dtype=float)

    def expected(x):
        beta, sigma = x[:-1], np.exp(x[-1])
        return (
            stats.norm.logpdf(beta, 0, 10).sum()
            + stats.norm.logpdf(sigma, 0, 10)
            + stats.norm.logpdf(y, X @ beta, sigma).sum()
            + x[-1]
        )

    x, other = np.array([1.0, -0.5, 0.2, 0.3, -1.0, 3.0]), np.array([0.8, -0.4, 0.1, 0.2, -0.9, 4.0])
    got = log_density_difference(DENSITIES["blr"](data), x, other)
    assert got == pytest.approx(expected(x) - expected(other), rel=1e-10)


def test_kidscore_interaction_z_matches_scipy(posteriordb):
    from scipy import stats

    _, data = load(posteriordb, "kidiq_with_mom_work-kidscore_interaction_z")
    kid_score = np.asarray(data["kid_score"], dtype=float)
    hs, iq = (np.asarray(data[name], dtype=float) for name in ("mom_hs", "mom_iq"))
    z_hs = (hs - hs.mean()) / (2 * hs.std(ddof=1))
    z_iq = (iq - iq.mean()) / (2 * iq.std(ddof=1))

    def expected(x):
        b, sigma = x[:-1], np.exp(x[-1])
        mu = b[0] + b[1] * z_hs + b[2] * z_iq + b[3] * z_hs * z_iq
        return stats.norm.logpdf(kid_score, mu, sigma).sum() + x[-1]

    x, other = np.array([87.0, 2.0, 9.0, 1.0, 2.8]), np.array([86.0, 2.5, 8.0, 0.5, 2.9])
    got = log_density_difference(DENSITIES["kidscore_interaction_z"](data), x, other)
    assert got == pytest.approx(expected(x) - expected(other), rel=1e-10)


def test_kidscore_interaction_has_the_half_cauchy_prior(posteriordb):
    from scipy import stats

    _, data = load(posteriordb, "kidiq-kidscore_interaction")
    kid_score, hs, iq = (np.asarray(data[name], dtype=float) for name in ("kid_score", "mom_hs", "mom_iq"))

    def expected(x):
        b, sigma = x[:-1], np.exp(x[-1])
        mu = b[0] + b[1] * hs + b[2] * iq + b[3] * hs * iq
        return stats.cauchy.logpdf(sigma, 0, 2.5) + stats.norm.logpdf(kid_score, mu, sigma).sum() + x[-1]

    x, other = np.array([-10.0, 50.0, 1.0, -0.5, 2.9]), np.array([-11.0, 49.0, 1.1, -0.4, 0.5])
    got = log_density_difference(DENSITIES["kidscore_interaction"](data), x, other)
    assert got == pytest.approx(expected(x) - expected(other), rel=1e-10)
