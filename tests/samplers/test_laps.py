"""Our LAPS: many lockstep chains tuned from the ensemble, diagnosed on report chains."""

import numpy as np
import pytest

from nextstat.engines import Budget, SettingsError, load_engine, resolve_settings

SETTINGS = {"chain_method": "vectorized", "target_accept": 0.9, "report_chains": 64}


def _run(case_name, budget=Budget(256, 300, 300), seed=4, **overrides):
    from nextstat.cases import get_case

    case = get_case(case_name)
    settings = resolve_settings({**SETTINGS, **overrides}, "nextstat_laps")
    return case, load_engine("nextstat_laps").run(case, settings, budget, seed)


@pytest.mark.parametrize("case_name", ["std_normal_d10", "eight_schools"])
def test_report_chains_match_the_reference_and_pass_nested_rhat(case_name):
    from nextstat.diagnostics import correctness, nested_rhat, parameter_summary

    case, result = _run(case_name)
    assert result.draws.shape == (64, 300, len(case.param_names))  # report chains only
    assert result.engine_info["n_chains"] == 256
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]
    assert np.max(nested_rhat(result.draws, 64 // 16)) < 1.01
    # ESS per gradient is normalized by the report chains' gradients only
    assert result.grad_evals_sampling == int(result.sample_stats["n_steps"].sum())
    assert result.engine_info["gradients_all_chains_sampling"] == 4 * result.grad_evals_sampling
    restarted = result.engine_info["stuck_chains_restarted"]
    assert set(restarted) == {"at_metric_freeze", "at_end_of_warmup"}
    assert all(isinstance(n, int) and 0 <= n <= 256 for n in restarted.values())


def test_same_seed_same_draws():
    _, first = _run("std_normal_d2", budget=Budget(32, 100, 50), report_chains=16)
    _, again = _run("std_normal_d2", budget=Budget(32, 100, 50), report_chains=16)
    np.testing.assert_array_equal(first.draws, again.draws)


def test_laps_needs_vectorized_chains_and_whole_superchains():
    with pytest.raises(SettingsError, match="chain_method='vectorized'"):
        _run("std_normal_d2", budget=Budget(32, 20, 20), chain_method="sequential", report_chains=16)
    with pytest.raises(SettingsError, match="multiples of 16"):
        _run("std_normal_d2", budget=Budget(40, 20, 20), report_chains=16)
    with pytest.raises(SettingsError, match="runs chains sequentially"):
        load_engine("nextstat_nuts").run(
            None, resolve_settings({"chain_method": "vectorized"}, "nextstat_nuts"), Budget(4, 20, 20), 1
        )


def test_runner_records_nested_rhat_and_the_microcanonical_gate():
    from nextstat.run_spec import RunSpec
    from nextstat.runner import execute

    doc = execute(RunSpec("std_normal_d10", "nextstat_laps", 7, Budget(256, 300, 300), settings=SETTINGS))
    assert doc["status"] == "ok", doc["reason"]
    assert doc["quality"]["gate"] == "microcanonical"
    names = [c["name"] for c in doc["quality"]["checks"]]
    assert "max_nested_rhat" in names and doc["diagnostics"]["max_nested_rhat"] < 1.01


def test_a_laps_artifact_is_schema_valid(tmp_path):
    from conftest import nextstat

    out = tmp_path / "laps.json"
    proc = nextstat(
        "run",
        "--case",
        "std_normal_d2",
        "--engine",
        "nextstat_laps",
        "--seed",
        1,
        "--budget",
        "32x50x50",
        "--set",
        'chain_method="vectorized"',
        "--set",
        "report_chains=16",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    assert nextstat("validate", out).returncode == 0


def test_ensemble_ess_per_gradient_reads_lag_one_autocorrelation():
    """Pairs with a known lag-1 correlation rho give (1 - rho) / (1 + rho) effective draws
    per draw (within Monte Carlo error over 200,000 chains); the worst observable wins."""
    import jax
    import jax.numpy as jnp

    from nextstat.samplers.laps import ess_per_gradient

    jax.config.update("jax_enable_x64", True)
    before = jax.random.normal(jax.random.key(0), (200_000, 2))
    noise = jax.random.normal(jax.random.key(1), (200_000, 2))
    for rho in (0.5, -0.3):
        after = rho * before + jnp.sqrt(1 - rho**2) * noise  # AR(1) step; x^2 then has lag-1 corr rho^2
        expected = min((1 - rho) / (1 + rho), (1 - rho**2) / (1 + rho**2)) / 4.0
        got = float(ess_per_gradient(before, after, jnp.full(200_000, 4)))
        assert abs(got - expected) < 0.02 * expected, (rho, got, expected)
    # an antithetic move (x -> -x) flips x but leaves x^2 where it was: no gain is promised
    assert float(ess_per_gradient(before, -before, jnp.full(200_000, 2))) < 0.01


def test_length_choice_prefers_more_steps_where_one_step_mixes_slowly():
    """On eight schools one integrator step per draw mixes the group scale slowly (the
    suite measured 1.6x the ESS per gradient with three); the ensemble's choice takes
    several steps per draw."""
    _, tuned = _run("eight_schools", budget=Budget(512, 300, 300))
    assert tuned.engine_info["integration_steps"] > 1


def test_laps_runs_in_float32_and_records_it():
    """The GPU setting: the same sampler in single precision, the dtype in the artifact."""
    import jax

    from nextstat.cases import get_case
    from nextstat.diagnostics import correctness, parameter_summary

    try:
        case, result = _run("std_normal_d10", dtype="float32")
    finally:
        jax.config.update("jax_enable_x64", True)  # what every other test here expects
    assert result.engine_info["dtype"] == "float32"
    verdict = correctness(
        parameter_summary(result.draws.astype(float), result.param_names), get_case("std_normal_d10").reference
    )
    assert verdict["verdict"] == "pass", verdict["max_z"]


def test_ensemble_fisher_metric_is_exact_on_independent_gaussians_and_runs_in_laps():
    """sqrt(Var x / Var g) across chains recovers the scales of independent Gaussians
    (the variance estimator does too; the Fisher one also reads the gradients), and LAPS
    samples correctly with it."""
    import jax
    import jax.numpy as jnp

    from nextstat.cases import get_case
    from nextstat.diagnostics import correctness, parameter_summary
    from nextstat.samplers.laps import ensemble_metric

    jax.config.update("jax_enable_x64", True)
    scales = jnp.array([0.01, 1.0, 30.0])
    x = scales * jax.random.normal(jax.random.key(3), (4096, 3))
    grads = -x / scales**2
    fisher = ensemble_metric(x, grads, "fisher")
    from nextstat.samplers.metrics import stan_shrinkage

    np.testing.assert_allclose(fisher, stan_shrinkage(4096, scales**2), rtol=1e-9)  # exact, then Stan's shrinkage
    np.testing.assert_allclose(ensemble_metric(x), scales**2, rtol=0.06)  # within sampling error
    with pytest.raises(ValueError, match="metric estimator 'dense'"):
        ensemble_metric(x, grads, "dense")
    case, result = _run("eight_schools", adaptation="fisher")
    assert result.engine_info["metric_estimator"] == "fisher"
    verdict = correctness(parameter_summary(result.draws, result.param_names), get_case("eight_schools").reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]


def test_ensemble_convergence_counts_gradients_to_the_first_crossing():
    """A hand-built trace: the ensemble's second moment approaches the reference's, and
    the headline is the cumulative gradients per chain where the squared bias (in units
    of Var[x^2]) first drops below the threshold."""
    from types import SimpleNamespace

    from nextstat.diagnostics import ensemble_convergence

    reference = SimpleNamespace(mean={"a": 1.0, "b": 0.0}, sd={"a": 2.0, "b": 1.0})
    # Var[a^2] = 2*16 + 4*1*4 = 48, E[a^2] = 5; Var[b^2] = 2, E[b^2] = 1
    bias_a = np.array([10.0, 3.0, 1.0, 0.5, 0.0])  # b2 for a: 100/48, 9/48, 1/48, 0.25/48, 0
    moments = np.column_stack([np.ones(5), np.zeros(5), 5.0 + bias_a, np.ones(5)])
    grads = np.array([100.0, 10.0, 10.0, 10.0, 10.0])  # a tuning run's cost lands on the first
    out = ensemble_convergence(moments, grads, reference, ("a", "b"), threshold=0.1)
    assert out["iterations_to_converge"] == 3 and out["grads_per_chain_to_converge"] == 120.0
    assert out["grads_per_chain_total"] == 140.0 and out["b2_max_final"] == 0.0
    assert out["curve"][0] == [100.0, pytest.approx(100 / 48)]
    assert out["grads_per_chain_to_settle"] == 120.0  # below from there to the end (3 iterations)
    assert len(out["b2_max"]) == len(out["grads_per_chain"]) == 5
    # a dip that does not last is a first crossing but not a settled one
    dip = moments.copy()
    dip[3, 2] = 5.0 + 3.0
    out = ensemble_convergence(dip, grads, reference, ("a", "b"), threshold=0.1, settle_iterations=2)
    assert out["grads_per_chain_to_converge"] == 120.0 and out["grads_per_chain_to_settle"] == 140.0
    never = ensemble_convergence(moments[:2], grads[:2], reference, ("a", "b"), threshold=0.1)
    assert never["grads_per_chain_to_converge"] is None and never["iterations_to_converge"] is None
    assert never["grads_per_chain_to_settle"] is None
    with pytest.raises(ValueError, match=r"expected \(iterations, 4\)"):
        ensemble_convergence(moments[:, :3], grads, reference, ("a", "b"))
    assert out["variance_of_square"] == "gaussian from mean and sd"


def test_ensemble_convergence_scales_by_the_references_measured_var_of_the_square():
    """Where the reference kept Var[x^2] (a skewed marginal's is larger than the Gaussian
    form), b2 is measured in its units: the same bias counts for less."""
    from types import SimpleNamespace

    from nextstat.diagnostics import ensemble_convergence

    moments = np.column_stack([np.ones(2), [5.0 + 3.0, 5.0 + 1.0]])
    grads = np.array([10.0, 10.0])
    gaussian = SimpleNamespace(mean={"a": 1.0}, sd={"a": 2.0})  # Var[a^2] = 48 as a Gaussian
    measured = SimpleNamespace(mean={"a": 1.0}, sd={"a": 2.0}, var_sq={"a": 144.0})
    as_gaussian = ensemble_convergence(moments, grads, gaussian, ("a",), threshold=0.1)
    as_measured = ensemble_convergence(moments, grads, measured, ("a",), threshold=0.1)
    assert as_gaussian["b2_max"] == [pytest.approx(9 / 48, rel=1e-3), pytest.approx(1 / 48, rel=1e-3)]
    assert as_measured["b2_max"] == [pytest.approx(9 / 144, rel=1e-3), pytest.approx(1 / 144, rel=1e-3)]
    assert as_gaussian["iterations_to_converge"] == 2 and as_measured["iterations_to_converge"] == 1
    assert as_measured["variance_of_square"] == "reference draws"


@pytest.mark.parametrize("case_name", ["eight_schools", "neal_funnel_ncp_10d", "glm_logistic_n200_p6"])
def test_traceable_constrain_matches_the_numpy_constrain(case_name):
    import jax.numpy as jnp

    from nextstat.cases import get_case
    from nextstat.cases.base import traceable_constrain

    case = get_case(case_name)
    x = np.random.default_rng(0).normal(size=(5, case.dim))
    np.testing.assert_allclose(np.asarray(traceable_constrain(case)(jnp.asarray(x))), case.constrain(x), rtol=1e-6)


@pytest.mark.parametrize("engine", ["nextstat_laps", "blackjax_mams"])
def test_many_chain_runs_record_when_their_ensemble_converged(engine):
    from nextstat.run_spec import RunSpec
    from nextstat.runner import execute

    budget = Budget(1024, 200, 100)  # the statistic's noise floor is about 5 / chains over 10 parameters
    doc = execute(
        RunSpec(
            "std_normal_d10",
            engine,
            3,
            budget,
            settings={**SETTINGS, "target_accept": 0.7 if engine == "blackjax_laps" else 0.9},
        )
    )
    assert doc["status"] == "ok", doc["reason"]
    conv = doc["convergence"]
    warmup_total = doc["gradients"]["warmup"] / 64 if engine != "blackjax_mams" else None
    assert 0 < conv["grads_per_chain_to_converge"] <= conv["grads_per_chain_total"]
    assert conv["b2_max_final"] < conv["threshold"]
    assert len(conv["curve"]) <= 60 and conv["curve"][-1][0] == conv["grads_per_chain_total"]
    if warmup_total is not None:  # the trace's gradients are the report chains' gradients, per chain
        assert conv["grads_per_chain_total"] == pytest.approx(
            warmup_total + doc["gradients"]["sampling"] / 64, rel=0.05
        )


def test_the_ensemble_covariance_is_a_dense_preconditioner_laps_samples_a_correlated_posterior_with():
    """Across 4096 chains the covariance of a correlated Gaussian is estimated to within
    sampling error; LAPS with it (MAMS through its Cholesky factor) gets the moments of a
    posterior whose neighbours are correlated 0.99 and whose scales span two decades."""
    import jax
    import jax.numpy as jnp

    from nextstat.cases.paper_targets import correlated_gaussian
    from nextstat.diagnostics import correctness, parameter_summary
    from nextstat.samplers.laps import ensemble_metric

    jax.config.update("jax_enable_x64", True)
    d = 6
    scales = np.geomspace(0.1, 10.0, d)
    cov = 0.99 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d))) * np.outer(scales, scales)
    draws = jax.random.multivariate_normal(jax.random.key(0), jnp.zeros(d), jnp.asarray(cov), (4096,))
    estimate = np.asarray(ensemble_metric(draws, None, "covariance"))
    np.testing.assert_allclose(estimate, cov, rtol=0.1, atol=0.05 * np.outer(scales, scales).max() * 1e-2)
    case = correlated_gaussian(d, 0.99)
    settings = resolve_settings({**SETTINGS, "adaptation": "covariance"}, "nextstat_laps")
    result = load_engine("nextstat_laps").run(case, settings, Budget(256, 300, 300), 4)
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]


