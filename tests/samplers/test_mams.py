"""MAMS: the isokinetic velocity update against a numerical ODE solve, the integrator's
order and reversibility, and the sampler's draws against analytic and reference moments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nextstat.engines import Budget, SettingsError, load_engine, resolve_settings
from nextstat.samplers import mams

jax.config.update("jax_enable_x64", True)


def _ode_solution(u0, force, tau, n=20000):
    """RK4 on du/dt = (I - u u') g / (d - 1), with dK/dt = g . u(t) alongside."""
    d = len(u0)

    def rhs(y):
        u = y[:-1]
        du = (force - u * (u @ force)) / (d - 1)
        return np.append(du, force @ u)

    y = np.append(u0, 0.0)
    h = tau / n
    for _ in range(n):
        k1 = rhs(y)
        k2 = rhs(y + h / 2 * k1)
        k3 = rhs(y + h / 2 * k2)
        k4 = rhs(y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y[:-1], y[-1]


@pytest.mark.parametrize("tau", [0.05, 0.7, 3.0])
def test_velocity_update_matches_the_ode_and_its_kinetic_energy_change(tau):
    rng = np.random.default_rng(0)
    d = 5
    u0 = rng.normal(size=d)
    u0 /= np.linalg.norm(u0)
    force = rng.normal(size=d) * 2.0
    u_ode, dk_ode = _ode_solution(u0, force, tau)
    u, dk = mams.velocity_update(jnp.asarray(u0), jnp.asarray(force), tau)
    np.testing.assert_allclose(np.asarray(u), u_ode, atol=1e-9)
    assert float(jnp.linalg.norm(u)) == pytest.approx(1.0, abs=1e-12)
    assert float(dk) == pytest.approx(dk_ode, rel=1e-8)


def test_velocity_update_does_not_overflow_for_huge_forces():
    u = jnp.array([1.0, 0.0, 0.0])
    new, dk = mams.velocity_update(u, jnp.array([-1e200, 1e200, 0.0]), 10.0)
    assert np.all(np.isfinite(np.asarray(new))) and np.isfinite(float(dk))


def _std_normal(x):
    return -0.5 * jnp.sum(x**2)


def _energy_error(step_size, length=2.0, d=10):
    trajectory = mams.integrate(_std_normal)
    x0 = jnp.linspace(-1.0, 1.0, d)
    state = mams.init(x0, _std_normal)
    u = mams.random_unit_vector(jax.random.key(1), d, jnp.float64)
    n = int(round(length / step_size))
    end, _, kinetic = trajectory(state, u, step_size, n, jnp.ones(d))
    return float(-(end.logdensity - state.logdensity) + kinetic)


def test_energy_error_shrinks_as_the_integrators_order_says():
    """The minimal-norm integrator is second order: halving eps quarters W."""
    errors = [abs(_energy_error(eps)) for eps in (0.2, 0.1, 0.05)]
    assert 3.0 < errors[0] / errors[1] < 5.0
    assert 3.0 < errors[1] / errors[2] < 5.0


def test_trajectory_is_reversible():
    d = 6
    trajectory = mams.integrate(_std_normal)
    state = mams.init(jnp.linspace(-2.0, 1.0, d), _std_normal)
    u = mams.random_unit_vector(jax.random.key(2), d, jnp.float64)
    inverse_metric = jnp.linspace(0.5, 2.0, d) ** 2
    end, u_end, kinetic = trajectory(state, u, 0.3, 12, inverse_metric)
    back, u_back, kinetic_back = trajectory(end, -u_end, 0.3, 12, inverse_metric)
    np.testing.assert_allclose(np.asarray(back.position), np.asarray(state.position), atol=1e-10)
    np.testing.assert_allclose(np.asarray(-u_back), np.asarray(u), atol=1e-10)
    assert float(kinetic + kinetic_back) == pytest.approx(0.0, abs=1e-10)


def _run(case_name, seed=3, budget=Budget(4, 1000, 1000), **settings):
    from nextstat.cases import get_case

    case = get_case(case_name)
    resolved = resolve_settings({"target_accept": 0.9, **settings}, "nextstat_mams")
    return case, load_engine("nextstat_mams").run(case, resolved, budget, seed)


@pytest.mark.parametrize("case_name", ["std_normal_d10", "neal_funnel_ncp_10d", "eight_schools"])
def test_draws_match_the_reference_within_monte_carlo_error(case_name):
    from nextstat.diagnostics import correctness, parameter_summary

    case, result = _run(case_name)
    assert not result.sample_stats["diverging"].any()
    summary = parameter_summary(result.draws, result.param_names)
    verdict = correctness(summary, case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]
    if case_name == "std_normal_d10":  # the sd too, not only the means
        sds = np.array([row["sd"] for row in summary.values()])
        np.testing.assert_allclose(sds, 1.0, atol=0.06)
    assert 0.8 < float(result.sample_stats["acceptance_rate"].mean()) < 0.98


def test_same_seed_same_draws_and_gradient_count():
    _, first = _run("std_normal_d2", seed=5, budget=Budget(2, 200, 200))
    _, again = _run("std_normal_d2", seed=5, budget=Budget(2, 200, 200))
    _, other = _run("std_normal_d2", seed=6, budget=Budget(2, 200, 200))
    np.testing.assert_array_equal(first.draws, again.draws)
    assert not np.array_equal(first.draws, other.draws)
    assert first.grad_evals_sampling == int(first.sample_stats["n_steps"].sum())
    assert np.all(first.sample_stats["n_steps"] % 2 == 0)  # two gradients per integrator step


def test_eps_jitter_is_a_checked_setting():
    assert resolve_settings({"eps_jitter": 0.2}, "nextstat_mams")["eps_jitter"] == 0.2
    with pytest.raises(SettingsError, match=r"must be a number in \[0.0, 0.5\]"):
        resolve_settings({"eps_jitter": 2}, "nextstat_mams")
    with pytest.raises(SettingsError, match="taken only by nextstat_mams"):
        resolve_settings({"eps_jitter": 0.1}, "nextstat_nuts")


def test_microcanonical_gate_reports_ebfmi_as_a_warning():
    from nextstat.diagnostics import health_gate

    metrics = {"max_rhat": 1.001, "divergences": 0, "min_ebfmi": 0.05, "min_ess_bulk": 900.0, "min_ess_tail": 800.0}
    assert health_gate(metrics)["passed"] is False
    gate = health_gate(metrics, kind="microcanonical")
    assert gate["passed"] is True and gate["gate"] == "microcanonical"
    ebfmi = next(c for c in gate["checks"] if c["name"] == "min_ebfmi")
    assert ebfmi["warning"] is True and ebfmi["warning_only"] is True


def test_trajectory_length_is_the_path_per_effective_draw():
    """Independent draws, one unit of path each: L = 0.4 x 1; draws that repeat each
    value 4 times (ESS a quarter) need 4 units of path per effective draw: L = 1.6."""
    from nextstat.samplers.mams_warmup import length_from_draws

    rng = np.random.default_rng(0)
    independent = jnp.asarray(rng.normal(size=(800, 3)))
    assert float(length_from_draws(independent, jnp.ones(800), 3)) == pytest.approx(0.4, rel=0.15)
    repeated = jnp.repeat(independent[:200], 4, axis=0)
    assert float(length_from_draws(repeated, jnp.ones(800), 3)) == pytest.approx(1.6, rel=0.25)
    # the engine's length_factor replaces the 0.4
    assert float(length_from_draws(repeated, jnp.ones(800), 3, factor=0.8)) == pytest.approx(3.2, rel=0.25)


def test_the_papers_length_rule_averages_ess_where_mclmcs_averages_its_inverse():
    """One parameter mixes freely (ESS about 800), one repeats each value 4 times (about 200):
    the MAMS paper's rule takes the path over the mean ESS, 0.4 x 800 / 500 = 0.64; MCLMC's
    averages path / ESS, 0.4 x (1 + 4) / 2 = 1.0, pulled up by the slow parameter."""
    from nextstat.samplers.mams_warmup import length_from_draws

    rng = np.random.default_rng(1)
    free = rng.normal(size=800)
    slow = np.repeat(rng.normal(size=200), 4)
    draws = jnp.asarray(np.stack([free, slow], axis=1))
    assert float(length_from_draws(draws, jnp.ones(800), 2, "mean-ess")) == pytest.approx(0.64, rel=0.2)
    assert float(length_from_draws(draws, jnp.ones(800), 2)) == pytest.approx(1.0, rel=0.2)
    with pytest.raises(ValueError, match="length rule 'longest'"):
        length_from_draws(draws, jnp.ones(800), 2, "longest")


def test_fisher_adaptation_recovers_independent_scales_and_samples_eight_schools():
    """On independent Gaussians with scales 0.1 to 10 the Fisher diagonal is exact (Var g
    = 1 / Var x): the tuned metric is the variances to within a window's sampling error;
    and MAMS with it still matches eight schools' reference."""
    from nextstat.diagnostics import correctness, parameter_summary
    from nextstat.samplers.mams_warmup import run_warmup

    scales = jnp.asarray(np.geomspace(0.1, 10.0, 6))

    def logdensity(x):
        return -0.5 * jnp.sum((x / scales) ** 2)

    final, _ = run_warmup(jax.random.key(1), jnp.ones(6) * 0.5, logdensity, 600, adaptation="fisher")
    np.testing.assert_allclose(np.asarray(final.inverse_metric), np.asarray(scales) ** 2, rtol=0.3)
    variance, _ = run_warmup(jax.random.key(1), jnp.ones(6) * 0.5, logdensity, 600, adaptation="variance")
    assert not np.allclose(np.asarray(variance.inverse_metric), np.asarray(final.inverse_metric))

    case, result = _run("eight_schools", adaptation="fisher")
    assert "Fisher" in result.engine_info["adaptation"]
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]
    with pytest.raises(SettingsError, match="adaptation='lowrank': must be one of variance, fisher"):
        resolve_settings({"adaptation": "lowrank"}, "nextstat_mams")


def test_a_dense_preconditioner_is_the_diagonal_one_where_it_is_diagonal_and_stays_reversible():
    d = 6
    kernel = mams.build_kernel(_std_normal)
    state = mams.init(jnp.linspace(-2.0, 1.0, d), _std_normal)
    diagonal = jnp.linspace(0.5, 2.0, d) ** 2
    by_vector, _ = kernel(jax.random.key(4), state, 0.3, 2.0, diagonal, 0.1)
    by_matrix, _ = kernel(jax.random.key(4), state, 0.3, 2.0, jnp.diag(diagonal), 0.1)
    np.testing.assert_allclose(np.asarray(by_matrix.position), np.asarray(by_vector.position), atol=1e-12)
    rho = 0.9 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    dense = jnp.asarray(rho * np.outer(np.sqrt(diagonal), np.sqrt(diagonal)))
    # factored once (as sampling and warmup hold it) or at every transition: the same move
    by_dense, _ = kernel(jax.random.key(5), state, 0.3, 2.0, dense, 0.1)
    factor = mams.factored(dense)
    assert isinstance(factor, mams.CholeskyFactor) and mams.factored(factor) is factor
    by_factor, _ = kernel(jax.random.key(5), state, 0.3, 2.0, factor, 0.1)
    np.testing.assert_array_equal(np.asarray(by_factor.position), np.asarray(by_dense.position))
    assert mams.factored(diagonal) is diagonal
    trajectory = mams.integrate(_std_normal)
    u = mams.random_unit_vector(jax.random.key(2), d, jnp.float64)
    end, u_end, kinetic = trajectory(state, u, 0.3, 12, dense)
    back, u_back, kinetic_back = trajectory(end, -u_end, 0.3, 12, dense)
    np.testing.assert_allclose(np.asarray(back.position), np.asarray(state.position), atol=1e-10)
    assert float(kinetic + kinetic_back) == pytest.approx(0.0, abs=1e-10)


def test_the_low_rank_fisher_metric_takes_mams_through_a_correlated_posterior_the_diagonal_cannot():
    """A Gaussian with correlations 0.99 between neighbours and scales from 0.1 to 10: with
    the dense low-rank preconditioner MAMS's moments are right and its chains mix; with the
    diagonal one they barely do (a measured contrast on fixed seeds, not a timing)."""
    from nextstat.cases.paper_targets import correlated_gaussian
    from nextstat.diagnostics import correctness, parameter_summary, run_metrics

    case = correlated_gaussian(8, 0.99)
    ess = {}
    for adaptation in ("fisher", "fisher-lowrank"):
        settings = resolve_settings({"target_accept": 0.9, "adaptation": adaptation}, "nextstat_mams")
        result = load_engine("nextstat_mams").run(case, settings, Budget(4, 800, 800), 1)
        ess[adaptation] = run_metrics(result, 10)["metrics"]["ess_bulk_per_grad"]
    assert "dense" in result.engine_info["adaptation"]
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]
    assert ess["fisher-lowrank"] > 5 * ess["fisher"], ess


