"""emcee's ensemble sampler as an engine: the real package, its own statistics, its gate."""

import pytest

from nextstat.artifacts import RUN_SCHEMA, validate
from nextstat.engines import Budget
from nextstat.engines.emcee_ensemble import MAX_KEPT_BYTES, diagnosed_walkers, walker_count
from nextstat.run_spec import RunSpec
from nextstat.runner import execute

pytest.importorskip("emcee", reason="emcee is a pinned dependency: reinstall with pip install -e '.[test]'")


def _run(tmp_path, seed=42, budget=Budget(4, 500, 2000), **settings):
    artifact = execute(RunSpec("std_normal_d10", "emcee_ensemble", seed, budget, settings=settings, out=str(tmp_path)))
    validate(artifact, RUN_SCHEMA)
    return artifact


def test_emcee_samples_the_standard_normal_and_reports_its_own_autocorrelation_time(tmp_path):
    artifact = _run(tmp_path / "a.json")
    assert artifact["status"] == "ok", artifact["reason"]
    info = artifact["engine_info"]
    assert info["walkers"] == 40  # four per dimension
    assert artifact["correctness"]["max_z"] < 4.0
    assert 0.2 <= info["acceptance_fraction"] <= 0.5  # the stretch move on a Gaussian in 10 dimensions
    assert len(info["autocorr_time"]) == 10 and info["autocorr_time_max"] > 1.0
    assert info["emcee_ess_min"] == pytest.approx(40 * 2000 / info["autocorr_time_max"])
    # one density evaluation per walker per step, where other engines count gradients
    assert artifact["gradients"] == {"warmup": 40 * 500, "sampling": 40 * 2000}
    gate = artifact["quality"]
    assert gate["gate"] == "ensemble" and {"min_acceptance", "max_acceptance"} <= {c["name"] for c in gate["checks"]}
    assert artifact["second_moment_bias"]["chains"] == 40


def test_the_same_seed_gives_the_same_draws_and_another_seed_other_draws(tmp_path):
    budget = Budget(4, 50, 100)
    first, again, other = (_run(tmp_path / f"{i}.json", seed, budget) for i, seed in enumerate((1, 1, 2)))
    assert first["draws_sha256"] == again["draws_sha256"] != other["draws_sha256"]


def test_walkers_default_to_four_per_dimension_and_never_below_twice_it():
    assert walker_count(0, 10) == 40 and walker_count(0, 2) == 16 and walker_count(33, 10) == 34
    from nextstat.engines.base import EngineUnavailable

    with pytest.raises(EngineUnavailable, match="at least twice the dimension"):
        walker_count(8, 10)


def test_too_few_walkers_is_a_skipped_run_that_says_why(tmp_path):
    artifact = _run(tmp_path / "few.json", budget=Budget(4, 10, 20), walkers=8)
    assert artifact["status"] == "skipped" and "twice the dimension (20)" in artifact["reason"]


def test_past_two_gib_of_draws_only_the_first_walkers_are_kept_and_diagnosed():
    """4,000 walkers of dimension 1,000 would keep 32 GB of draws (the scaling suite's first
    try ran out of memory): then as many walkers as fit in 2 GiB are kept."""
    assert diagnosed_walkers(0, 40, 2000, 10) == 40
    fitting = MAX_KEPT_BYTES // (8 * 1000 * 1000)
    assert diagnosed_walkers(0, 4000, 1000, 1000) == fitting == 268
    assert diagnosed_walkers(16, 4000, 1000, 1000) == 16 and diagnosed_walkers(100, 40, 10, 10) == 40


def test_a_subset_of_walkers_is_diagnosed_while_every_walker_samples(tmp_path):
    budget = Budget(4, 200, 400)
    every = _run(tmp_path / "all.json", budget=budget)
    subset = _run(tmp_path / "ten.json", budget=budget, report_walkers=10)
    assert subset["status"] == "ok", subset["reason"]
    info, full = subset["engine_info"], every["engine_info"]
    assert info["walkers"] == 40 and info["walkers_diagnosed"] == info["report_chains"] == 10
    assert subset["gradients"] == {"warmup": 10 * 200, "sampling": 10 * 400}  # the diagnosed walkers' evaluations
    # the same ensemble sampled: its acceptance over every walker is the full run's
    assert info["acceptance_fraction"] == pytest.approx(full["acceptance_fraction"], rel=1e-12)
    assert subset["draws_sha256"] != every["draws_sha256"]