def test_the_first_step_search_only_halves_when_asked_to():
    import jax
    import jax.numpy as jnp

    from nextstat.samplers.step_size import LOG_08, double_or_halve

    def log_accept(_key, eps):  # acceptance falls from 1 as eps grows past 1
        return jnp.log(jnp.minimum(1.0, 1.0 / eps))

    key = jax.random.key(0)
    grown, grown_evals = double_or_halve(key, 0.5, log_accept, LOG_08)
    kept, kept_evals = double_or_halve(key, 0.5, log_accept, LOG_08, grow=False)
    assert float(grown) == 2.0 and int(grown_evals) == 4  # 0.5 -> 1 -> 2, where acceptance 0.5 < 0.8
    assert float(kept) == 0.5 and int(kept_evals) == 1  # above the target: kept after one look
    halved, _ = double_or_halve(key, 8.0, log_accept, LOG_08, grow=False)
    assert float(halved) == 1.0  # below it: halved until it crosses, as before


def test_a_superchains_shared_start_pays_its_set_up_once_for_all_its_chains():
    """The climb and the first step's search run once per superchain start; the ensemble
    of 4 superchains of 16 chains is charged what 4 lone chains from the same starts pay."""
    import jax
    import jax.numpy as jnp

    from nextstat.cases import get_case
    from nextstat.samplers import laps

    case = get_case("std_normal_d10")
    starts = jnp.asarray(np.random.default_rng(3).uniform(-30, 30, size=(4, 10)))  # far: the climb moves them
    key = jax.random.key(5)

    def setup_grads(positions, superchain_size):
        warmup = laps.run_warmup(
            key, positions, case.log_density, 0, tune_length=False, superchain_size=superchain_size
        )
        return int(warmup.grads)

    alone = setup_grads(starts, 1)
    shared = setup_grads(jnp.repeat(starts, 16, axis=0), 16)
    assert alone > 4 * 20  # each far start climbed
    assert shared == alone


