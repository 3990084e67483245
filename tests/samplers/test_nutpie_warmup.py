"""nutpie's warmup schedule for our NUTS: when the metric may change and switch, and that
a run on it samples a correlated Gaussian correctly with each estimator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nextstat.samplers.nutpie_warmup import NutpieOptions, nutpie_schedule, run_nutpie_warmup, switch_sizes

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


def test_the_step_size_turns_to_the_symmetric_statistic_where_no_switch_can_come():
    """Over 200 warmup draws the last switch may come at draw 90; from draw 91 dual
    averaging reads the symmetric statistic, so the step of draw 92 is the first that
    differs from a run on Stan's statistic throughout (same keys, same everything else)."""
    from nextstat.samplers.nuts import build_kernel

    def logdensity(x):
        return -0.5 * jnp.sum(x**2 / jnp.array([1.0, 4.0, 9.0]))

    kernel = build_kernel(logdensity)
    _, may_switch, _ = nutpie_schedule(200)
    assert may_switch[90] and not may_switch[91]

    def run(options):
        return jax.jit(lambda key, x: run_nutpie_warmup(key, x, logdensity, 200, kernel=kernel, options=options))(
            jax.random.key(7), jnp.array([1.0, -1.0, 2.0])
        )

    (symmetric, infos), (plain, plain_infos) = run(NutpieOptions()), run(NutpieOptions(symmetric_late=False))
    steps, plain_steps = np.asarray(infos.n_leapfrog), np.asarray(plain_infos.n_leapfrog)
    # the two programs compile apart, so their arithmetic may differ in the last bits: equal to 1e-9 up
    # to draw 92, and apart by far more than that after it
    np.testing.assert_allclose(np.asarray(infos.accept_stat)[:92], np.asarray(plain_infos.accept_stat)[:92], rtol=1e-9)
    np.testing.assert_array_equal(steps[:92], plain_steps[:92])
    assert not np.allclose(np.asarray(infos.accept_stat)[92:], np.asarray(plain_infos.accept_stat)[92:], rtol=1e-6)
    assert float(symmetric.step_size) != float(plain.step_size)
    # the symmetric statistic lies in [0, 1], as a mean of 2 sigmoid(-|dH|) must
    for stats in (infos, plain_infos):
        assert np.all((np.asarray(stats.accept_stat_symmetric) >= 0) & (np.asarray(stats.accept_stat_symmetric) <= 1))


def test_the_final_step_size_is_jittered_once_and_only_with_jitter():
    """Without jitter the step size after warmup is exp(x_bar) exactly; with it, exp(x_bar)
    times a factor in [0.9, 1.1]."""
    from nextstat.samplers.nuts import build_kernel

    def logdensity(x):
        return -0.5 * jnp.sum(x**2)

    kernel = build_kernel(logdensity)
    for jitter in (0.0, 0.1):
        final, _ = run_nutpie_warmup(
            jax.random.key(2), jnp.ones(3), logdensity, 120, kernel=kernel,
            options=NutpieOptions(step_size_jitter=jitter),
        )  # fmt: skip
        ratio = float(final.step_size) / float(jnp.exp(final.dual_averaging.x_bar))
        assert ratio == 1.0 if jitter == 0.0 else (0.9 <= ratio <= 1.1 and ratio != 1.0)
