import numpy as np
import pytest
from scipy import stats

from nextstat.cases.posteriordb.gp_regr import DENSITIES

pytestmark = pytest.mark.usefixtures("float64")

POSTERIOR = "gp_pois_regr-gp_regr"


@pytest.fixture(scope="module")
def density_and_data(posteriordb):
    data = posteriordb.data(POSTERIOR)
    return DENSITIES[posteriordb.info(POSTERIOR)["model_name"]](data), data


def test_names_follow_the_reference_draws(density_and_data, posteriordb):
    density, _ = density_and_data
    assert list(density.param_names) == posteriordb.reference_names(POSTERIOR)
    assert density.unconstrained_names == ("log_rho", "log_alpha", "log_sigma")


def test_density_is_the_program_up_to_a_constant(density_and_data):
    """multi_normal(0, alpha^2 exp(-d^2 / (2 rho^2)) + sigma I) and the priors, by SciPy,
    plus the log Jacobian of exp, differ from the density by one constant."""
    import jax

    density, data = density_and_data
    x, y = np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float)
    points = np.random.default_rng(0).uniform(-2, 2, size=(5, 3))
    offsets = []
    for z in points:
        rho, alpha, sigma = np.exp(z)
        cov = alpha**2 * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * rho**2)) + sigma * np.eye(len(x))
        expected = (
            stats.multivariate_normal(np.zeros(len(x)), cov).logpdf(y)
            + stats.gamma(25, scale=1 / 4).logpdf(rho)
            + stats.norm(0, 2).logpdf(alpha)
            + stats.norm(0, 1).logpdf(sigma)
            + z.sum()
        )
        value, grad = jax.value_and_grad(density.log_density)(z)
        assert np.all(np.isfinite(np.asarray(grad)))
        offsets.append(float(value) - expected)
    np.testing.assert_allclose(offsets, offsets[0], rtol=0, atol=1e-9)


def test_constrain_and_its_traceable_twin_agree(density_and_data):
    import jax

    density, _ = density_and_data
    points = np.random.default_rng(1).uniform(-2, 2, size=(4, 3))
    np.testing.assert_allclose(density.constrain(points), np.exp(points), rtol=1e-15)
    traced = jax.jit(jax.vmap(density.constrain.traceable))(points)
    np.testing.assert_allclose(np.asarray(traced), density.constrain(points), rtol=1e-14)
