"""nutpie on the harness's JAX density: moments, exact gradient counts, shared starts,
determinism, the settings it refuses, and a missing nutpie as a skipped run."""

import sys

import numpy as np
import pytest

from nextstat.cases import get_case
from nextstat.engines import Budget, SettingsError, load_engine, resolve_settings

NAME = "nutpie_nuts"


def _run(case_name, budget, seed, **overrides):
    case = get_case(case_name)
    return case, load_engine(NAME).run(case, resolve_settings(overrides, NAME), budget, seed)


def _check_gradients(result, budget):
    info = result.engine_info
    n_steps = result.sample_stats["n_steps"]
    assert result.grad_evals_sampling == int(n_steps.sum()) == info["n_steps_sum"]["sampling"]
    assert info["gradients_counted"]["sampling"] == result.grad_evals_sampling  # no gradient outside the draws
    counted = sum(info["gradients_counted"].values())
    assert counted == result.grad_evals_warmup + result.grad_evals_sampling
    assert counted == info["n_steps_sum"]["warmup"] + info["n_steps_sum"]["sampling"] + info["gradients_outside_draws"]
    # one gradient at each start point, at least one step-size search per chain
    assert info["gradients_outside_draws"] >= 2 * budget.chains
    assert info["callback_us_per_grad"] > 0 and all(s >= 0 for s in info["sampler_own_s"].values())


@pytest.mark.parametrize(
    "adaptation, arguments",
    [
        ("fisher", {"use_grad_based_mass_matrix": True}),
        ("stan", {"use_grad_based_mass_matrix": False}),
        ("fisher-lowrank", {"low_rank_modified_mass_matrix": True}),
    ],
)
def test_each_adaptation_samples_a_standard_normal(adaptation, arguments):
    budget = Budget(2, 300, 300)
    case, result = _run("std_normal_d10", budget, seed=7, adaptation=adaptation)
    result.check(budget, load_engine(NAME).stat_names)
    assert result.param_names == case.param_names
    _check_gradients(result, budget)
    assert arguments.items() <= result.engine_info["nutpie_arguments"].items()
    assert result.engine_info["nutpie_arguments"]["cores"] == 1
    assert result.compile_s > 0 and result.warmup_s > 0 and result.sampling_s > 0
    assert 0.6 < result.sample_stats["acceptance_rate"].mean() < 0.99
    draws = result.draws.reshape(-1, case.dim)
    mcse = draws.std(axis=0) / np.sqrt(budget.chains * budget.draws / 2)  # ESS >= N/2 for NUTS on a Gaussian
    assert np.all(np.abs(draws.mean(axis=0)) < 5 * mcse)
    assert np.all(np.abs(draws.std(axis=0) - 1.0) < 0.15)


def test_eight_schools_matches_the_reference():
    from nextstat.diagnostics import correctness, parameter_summary

    budget = Budget(2, 300, 500)
    case, result = _run("eight_schools", budget, seed=11, target_accept=0.95)
    _check_gradients(result, budget)
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]
    # draws are constrained: tau > 0
    assert np.all(result.draws[..., case.param_names.index("tau")] > 0)


def test_chains_start_from_the_shared_points_and_repeat_with_the_seed(monkeypatch):
    from nextstat.engines import nutpie_nuts
    from nextstat.engines.jax_common import initial_points

    handed = []
    start_point = nutpie_nuts._Callbacks.start_point
    monkeypatch.setattr(
        nutpie_nuts._Callbacks, "start_point", lambda self, seed: handed.append(start_point(self, seed)) or handed[-1]
    )
    budget = Budget(3, 100, 50)
    case, first = _run("std_normal_d10", budget, seed=3)
    # chain c got start point c (the engine checks that nutpie's chain c is the c-th it started)
    np.testing.assert_array_equal(np.stack(handed), initial_points(case, 3, budget.chains))
    _, again = _run("std_normal_d10", budget, seed=3)
    _, other = _run("std_normal_d10", budget, seed=4)
    np.testing.assert_array_equal(first.draws, again.draws)
    np.testing.assert_array_equal(first.sample_stats["n_steps"], again.sample_stats["n_steps"])
    assert not np.array_equal(first.draws, other.draws)


def test_max_tree_depth_reaches_nutpie():
    _, result = _run("std_normal_d10", Budget(1, 50, 50), seed=1, max_tree_depth=2)
    assert result.engine_info["nutpie_arguments"]["maxdepth"] == 2
    assert result.sample_stats["n_steps"].max() <= 3 and result.sample_stats["tree_depth"].max() <= 2


def test_a_start_point_beyond_the_chains_is_an_error():
    from nextstat.engines.nutpie_nuts import _Callbacks

    calls = _Callbacks(None, None, np.zeros((1, 2)), warmup=1)
    calls.start_point(0)
    with pytest.raises(RuntimeError, match="start point 2 of 1 chains"):
        calls.start_point(0)


@pytest.mark.parametrize(
    "overrides, budget, message",
    [
        ({"dtype": "float32"}, Budget(1, 10, 10), "float64"),
        ({"adaptation": "stan", "metric": "dense"}, Budget(1, 10, 10), "metric='dense' is not offered"),
        ({"chain_method": "parallel"}, Budget(1, 10, 10), "runs chains sequentially"),
        ({}, Budget(1, 0, 10), "at least one warmup draw"),
    ],
)
def test_settings_nutpie_cannot_honour_are_refused(overrides, budget, message):
    with pytest.raises(SettingsError, match=message):
        _run("std_normal_d2", budget, seed=1, **overrides)


def test_adaptation_names_and_default():
    assert resolve_settings({}, NAME)["adaptation"] == "fisher"  # nutpie's own default
    with pytest.raises(SettingsError, match="metric='diag'"):
        resolve_settings({"adaptation": "fisher-lowrank", "metric": "dense"}, NAME)
    with pytest.raises(SettingsError, match="must be one of stan, fisher, fisher-lowrank"):
        resolve_settings({"adaptation": "dense"}, NAME)


def test_a_missing_nutpie_gives_a_skipped_artifact(monkeypatch):
    from nextstat.artifacts import validation_errors
    from nextstat.run_spec import RunSpec
    from nextstat.runner import execute

    monkeypatch.setitem(sys.modules, "nutpie", None)  # import nutpie now raises ImportError
    doc = execute(RunSpec("std_normal_d2", NAME, 1, Budget(1, 10, 10)))
    assert doc["status"] == "skipped" and "nutpie" in doc["reason"]
    assert validation_errors(doc) == []


def test_a_cli_run_writes_a_valid_artifact(tmp_path):
    import json

    from conftest import nextstat

    out = tmp_path / "nutpie.json"
    nextstat(
        "run",
        "--case",
        "std_normal_d2",
        "--engine",
        NAME,
        "--seed",
        5,
        "--budget",
        "2x100x100",
        "--set",
        'adaptation="stan"',
        "--out",
        out,
        check=True,
    )
    doc = json.loads(out.read_text())
    assert doc["status"] == "ok" and doc["config"]["settings"]["adaptation"] == "stan"
    assert doc["engine_info"]["versions"]["nutpie"] and doc["engine_info"]["nutpie_arguments"]["cores"] == 1
    assert doc["gradients"]["sampling"] == doc["engine_info"]["n_steps_sum"]["sampling"]
    proc = nextstat("validate", out, check=True)
    assert "1 valid, 0 invalid" in proc.stdout
