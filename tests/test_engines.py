"""Each baseline engine on a target with known moments: shapes, counts, moments, determinism."""

import numpy as np
import pytest

from nextstat.cases import get_case
from nextstat.engines import Budget, SettingsError, load_engine, resolve_settings

BUDGET = Budget(2, 300, 500)


def _check(result, case, budget):
    result.check(budget)
    assert result.draws.shape == (budget.chains, budget.draws, case.dim)
    assert set(result.sample_stats) == {"n_steps", "diverging", "energy", "acceptance_rate", "step_size", "tree_depth"}
    assert result.grad_evals_sampling == int(result.sample_stats["n_steps"].sum()) > budget.chains * budget.draws
    assert result.grad_evals_warmup > budget.chains * budget.warmup
    assert result.sampling_s > 0 and result.warmup_s > 0 and result.compile_s > 0
    assert np.all(result.sample_stats["tree_depth"] >= 1)
    # standard normal: every mean within 5 Monte Carlo errors of 0, every sd near 1
    draws = result.draws.reshape(-1, case.dim)
    mcse = draws.std(axis=0) / np.sqrt(budget.chains * budget.draws / 2)  # ESS >= N/2 for NUTS on a Gaussian
    assert np.all(np.abs(draws.mean(axis=0)) < 5 * mcse)
    assert np.all(np.abs(draws.std(axis=0) - 1.0) < 0.15)


@pytest.mark.parametrize("engine", ["blackjax_nuts", "numpyro_nuts"])
def test_jax_engines_sample_a_standard_normal(engine):
    case = get_case("std_normal_d10")
    result = load_engine(engine).run(case, resolve_settings({}), BUDGET, seed=7)
    _check(result, case, BUDGET)
    assert 0.6 < result.sample_stats["acceptance_rate"].mean() < 0.98


@pytest.mark.parametrize("engine", ["blackjax_nuts", "numpyro_nuts"])
def test_same_seed_same_draws(engine):
    case = get_case("std_normal_d10")
    budget = Budget(1, 100, 50)
    first = load_engine(engine).run(case, resolve_settings({}), budget, seed=3)
    second = load_engine(engine).run(case, resolve_settings({}), budget, seed=3)
    other = load_engine(engine).run(case, resolve_settings({}), budget, seed=4)
    np.testing.assert_array_equal(first.draws, second.draws)
    assert not np.array_equal(first.draws, other.draws)


def test_settings_reach_the_engine():
    case = get_case("std_normal_d10")
    result = load_engine("numpyro_nuts").run(case, resolve_settings({"max_tree_depth": 2}), Budget(1, 100, 100), seed=1)
    assert result.sample_stats["n_steps"].max() <= 3  # 2 doublings: at most 2^2 - 1 leapfrog steps


@pytest.mark.stan
def test_stan_engine_samples_and_never_replays_a_cached_fit():
    case = get_case("std_normal_d10")
    engine = load_engine("stan_nuts")
    result = engine.run(case, resolve_settings({}), BUDGET, seed=7)
    _check(result, case, BUDGET)
    assert result.engine_info["frontend"] in ("pystan", "cmdstanpy")
    if result.engine_info["frontend"] == "pystan":
        # the fit files we would delete are the ones httpstan wrote: our names match its names
        from pathlib import Path

        files = [Path(p) for p in result.engine_info["fit_cache_files"]]
        assert len(files) == BUDGET.chains and all(p.exists() for p in files)
        before = [p.stat().st_mtime_ns for p in files]
    again = engine.run(case, resolve_settings({}), BUDGET, seed=7)
    np.testing.assert_array_equal(result.draws, again.draws)  # same seed, same draws
    if result.engine_info["frontend"] == "pystan":  # ... sampled anew, not replayed from httpstan's cache
        assert [p.stat().st_mtime_ns for p in files] != before


@pytest.mark.parametrize("overrides, message", [
    ({"target_accept": 1.5}, "target_accept"),
    ({"max_tree_depth": 0}, "max_tree_depth"),
    ({"metric": "full"}, "metric"),
    ({"warp_drive": True}, "unknown engine setting 'warp_drive'"),
])
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(SettingsError, match=message):
        resolve_settings(overrides)


@pytest.mark.parametrize("spec, message", [("-1", "warmup"), ("4x10", "CHAINSxWARMUPxDRAWS"), ("0x10x10", "chains"),
                                           ("2x10x2", "draws")])
def test_bad_budgets_are_named(spec, message):
    with pytest.raises(SettingsError, match=message):
        Budget.parse(spec)


def test_budget_forms():
    assert Budget.parse("4x500x1000") == Budget(4, 500, 1000)
    assert Budget.parse(200) == Budget(4, 200, 200)
