import itertools
import math

import numpy as np
import pytest

from nextstat.cases.posteriordb.density import ordered, positive_ordered, simplex
from nextstat.cases.posteriordb.hmm import DENSITIES, forward_log_likelihood

pytestmark = pytest.mark.usefixtures("float64")

#: posterior -> (program, unconstrained dimension)
POSTERIORS = {
    "hmm_example-hmm_example": ("hmm_example", 4),
    "bball_drive_event_0-hmm_drive_0": ("hmm_drive_0", 6),
    "bball_drive_event_1-hmm_drive_1": ("hmm_drive_1", 6),
}


def stan_stick_breaking(y):
    """Stan Math's simplex_constrain with its lp, transcribed loop for loop."""
    n = len(y)
    x, lp, stick = np.empty(n + 1), 0.0, 1.0
    for k in range(n):
        adjusted = y[k] - math.log(n - k)
        x[k] = stick / (1 + math.exp(-adjusted))
        lp += math.log(stick) - math.log1p(math.exp(-adjusted)) - math.log1p(math.exp(adjusted))
        stick -= x[k]
    x[n] = stick
    return x, lp


def test_simplex_is_stans_stick_breaking():
    y = np.random.default_rng(0).uniform(-2, 2, size=(3, 4))
    x, log_jacobian = simplex(y)
    for row, x_row, lj in zip(y, x, log_jacobian):
        expected_x, expected_lj = stan_stick_breaking(row)
        np.testing.assert_allclose(x_row, expected_x, rtol=1e-14)
        assert lj == pytest.approx(expected_lj, rel=1e-13)


@pytest.mark.parametrize(
    "transform, free",
    [(simplex, slice(None, -1)), (ordered, slice(None)), (positive_ordered, slice(None))],
    ids=["simplex", "ordered", "positive_ordered"],
)
def test_log_jacobians_are_log_determinants(transform, free):
    """The log Jacobian each transform returns is log |det| of its derivative (for the
    simplex, of its first K-1 values, which determine the last), in JAX as in NumPy."""
    import jax
    import jax.numpy as jnp

    for y in np.random.default_rng(1).uniform(-2, 2, size=(3, 4)):
        jacobian = jax.jacfwd(lambda v: transform(v, jnp)[0][free])(y)
        _, log_det = np.linalg.slogdet(np.asarray(jacobian))
        assert float(transform(jnp.asarray(y), jnp)[1]) == pytest.approx(log_det, rel=1e-12)
        assert transform(y)[1] == pytest.approx(log_det, rel=1e-12)


def test_forward_algorithm_sums_over_every_state_path():
    rng = np.random.default_rng(2)
    n, k = 5, 3
    log_transition = np.log(rng.dirichlet(np.ones(k), size=k))
    log_emission = rng.normal(size=(n, k))
    total = sum(
        math.exp(
            log_emission[0, path[0]]
            + sum(log_transition[a, b] + log_emission[t, b] for t, (a, b) in enumerate(zip(path, path[1:]), start=1))
        )
        for path in itertools.product(range(k), repeat=n)
    )
    assert float(forward_log_likelihood(log_transition, log_emission)) == pytest.approx(math.log(total), rel=1e-12)


def test_forward_algorithm_is_stable_far_below_underflow():
    log_transition = np.log(np.full((2, 2), 0.5))
    log_emission = np.full((400, 2), -1000.0)
    expected = 400 * -1000.0 + 399 * math.log(0.5 * 2) + math.log(2)
    assert float(forward_log_likelihood(log_transition, log_emission)) == pytest.approx(expected, rel=1e-14)


@pytest.fixture(scope="module", params=list(POSTERIORS))
def program(request, posteriordb):
    posterior = request.param
    model_name, dim = POSTERIORS[posterior]
    assert posteriordb.info(posterior)["model_name"] == model_name
    return posterior, dim, DENSITIES[model_name](posteriordb.data(posterior))


def test_names_follow_the_reference_draws(program, posteriordb):
    posterior, dim, density = program
    assert list(density.param_names) == posteriordb.reference_names(posterior)
    assert len(density.unconstrained_names) == dim
    assert density.unconstrained_names[:2] == ("stick_theta1[1]", "stick_theta2[1]")


def test_log_density_and_gradient_are_finite(program):
    import jax

    _, dim, density = program
    value_and_grad = jax.jit(jax.value_and_grad(density.log_density))
    for x in np.random.default_rng(3).uniform(-2, 2, size=(4, dim)):
        value, grad = value_and_grad(x)
        assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))


def test_constrain_gives_simplexes_and_ordered_emissions(program):
    import jax

    _, dim, density = program
    points = np.random.default_rng(4).uniform(-2, 2, size=(6, dim))
    values = density.constrain(points)
    assert values.shape == (6, len(density.param_names))
    np.testing.assert_allclose(values[:, 0:2].sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(values[:, 2:4].sum(axis=1), 1.0, rtol=1e-14)
    assert np.all(values[:, 4::2] < values[:, 5::2])
    traced = jax.jit(jax.vmap(density.constrain.traceable))(points)
    np.testing.assert_allclose(np.asarray(traced), values, rtol=1e-14)


@pytest.mark.parametrize("model_name", list(DENSITIES))
def test_programs_need_two_states(model_name, posteriordb):
    posterior = next(p for p, (name, _) in POSTERIORS.items() if name == model_name)
    data = dict(posteriordb.data(posterior), K=3)
    with pytest.raises(ValueError, match="K = 2"):
        DENSITIES[model_name](data)
