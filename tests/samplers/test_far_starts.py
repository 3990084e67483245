"""Far starts: MAMS, LAPS and our NUTS (with each of its metric adaptations) on
posteriors whose U(-2, 2) starts lie far from the mode (``cases/far_start.py``), and the
pieces that make that safe: the climb, the start's curvature metric, the step-size
floor, honest transition statistics, and a health gate that no frozen chain can pass."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nextstat.cases.far_start import FAR_START_CASES, arma11, ma1
from nextstat.diagnostics import correctness, frozen_chains, health_gate, run_metrics, step_size_ratio
from nextstat.engines import Budget, load_engine, resolve_settings
from nextstat.samplers import mams
from nextstat.samplers.approach import climb, curvature_metric
from nextstat.samplers.nutpie_warmup import INITIAL_STEP, nutpie_step_size_search, run_nutpie_warmup
from nextstat.samplers.nuts import init as nuts_init
from nextstat.samplers.stan_warmup import find_reasonable_step_size
from nextstat.samplers.step_size import dual_averaging_init, dual_averaging_update

jax.config.update("jax_enable_x64", True)

#: label -> (engine, settings, budget): every sampler of ours, our NUTS with each of its metric adaptations
ENGINES = {
    "nextstat_mams": ("nextstat_mams", {"target_accept": 0.9}, Budget(4, 1000, 1000)),
    "nextstat_nuts": ("nextstat_nuts", {}, Budget(4, 1000, 1000)),
    "nextstat_nuts_fisher": ("nextstat_nuts", {"adaptation": "fisher", "schedule": "stan"}, Budget(4, 1000, 1000)),
    "nextstat_nuts_fisher_lowrank": (
        "nextstat_nuts",
        {"adaptation": "fisher-lowrank", "schedule": "stan"},
        Budget(4, 1000, 1000),
    ),
    "nextstat_nuts_stan_nutpie": ("nextstat_nuts", {"adaptation": "stan", "schedule": "nutpie"}, Budget(4, 1000, 1000)),
    "nextstat_nuts_fisher_nutpie": (
        "nextstat_nuts",
        {"adaptation": "fisher", "schedule": "nutpie"},
        Budget(4, 1000, 1000),
    ),
    "nextstat_nuts_fisher_lowrank_nutpie": (
        "nextstat_nuts",
        {"adaptation": "fisher-lowrank", "schedule": "nutpie"},
        Budget(4, 1000, 1000),
    ),
    "nextstat_laps": (
        "nextstat_laps",
        {"chain_method": "vectorized", "report_chains": 256, "target_accept": 0.9},
        Budget(1024, 1000, 1000),
    ),
}

#: (case, engine) -> the R-hat bound where it is not 1.01, and why. LAPS on arma11: no chain
#: frozen and every mean within |z| < 2.3 on seed 42, but its 256 reported chains of 1000
#: draws mix slowly along the posterior's mu-phi correlation (R-hat 1.020; 1.010 at 2000
#: draws): its per-chain mixing on real posteriors is issue 32's, not a far start's.
RHAT_BOUND = {("arma11", "nextstat_laps"): 1.03}
#: (case, engine, seed) -> what fails there, found and left open (strict: a fix turns it red)
KNOWN_FAILURES = {
    ("arma11", "nextstat_laps", 777): "2 of LAPS's 1024 chains freeze from the ARMA far starts on seed 777 "
    "(our NUTS on every adaptation and schedule, and MAMS, pass there): LAPS on real posteriors is issue 32's",
}


def _sampled_correctly(case, label, seed):
    engine, settings, budget = ENGINES[label]
    result = load_engine(engine).run(case, resolve_settings(settings, engine), budget, seed)
    assert np.all(np.isfinite(result.sample_stats["step_size"]))  # no NaN step size, on any chain
    computed = run_metrics(result, 10)
    metrics = computed["metrics"]
    verdict = correctness(computed["summary"], case.reference)
    bound = RHAT_BOUND.get((case.name, label), 1.01)
    assert metrics["frozen_chains"] == 0
    assert metrics["max_rhat"] < bound, metrics["max_rhat"]
    assert verdict["max_z"] < 4.0, verdict["z"]
    if "max_nested_rhat" in metrics:
        assert metrics["max_nested_rhat"] < bound, metrics["max_nested_rhat"]


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("name", list(FAR_START_CASES))
def test_far_starts_are_sampled_correctly(name, engine):
    """Before the climb and the curvature metric, MAMS froze 2 of 4 chains on ma1 (eps
    2e-22, acceptance still 0.92, R-hat 3.3) and missed scaled_regression by |z| = 277."""
    _sampled_correctly(FAR_START_CASES[name](), engine, 42)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [123, 777])
@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("name", list(FAR_START_CASES))
def test_far_starts_are_sampled_correctly_on_every_protocol_seed(name, engine, seed, request):
    if (name, engine, seed) in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[(name, engine, seed)]))
    _sampled_correctly(FAR_START_CASES[name](), engine, seed)


def test_the_climb_leaves_a_near_start_alone_and_brings_a_far_one_in():
    near = jnp.asarray(np.random.default_rng(0).uniform(-2, 2, 10))
    moved, info = climb(lambda x: -0.5 * jnp.sum(x**2), near)
    assert int(info.iterations) == 0 and np.array_equal(np.asarray(moved), np.asarray(near))

    case = ma1()
    far = jnp.asarray([0.5, 2.0, 0.0])  # theta = 2: log density about -7e59
    assert float(case.log_density(far)) < -1e59
    moved, info = climb(case.log_density, far)
    assert int(info.iterations) >= 1 and float(info.gain) > 1e59
    assert abs(float(moved[1])) < 1.0 and float(case.log_density(moved)) > -1e3


def test_curvature_metric_is_exact_for_independent_gaussians_and_unit_where_not_concave():
    scales = jnp.asarray([1e-4, 1.0, 1e3])
    inverse_metric, grads = curvature_metric(lambda x: -0.5 * jnp.sum((x / scales) ** 2), jnp.ones(3))
    np.testing.assert_allclose(np.asarray(inverse_metric), np.asarray(scales**2), rtol=1e-10)
    assert grads == 6
    convex_in_first = lambda x: 0.5 * x[0] ** 2 - 0.5 * x[1] ** 2  # noqa: E731
    np.testing.assert_allclose(np.asarray(curvature_metric(convex_in_first, jnp.ones(2))[0]), [1.0, 1.0])


def test_dual_averaging_floor_holds_through_a_run_of_rejections():
    da = dual_averaging_init(0.5)
    unfloored = da
    for _ in range(200):
        da, eps = dual_averaging_update(da, 0.0, delta=0.9, floor=1e-3 * 0.5)
        unfloored, eps_unfloored = dual_averaging_update(unfloored, 0.0, delta=0.9)
    assert float(eps) == pytest.approx(5e-4) and float(np.exp(da.x_bar)) >= 5e-4 * (1 - 1e-12)
    assert float(eps_unfloored) < 1e-100  # what froze MAMS's chains


def test_a_transition_reports_what_the_metropolis_step_did_and_how_far_it_went():
    kernel = mams.build_kernel(lambda x: -0.5 * jnp.sum(x**2))
    state = mams.init(jnp.ones(3), lambda x: -0.5 * jnp.sum(x**2))
    _, tiny = kernel(jax.random.key(0), state, 1e-30, 1e-30, jnp.ones(3), 0.0)
    assert float(tiny.accept_prob) == pytest.approx(1.0) and float(tiny.distance) < 1e-20
    moved, info = kernel(jax.random.key(1), state, 0.5, 1.0, jnp.ones(3), 0.0)
    expected = float(jnp.linalg.norm(moved.position - state.position))
    assert float(info.distance) == pytest.approx(expected)
    assert (float(info.distance) > 0) == bool(info.accepted)


def test_mams_find_reasonable_step_size_halves_down_to_the_far_starts_scale():
    case = ma1()
    kernel = mams.build_kernel(case.log_density)
    state = mams.init(jnp.asarray([0.5, 2.0, 0.0]), case.log_density)
    eps, grads = mams.find_reasonable_step_size(jax.random.key(0), kernel, state, 0.5, jnp.ones(3))
    assert 0 < float(eps) < 1e-5 and int(grads) > 2 * 16  # more than 16 halvings from 0.5
    _, info = kernel(jax.random.key(1), state, eps, eps, jnp.ones(3), 0.0)
    assert float(info.accept_prob) > 0.5


def test_a_frozen_chain_fails_every_health_gate():
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((4, 500, 3))
    draws[1] = np.array([0.3, -1.2, 0.8]) + 1e-15 * rng.standard_normal((500, 3))  # eps 1e-22: last bits move
    assert frozen_chains(draws) == 1
    assert frozen_chains(rng.standard_normal((4, 500, 3))) == 0
    metrics = {
        "max_rhat": 1.0,
        "divergences": 0,
        "min_ebfmi": 1.0,
        "min_ess_bulk": 1e4,
        "min_ess_tail": 1e4,
        "frozen_chains": 1,
    }
    for kind in ("nuts-strict", "microcanonical"):
        gate = health_gate(metrics, kind=kind)
        assert not gate["passed"] and [c["name"] for c in gate["checks"] if not c["passed"]] == ["frozen_chains"]
    collapsed = health_gate({**metrics, "frozen_chains": 0, "min_step_size_ratio": 1e-20}, kind="microcanonical")
    assert [c["name"] for c in collapsed["checks"] if not c["passed"]] == ["min_step_size_ratio"]
    assert step_size_ratio({"initial_step_size_per_chain": [0.5, 0.5], "step_size_per_chain": [1.0, 1e-22]}) < 1e-20
    assert step_size_ratio({"initial_step_size": 0.2, "step_size": 0.4}) == pytest.approx(2.0)


def test_sample_warns_and_auto_falls_back_to_nuts_when_mams_warmup_failed(monkeypatch):
    import nextstat
    from nextstat import api

    real = api.run_problems

    def mams_froze(result, health_gate_kind, max_tree_depth=10):
        if result.engine_info.get("frontend") == "nextstat.samplers.mams":
            return [("frozen", "3 of 4 chains frozen (their draws do not move)")]
        return real(result, health_gate_kind, max_tree_depth)

    monkeypatch.setattr(api, "run_problems", mams_froze)
    with pytest.warns(api.SamplingWarning, match="3 of 4 chains frozen"):
        nextstat.sample("std_normal_d2", method="mams", n_chains=2, n_warmup=100, n_samples=100)
    with pytest.warns(api.SamplingWarning, match="sampling with NUTS instead"):
        idata = nextstat.sample("std_normal_d2", method="auto", n_chains=2, n_warmup=150, n_samples=150)
    assert idata.attrs["method"] == "nuts" and "frozen" in idata.attrs["auto_fallback"]


def test_sample_is_silent_on_a_healthy_run():
    import nextstat

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        idata = nextstat.sample(
            "std_normal_d2", method="mams", n_chains=4, n_warmup=500, n_samples=1000, seed=1, target_accept=0.9
        )
    assert float(idata.sample_stats["distance"].mean()) > 0
    assert idata.sample_stats["accepted"].dtype == bool


def _arma11_far_point(case, log_density_at: float):
    """A point on the segment from the reference mean to the seed-42 chain-1 start (log
    density -5e110, theta 1.6) where the log density is about ``log_density_at``."""
    from nextstat.cases.start_points import start_points

    far = jnp.asarray(start_points(case, 42, 4)[1])
    centre = jnp.asarray([case.reference.mean["mu"], case.reference.mean["phi"], case.reference.mean["theta"], 0.0])
    low, high = 0.0, 1.0  # fractions of the way out: log density above / below the target
    for _ in range(200):
        middle = 0.5 * (low + high)
        if float(case.log_density(centre + middle * (far - centre))) > log_density_at:
            low = middle
        else:
            high = middle
    return centre + high * (far - centre)


def test_nutpie_step_size_search_falls_back_to_its_first_step_where_that_step_diverges():
    """At the arma11 start where our NUTS on nutpie's schedule froze (log density -5e110,
    gradient 1e113): Stan's heuristic halves to below 1e-30, from which dual averaging
    never recovered; nuts-rs's search keeps 0.1 and does not restart dual averaging."""
    from nextstat.cases.start_points import start_points

    case = arma11()
    state = nuts_init(jnp.asarray(start_points(case, 42, 4)[1]), case.log_density)
    assert float(state.logdensity) < -1e100
    metric = jnp.clip(1.0 / jnp.abs(state.logdensity_grad), 1e-10, 1e10)
    stan = find_reasonable_step_size(jax.random.key(0), state, 1.0, metric, case.log_density)
    assert float(stan) < 1e-30
    eps, found = nutpie_step_size_search(jax.random.key(0), state, metric, case.log_density, 0.8)
    assert float(eps) == INITIAL_STEP and not bool(found)


