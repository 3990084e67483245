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
    result = load_engine(engine).run(case, resolve_settings({}, engine), BUDGET, seed=7)
    _check(result, case, BUDGET)
    assert 0.6 < result.sample_stats["acceptance_rate"].mean() < 0.98


def test_numpyro_runs_its_chains_vectorized_as_its_users_can_and_others_refuse_it():
    """chain_method="vectorized": the chains as one vmapped batch, each its own tree, timed
    as the batch's wall time. (Not the sequential chains bit for bit: batched reductions in
    the warmup round differently, and the chains drift apart from the first draw.)"""
    case = get_case("std_normal_d10")
    budget = Budget(4, 200, 300)
    settings = resolve_settings({"chain_method": "vectorized"}, "numpyro_nuts")
    batched = load_engine("numpyro_nuts").run(case, settings, budget, seed=7)
    _check(batched, case, budget)
    again = load_engine("numpyro_nuts").run(case, settings, budget, seed=7)
    np.testing.assert_array_equal(batched.draws, again.draws)
    from nextstat.engines.base import SettingsError

    with pytest.raises(SettingsError, match="runs chains sequentially on CPU; chain_method='vectorized'"):
        load_engine("blackjax_nuts").run(case, resolve_settings({"chain_method": "vectorized"}), budget, seed=7)


@pytest.mark.parametrize("engine", ["blackjax_nuts", "numpyro_nuts"])
def test_same_seed_same_draws(engine):
    case = get_case("std_normal_d10")
    budget = Budget(1, 100, 50)
    first = load_engine(engine).run(case, resolve_settings({}, engine), budget, seed=3)
    second = load_engine(engine).run(case, resolve_settings({}, engine), budget, seed=3)
    other = load_engine(engine).run(case, resolve_settings({}, engine), budget, seed=4)
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


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"target_accept": 1.5}, "target_accept"),
        ({"max_tree_depth": 0}, "max_tree_depth"),
        ({"metric": "full"}, "metric"),
        ({"warp_drive": True}, "unknown engine setting 'warp_drive'"),
    ],
)
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(SettingsError, match=message):
        resolve_settings(overrides)


@pytest.mark.parametrize(
    "spec, message", [("-1", "warmup"), ("4x10", "CHAINSxWARMUPxDRAWS"), ("0x10x10", "chains"), ("2x10x2", "draws")]
)
def test_bad_budgets_are_named(spec, message):
    with pytest.raises(SettingsError, match=message):
        Budget.parse(spec)


def test_budget_forms():
    assert Budget.parse("4x500x1000") == Budget(4, 500, 1000)
    assert Budget.parse(200) == Budget(4, 200, 200)


def test_every_registered_engine_provides_the_contract():
    from nextstat.engines import ENGINES, EngineSpec

    for name in ENGINES:
        spec = load_engine(name)
        assert isinstance(spec, EngineSpec) and spec.name == name
        assert spec.health_gate in ("nuts-strict", "microcanonical", "ensemble")
        assert ("tree_depth" in spec.stat_names) == spec.nuts
        resolved = resolve_settings({}, name)
        assert resolve_settings(resolved, name) == resolved  # resolving twice changes nothing
        for key, own in spec.settings.items():
            assert resolved[key] == own.default and own.default in own.allowed


def test_the_registry_finds_every_engine_module_and_lists_them_in_order():
    import importlib
    import pkgutil

    import nextstat.engines as engines

    defining = {
        module.name
        for module in pkgutil.iter_modules(engines.__path__)
        if hasattr(importlib.import_module(f"nextstat.engines.{module.name}"), "ENGINE")
    }
    assert set(engines.ENGINES) == defining and {"base", "contract", "jax_common"}.isdisjoint(engines.ENGINES)
    shipped = [
        "nextstat_nuts",
        "nextstat_mams",
        "nextstat_laps",
        "stan_nuts",
        "blackjax_nuts",
        "blackjax_mams",
        "blackjax_laps",
        "numpyro_nuts",
    ]
    assert [name for name in engines.ENGINES if name in shipped] == shipped
    assert engines.REFERENCE_ENGINE in engines.ENGINES and load_engine(engines.REFERENCE_ENGINE).compile is not None
    assert set(engines.SAMPLE_METHODS.values()) <= set(engines.ENGINES)