def test_a_stuck_chain_takes_the_state_of_a_moving_chain_of_its_superchain_first():
    import jax
    import jax.numpy as jnp

    from nextstat.samplers import laps
    from nextstat.samplers.mams import MAMSState

    positions = jnp.arange(8.0)[:, None] * jnp.ones((8, 2))
    states = MAMSState(positions, -jnp.arange(8.0), -positions)
    moving, stuck = 0.9, 0.0
    # superchains of 4: chain 1 stuck beside moving ones; every chain of the second superchain stuck
    recent = jnp.asarray([moving, stuck, moving, moving, stuck, stuck, stuck, stuck])
    restarted, count = laps.restart_stuck(jax.random.key(0), states, recent, superchain_size=4)
    rows = np.asarray(restarted.position[:, 0]).astype(int)
    assert int(count) == 5
    assert rows[1] in (0, 2, 3)  # from its own superchain
    assert all(row in (0, 2, 3) for row in rows[4:])  # nothing moves in its own: from the moving ones
    assert list(rows[[0, 2, 3]]) == [0, 2, 3]
    # each restarted chain carries the whole state of its source
    np.testing.assert_array_equal(np.asarray(restarted.logdensity), -rows)
    np.testing.assert_array_equal(np.asarray(restarted.logdensity_grad), -np.asarray(restarted.position))
    # nothing stuck, or nothing moving: the states as they were
    for recent in (jnp.full(8, moving), jnp.full(8, stuck)):
        same, count = laps.restart_stuck(jax.random.key(0), states, recent, superchain_size=4)
        assert int(count) == 0
        np.testing.assert_array_equal(np.asarray(same.position), np.asarray(positions))