def test_nutpie_step_size_search_finds_a_step_where_the_target_is_well_scaled():
    def logdensity(x):
        return -0.5 * jnp.sum(x**2)

    state = nuts_init(jnp.asarray(np.random.default_rng(0).standard_normal(10)), logdensity)
    eps, found = nutpie_step_size_search(jax.random.key(1), state, jnp.ones(10), logdensity, 0.8)
    assert bool(found) and 0.2 < float(eps) < 4.0  # one leapfrog step's acceptance crosses 0.8 near 1
    narrow = lambda x: logdensity(x / 0.03)  # noqa: E731  (scales 0.03: halved from 0.1)
    eps, found = nutpie_step_size_search(
        jax.random.key(1), nuts_init(state.position * 0.03, narrow), jnp.ones(10), narrow, 0.8
    )
    assert bool(found) and 0.005 < float(eps) < 0.05
    steep = lambda x: logdensity(x / 0.01)  # noqa: E731  (0.1 is 10 scales: that step diverges, no search)
    eps, found = nutpie_step_size_search(
        jax.random.key(1), nuts_init(state.position * 0.01, steep), jnp.ones(10), steep, 0.8
    )
    assert float(eps) == INITIAL_STEP and not bool(found)


@pytest.mark.parametrize("adaptation", ["fisher", "fisher-lowrank", "stan"])
def test_nutpie_warmup_from_a_log_density_of_minus_1e10_reaches_the_typical_set(adaptation):
    """The issue's start: log density -1e10, gradient about 1e12 (every coordinate), one chain
    of nutpie's schedule; the warmup ends in the typical set (log density about -100) with a
    usable step size."""
    case = arma11()
    start = _arma11_far_point(case, -1e10)
    value, grad = jax.value_and_grad(case.log_density)(start)
    assert -2e10 < float(value) < -5e9 and float(jnp.max(jnp.abs(grad))) > 1e9
    final, _ = run_nutpie_warmup(jax.random.key(42), start, case.log_density, 1000, adaptation=adaptation)
    assert float(final.state.logdensity) > -130, float(final.state.logdensity)
    assert float(final.step_size) > 0.05, float(final.step_size)