def test_reading_the_registry_imports_no_sampling_library():
    import subprocess
    import sys

    code = (
        "import sys; from nextstat.engines import ENGINES, load_engine; [load_engine(n) for n in ENGINES]; "
        "print(sorted(m for m in ('jax', 'blackjax', 'numpyro', 'stan', 'cmdstanpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_engine_setting_is_refused_by_the_engines_that_do_not_take_it():
    with pytest.raises(
        SettingsError, match="'eps_jitter' is taken only by nextstat_mams, nextstat_laps, not nextstat_nuts"
    ):
        resolve_settings({"eps_jitter": 0.1}, "nextstat_nuts")
    with pytest.raises(SettingsError, match=r"eps_jitter=0.9: must be a number in \[0.0, 0.5\]"):
        resolve_settings({"eps_jitter": 0.9}, "nextstat_mams")


def test_a_missing_library_makes_the_engine_unavailable_not_broken():
    from nextstat.engines import EngineUnavailable
    from nextstat.engines.contract import EngineSpec, library_versions

    with pytest.raises(EngineUnavailable, match="no_such_sampler_lib"):
        library_versions("no_such_sampler_lib")
    assert library_versions("numpy") == {"numpy": np.__version__}
    with pytest.raises(ValueError, match="health gate"):
        EngineSpec(name="x", run=lambda *a: None, versions=dict, health_gate="lenient")


def test_compile_needs_an_engine_with_a_compile_step(tmp_path):
    from conftest import nextstat

    proc = nextstat("compile", "--case", "std_normal_d2", "--engine", "blackjax_nuts", "--out", tmp_path / "b.json")
    assert proc.returncode != 0 and "no compile step" in proc.stderr and "Traceback" not in proc.stderr


def test_cmdstan_elapsed_times_read_cmdstanpys_per_chain_list():
    """cmdstanpy 1.3's ``fit.time`` is a list of per-chain dicts; reading it as a mapping
    failed every Stan run once a CmdStan was installed."""
    from nextstat.engines.stan_nuts import cmdstan_elapsed

    chains = [{"warmup": 0.5, "sampling": 1.0, "total": 1.5}, {"warmup": 0.25, "sampling": 2.0, "total": 2.25}]
    assert cmdstan_elapsed(chains) == (0.75, 3.0)
    assert cmdstan_elapsed(dict(enumerate(chains))) == (0.75, 3.0)
    with pytest.raises(RuntimeError, match="no per-chain elapsed times"):
        cmdstan_elapsed([{"total": 1.0}])


def _cmdstan_found() -> str | None:
    try:
        import cmdstanpy

        return cmdstanpy.cmdstan_path()
    except Exception:
        return None


@pytest.mark.stan
@pytest.mark.skipif(
    _cmdstan_found() is None,
    reason="no CmdStan installed (set CMDSTAN, or install one where "
    "cmdstanpy looks: ~/.cmdstan); the PyStan path is tested above",
)
def test_cmdstan_frontend_samples_with_stans_own_timings():
    from nextstat.engines.stan_nuts import frontend

    assert frontend() == "cmdstanpy"
    case = get_case("std_normal_d10")
    engine = load_engine("stan_nuts")
    assert engine.versions()["cmdstan"].startswith("2.")  # cmdstanpy reports major.minor
    result = engine.run(case, resolve_settings({}, "stan_nuts"), BUDGET, seed=7)
    _check(result, case, BUDGET)
    assert result.engine_info["frontend"] == "cmdstanpy"
    assert 0 < result.warmup_s and 0 < result.sampling_s
    assert result.warmup_s + result.sampling_s <= result.engine_info["frontend_wall_s"]
    again = engine.run(case, resolve_settings({}, "stan_nuts"), BUDGET, seed=7)
    np.testing.assert_array_equal(result.draws, again.draws)
    assert again.engine_info["compile_cache"] == "hit"