@pytest.mark.parametrize("far", [1.0, 3.0])
def test_warmup_restarts_a_chain_it_left_far_out_and_no_other(far):
    """One superchain of four starts at three times the typical radius of a 100-dimensional
    Gaussian with scales over a decade. Without the restart one of its chains ends warmup
    at twice the typical radius and accepts under 1% of its draws' proposals (measured
    when the restart was written); with it, every chain moves. From typical starts nothing
    is restarted."""
    from nextstat.engines.jax_common import configure_jax

    configure_jax("float64")
    import jax
    import jax.numpy as jnp

    from nextstat.samplers import laps

    d = 100
    scales = jnp.asarray(np.logspace(-1, 0, d))

    def log_density(x):
        return -0.5 * jnp.sum((x / scales) ** 2)

    starts = np.random.default_rng(0).normal(size=(4, d)) * np.asarray(scales)
    starts[3] *= far
    positions = jnp.asarray(np.repeat(starts, 16, axis=0))
    warmup = jax.jit(lambda key, x: laps.run_warmup(key, x, log_density, 200, superchain_size=16))(
        jax.random.key(1), positions
    )
    draws = jax.jit(lambda key, ensemble: laps.sample(key, ensemble, log_density, 100, report_chains=64))(
        jax.random.key(2), warmup.ensemble
    )
    accepted = np.asarray(draws.info.accepted).mean(axis=0)
    if far == 1.0:
        assert list(np.asarray(warmup.restarted)) == [0, 0]
    else:
        assert int(np.sum(warmup.restarted)) >= 1
    assert accepted.min() > 0.2, accepted.min()
