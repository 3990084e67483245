"""Stan and JAX sample the same target: log densities equal up to one constant, gradients equal."""

import numpy as np
import pytest

from nextstat.cases import BUILTIN_CASES, get_case

pytestmark = pytest.mark.stan


@pytest.mark.parametrize("name", list(BUILTIN_CASES))
def test_stan_log_prob_matches_jax_log_density(name):
    import jax
    import stan

    jax.config.update("jax_enable_x64", True)
    case = get_case(name)
    model = stan.build(case.stan_code, data=dict(case.stan_data), random_seed=1)
    points = np.random.default_rng(99).uniform(-2, 2, size=(20, case.dim))
    stan_lp = np.array([model.log_prob(list(x), adjust_transform=True) for x in points])
    jax_lp = np.array([float(case.log_density(x)) for x in points])
    offset = stan_lp - jax_lp
    scale = np.maximum(1.0, np.abs(jax_lp))
    assert np.max(np.abs(offset - offset[0]) / scale) < 1e-8, f"log density differs beyond a constant: {offset}"
    stan_grad = np.array([model.grad_log_prob(list(x)) for x in points])
    jax_grad = np.array([np.asarray(jax.grad(case.log_density)(x)) for x in points])
    np.testing.assert_allclose(stan_grad, jax_grad, rtol=1e-8, atol=1e-8)