def test_auto_adaptation_is_the_low_rank_fisher_metric_up_to_100_parameters_and_the_variance_above():
    from nextstat.cases import get_case
    from nextstat.samplers.mams_warmup import AUTO_LOWRANK_MAX_DIM, auto_adaptation

    assert resolve_settings({}, "nextstat_mams")["adaptation"] == "auto"
    assert auto_adaptation(AUTO_LOWRANK_MAX_DIM) == "fisher-lowrank"
    assert auto_adaptation(AUTO_LOWRANK_MAX_DIM + 1) == "variance"
    case = get_case("eight_schools")
    engine = load_engine("nextstat_mams")
    auto = engine.run(case, resolve_settings({"target_accept": 0.9}, engine.name), Budget(2, 300, 200), 3)
    explicit = resolve_settings({"target_accept": 0.9, "adaptation": "fisher-lowrank"}, engine.name)
    lowrank = engine.run(case, explicit, Budget(2, 300, 200), 3)
    assert auto.engine_info["adaptation_used"] == "fisher-lowrank"
    assert "dense" in auto.engine_info["adaptation"]
    np.testing.assert_array_equal(auto.draws, lowrank.draws)  # the same sampler, not a look-alike


def test_the_settle_check_resumes_a_chain_that_warmup_left_where_its_step_is_far_too_long():
    """A chain that settled passes the check untouched (state, eps and the rounds counter);
    the same chain handed a step 30x too long accepts nothing in its probes, resumes dual
    averaging, and comes out accepting again at a shorter step, the extra gradients counted."""
    from nextstat.samplers import mams_warmup

    d = 5
    kernel = mams.build_kernel(_std_normal)
    settled, _ = mams_warmup.run_warmup(jax.random.key(2), jnp.ones(d), _std_normal, 400, kernel=kernel)
    assert int(settled.settle_rounds) == 0 and float(settled.settle_acceptance) >= mams_warmup.SETTLE_ACCEPT
    window = mams_warmup.metric_window("variance")
    iterate = mams_warmup.warmup_iteration(
        kernel, window, d, target_accept=0.9, jitter=0.1, length_rule="per-parameter", step_floor=1e-3
    )
    again = mams_warmup.settle(jax.random.key(3), kernel, settled, iterate, 40, 0.1, 1e-3)
    assert int(again.settle_rounds) == 0
    np.testing.assert_array_equal(np.asarray(again.state.position), np.asarray(settled.state.position))
    assert float(again.step_size) == float(settled.step_size)

    too_long = settled._replace(step_size=30.0 * settled.step_size, trajectory_length=30.0 * settled.step_size)
    probe, _ = mams_warmup.probe_acceptance(jax.random.key(4), kernel, too_long, 0.1)
    assert float(probe) < mams_warmup.SETTLE_ACCEPT
    resumed = mams_warmup.settle(jax.random.key(3), kernel, too_long, iterate, 40, 0.1, 1e-3)
    assert 1 <= int(resumed.settle_rounds) <= mams_warmup.SETTLE_ROUNDS
    assert float(resumed.settle_acceptance) >= mams_warmup.SETTLE_ACCEPT
    assert float(resumed.step_size) < 0.5 * float(too_long.step_size)
    assert int(resumed.setup_grads) > int(too_long.setup_grads) + 40
