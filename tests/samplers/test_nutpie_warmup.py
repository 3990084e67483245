"""nutpie's warmup schedule for our NUTS: when the metric may change and switch, and that
a run on it samples a correlated Gaussian correctly with each estimator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nextstat.samplers.nutpie_warmup import nutpie_schedule, run_nutpie_warmup, switch_sizes

jax.config.update("jax_enable_x64", True)


def test_the_schedule_adapts_for_85_percent_and_switches_in_time():
    adapting, may_switch, final_start = nutpie_schedule(1000)
    assert adapting[:850].all() and not adapting[850:].any()
    assert final_start.nonzero()[0].tolist() == [850]
    # switch sizes 10 early, 80 from draw 300; none closer to the final window than that
    assert switch_sizes(1000)[299] == 10 and switch_sizes(1000)[300] == 80
    assert may_switch[:771].all() and not may_switch[771:].any()


@pytest.mark.parametrize("adaptation", ["stan", "fisher", "fisher-lowrank"])
def test_a_correlated_gaussian_is_learned_and_sampled(adaptation):
    """Scales 1 and 30, correlation 0.95: after 600 warmup draws on nutpie's schedule the
    metric has the target's scale, the step size is finite, and 2,000 draws get its moments."""
    from nextstat.samplers.nuts import build_kernel

    cov = np.array([[1.0, 0.95 * 30.0], [0.95 * 30.0, 900.0]])
    precision = jnp.asarray(np.linalg.inv(cov))

    def logdensity(x):
        return -0.5 * x @ precision @ x

    kernel = build_kernel(logdensity)
    final, infos = jax.jit(
        lambda key, x: run_nutpie_warmup(key, x, logdensity, 600, kernel=kernel, adaptation=adaptation)
    )(jax.random.key(3), jnp.array([3.0, -40.0]))
    assert np.isfinite(float(final.step_size)) and float(final.step_size) > 0
    assert int(final.refused_estimates) == 0
    diagonal = np.diag(np.asarray(final.inverse_metric)) if final.inverse_metric.ndim == 2 else final.inverse_metric
    assert 300 < diagonal[1] / diagonal[0] < 3000  # the variance ratio is 900

    def draw(state, key):
        state, _ = kernel(key, state, final.step_size, final.inverse_metric)
        return state, state.position

    _, draws = jax.lax.scan(draw, final.state, jax.random.split(jax.random.key(4), 2000))
    draws = np.asarray(draws)
    assert np.all(np.abs(draws.mean(axis=0)) < 4 * np.sqrt(np.diag(cov)) / np.sqrt(200))
    np.testing.assert_allclose(draws.std(axis=0), np.sqrt(np.diag(cov)), rtol=0.2)
