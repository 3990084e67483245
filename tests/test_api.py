import numpy as np
import pytest

import nextstat


def test_sample_returns_inference_data_with_arviz_names():
    idata = nextstat.sample("eight_schools", n_chains=2, n_warmup=200, n_samples=300, seed=3, target_accept=0.95)
    assert set(idata.posterior.data_vars) == {"mu", "tau", "theta_tilde"}
    assert idata.posterior["theta_tilde"].shape == (2, 300, 8)
    assert {"lp", "n_steps", "tree_depth", "diverging", "energy", "acceptance_rate", "step_size"} <= set(
        idata.sample_stats.data_vars
    )
    assert (idata.posterior["tau"].values > 0).all()
    assert idata.attrs["adaptation"] == "stan"  # NUTS's default, as its artifact would say
    assert idata.attrs["grad_evals_sampling"] == int(idata.sample_stats["n_steps"].sum())
    again = nextstat.sample("eight_schools", n_chains=2, n_warmup=200, n_samples=300, seed=3, target_accept=0.95)
    np.testing.assert_array_equal(idata.posterior["mu"].values, again.posterior["mu"].values)


def test_sample_a_bare_log_density():
    import jax.numpy as jnp

    idata = nextstat.sample(
        lambda x: -0.5 * jnp.sum((x - 3.0) ** 2), dim=2, n_chains=2, n_warmup=200, n_samples=500, seed=1
    )
    assert idata.posterior["x"].shape == (2, 500, 2)
    assert np.allclose(idata.posterior["x"].values.mean(axis=(0, 1)), 3.0, atol=0.2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "gibbs"}, "available methods are nuts"),
        ({"target_accept": 1.2}, "target_accept"),
        ({"n_samples": 2}, "draws must be >= 4"),
    ],
)
def test_sample_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nextstat.sample("std_normal_d2", **kwargs)


def test_a_bare_log_density_needs_its_dimension():
    with pytest.raises(ValueError, match="dim="):
        nextstat.sample(lambda x: -x @ x)


def test_sample_with_mams_and_auto():
    import nextstat
    from nextstat.api import choose_method
    from nextstat.cases import get_case

    idata = mams = nextstat.sample(
        "std_normal_d2", method="mams", n_chains=2, n_warmup=200, n_samples=200, seed=3, target_accept=0.9
    )
    assert idata.posterior["x"].shape == (2, 200, 2)
    assert idata.attrs["method"] == "mams"
    assert idata.attrs["adaptation"] == "fisher-lowrank"  # the engine's default, "auto", at d = 2
    assert choose_method(get_case("glm_logistic_n200_p6")) == "nuts"
    assert choose_method(get_case("eight_schools")) == "mams"
    assert choose_method(get_case("neal_funnel_ncp_10d")) == "mams"
    assert choose_method(get_case("hier_logistic_ri")) == "nuts"
    idata = nextstat.sample("std_normal_d2", method="auto", n_chains=2, n_warmup=100, n_samples=100)
    assert idata.attrs["method"] == "mams"
    fisher = nextstat.sample(
        "std_normal_d2",
        method="mams",
        n_chains=2,
        n_warmup=200,
        n_samples=200,
        seed=3,
        target_accept=0.9,
        adaptation="fisher",
    )
    assert fisher.attrs["adaptation"] == "fisher"
    assert fisher.posterior["x"].shape == mams.posterior["x"].shape  # same run but the metric estimator
    assert not np.array_equal(fisher.posterior["x"].values, mams.posterior["x"].values)
    with pytest.raises(ValueError, match="adaptation='covariance': must be one of variance, fisher, fisher-lowrank"):
        nextstat.sample("std_normal_d2", method="mams", adaptation="covariance")  # LAPS's, not MAMS's
