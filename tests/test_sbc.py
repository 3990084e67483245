"""Simulation-based calibration: a calibrated sampler passes, a miscalibrated one fails."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import nextstat

from nextstat.artifacts import SBC_SCHEMA, validation_errors
from nextstat.cases import CaseError
from nextstat.engines import Budget, resolve_settings
from nextstat.sbc import rank_of, run_sbc, thinned_draws, uniformity

MODEL = Path(__file__).parent / "data" / "sbc_conjugate.py"
EXACT, OVERCONFIDENT = f"{MODEL}:EXACT", f"{MODEL}:OVERCONFIDENT"
SIMULATOR = f"{MODEL}:CONJUGATE"
BUDGET = Budget(2, 0, 200)


def _sbc(engine, replications=300, seed=11, first=0):
    return run_sbc(
        SIMULATOR, engine, replications, seed, BUDGET, resolve_settings({}, engine), draws_per_rank=19, bins=20,
        log=lambda line: None, first_replication=first,
    )  # fmt: skip


def test_shards_merge_into_the_ranks_one_run_finds_and_mismatched_shards_are_refused():
    from nextstat.artifacts import ArtifactError
    from nextstat.sbc import merge_shards

    whole = _sbc(OVERCONFIDENT, 120)
    parts = [("b.json", _sbc(OVERCONFIDENT, 70, first=50)), ("a.json", _sbc(OVERCONFIDENT, 50))]
    [(path, merged)] = merge_shards(parts)
    assert path == "a.json + b.json" and merged["shards"] == 2 and merged["replications"] == 120
    assert merged["ranks"] == whole["ranks"] and merged["test"] == whole["test"]
    assert merged["verdict"] == whole["verdict"] == "miscalibrated" and validation_errors(merged, SBC_SCHEMA) == []
    with pytest.raises(ArtifactError, match="starts at replication 40, covered by an earlier shard"):
        merge_shards([parts[1], ("c.json", _sbc(OVERCONFIDENT, 30, first=40))])
    other_seed = _sbc(OVERCONFIDENT, 70, seed=12, first=50)
    assert len(merge_shards([parts[1], ("d.json", other_seed)])) == 2  # another seed is another run
    other_budget = {**parts[0][1], "budget": {"chains": 4, "warmup": 0, "draws": 200}}
    with pytest.raises(ArtifactError, match="differ in budget"):
        merge_shards([parts[1], ("e.json", other_budget)])


def test_an_exact_posterior_sampler_is_calibrated():
    artifact = _sbc(EXACT)
    assert validation_errors(artifact, SBC_SCHEMA) == []
    assert artifact["verdict"] == "calibrated" and artifact["replications_done"] == 300
    ranks = np.array(artifact["ranks"]["theta"])
    assert ranks.min() >= 0 and ranks.max() <= 19 and abs(ranks.mean() - 9.5) < 1.0


def test_an_overconfident_sampler_fails_with_its_ranks_at_the_ends():
    """Halving the posterior sd: the truth falls outside the draws too often, so its ranks
    pile up at 0 and 19 (300 replications are plenty: chi-square p far below 0.01)."""
    artifact = _sbc(OVERCONFIDENT)
    assert artifact["verdict"] == "miscalibrated" and artifact["miscalibrated_parameters"] == ["theta"]
    assert artifact["test"]["p_value"]["theta"] < 1e-6
    ranks = np.array(artifact["ranks"]["theta"])
    assert np.mean((ranks == 0) | (ranks == 19)) > 0.3  # a uniform rank lands there 10% of the time


def test_the_command_writes_the_artifact_and_the_histograms_and_exits_1_on_a_miscalibrated_engine(tmp_path):
    out = tmp_path / "sbc.json"
    args = ["--case", SIMULATOR, "--seed", 3, "--replications", 100, "--budget", "2x0x200", "--draws-per-rank", 19]
    proc = nextstat("sbc", *args, "--engine", OVERCONFIDENT, "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "miscalibrated over 100 replications" in proc.stdout
    artifact = json.loads(out.read_text())
    assert validation_errors(artifact, SBC_SCHEMA) == [] and artifact["command"].startswith("nextstat sbc --case")
    assert out.with_suffix(".png").stat().st_size > 0
    assert (tmp_path / "sbc_ecdf.png").stat().st_size > 0 and "outside the 95% ECDF band: theta" in proc.stdout
    proc = nextstat("sbc", *args, "--engine", EXACT, "--out", tmp_path / "ok.json")
    assert proc.returncode == 0 and "calibrated over 100" in proc.stdout


def test_our_nuts_runs_sbc_on_eight_schools_end_to_end():
    """A handful of replications only (compiled once, traced each): that it runs, ranks
    every parameter and records the engine's versions; calibration at scale is a
    benchmark's job, not CI's."""
    artifact = run_sbc(
        "eight_schools", "nextstat_nuts", 4, 5, Budget(2, 200, 200), resolve_settings({}, "nextstat_nuts"),
        draws_per_rank=19, bins=4, log=lambda line: None,
    )  # fmt: skip
    assert validation_errors(artifact, SBC_SCHEMA) == []
    assert artifact["parameters"][:2] == ["mu", "tau"] and len(artifact["ranks"]["tau"]) == 4
    assert all(0 <= r <= 19 for ranks in artifact["ranks"].values() for r in ranks)
    assert artifact["engine_versions"]["jax"]


def test_thinning_keeps_about_the_effective_draws_and_says_when_there_are_too_few():
    draws = np.arange(2 * 100, dtype=float).reshape(2, 100, 1)
    kept, short = thinned_draws(draws, ess=40.0, keep=19, rng=np.random.default_rng(0))
    assert kept.shape == (19, 1) and not short and len(np.unique(kept)) == 19
    assert np.all(np.diff(np.sort(kept[:, 0])) >= 5)  # every fifth draw of each chain
    kept, short = thinned_draws(draws, ess=10.0, keep=19, rng=np.random.default_rng(0))
    assert short and kept.shape == (19, 1)


def test_ranks_and_the_uniformity_test():
    rng = np.random.default_rng(0)
    assert rank_of(np.array([0.5]), np.array([[0.1], [0.9], [0.3]]), rng).tolist() == [2]
    uniform = rng.integers(0, 20, size=(2000, 1))
    _, p = uniformity(uniform, 19, 20)
    assert p[0] > 0.01
    _, p = uniformity(np.minimum(uniform, 10), 19, 20)
    assert p[0] < 1e-10


@pytest.mark.parametrize(
    "name", ["eight_schools", "neal_funnel_ncp_10d", "neal_funnel_10d", "glm_logistic_n200_p6", "hier_logistic_ri"]
)
def test_every_built_in_simulator_draws_simulates_and_conditions_its_case(name):
    """A prior draw has the case's parameters; the case built on the simulated data is the
    built-in case's model (same density on the committed data) with the new outcomes."""
    import jax

    from nextstat.cases import get_case
    from nextstat.cases.simulation import get_simulator

    simulator, committed = get_simulator(name), get_case(name)
    rng = np.random.default_rng(0)
    truth = simulator.draw(rng)
    data = simulator.simulate(truth, rng)
    case = simulator.case_for(data)
    assert truth.shape == (len(committed.param_names),) and case.param_names == committed.param_names
    point = np.linspace(-0.5, 0.5, len(committed.unconstrained_names))
    if data:  # the funnel has none: its posterior is its prior
        assert data["y"] != committed.data["y"] and set(data) <= set(committed.data)
        again = simulator.case_for(committed.data)
        assert float(jax.jit(again.log_density)(point)) == float(jax.jit(committed.log_density)(point))
    assert np.isfinite(float(jax.jit(case.log_density)(point)))


def test_a_case_that_cannot_simulate_is_refused_naming_those_that_can():
    with pytest.raises(CaseError, match="cannot simulate: expected one of eight_schools"):
        run_sbc("std_normal_d2", "nextstat_nuts", 1, 0, BUDGET, resolve_settings({}, "nextstat_nuts"))


def test_a_suite_summary_keeps_its_calibration_and_the_report_shows_it(tmp_path, ok_artifact):
    from nextstat.aggregate import aggregate
    from nextstat.artifacts import write_json
    from nextstat.report import write_report

    paths = []
    for engine, label in ((EXACT, "exact"), (OVERCONFIDENT, "overconfident")):
        artifact = _sbc(engine, replications=100)
        artifact["label"] = label
        paths.append(write_json(tmp_path / f"{label}.json", artifact, SBC_SCHEMA))
    write_json(tmp_path / "runs" / "run.json", ok_artifact)
    summary = aggregate("t", [tmp_path / "runs" / "run.json"], reference="blackjax_nuts", sbc_paths=paths)
    assert validation_errors(summary) == []
    assert [entry["verdict"] for entry in summary["calibration"]] == ["calibrated", "miscalibrated"]
    text = write_report(summary, tmp_path / "report").read_text()
    section = text.split("## Calibration (SBC)")[1].split("\n## ")[0]
    assert "| `overconfident` | 100" in section and "**miscalibrated**: theta" in section
    # it leaves the ECDF band too (the column after the smallest p)
    assert re.search(r"\*\*miscalibrated\*\*: theta\s*\|[^|]*\|\s*theta\s*\|", section), section
    assert len(list((tmp_path / "report" / "charts").glob("sbc_*.png"))) == 4  # histograms and ECDF per row


def test_the_ecdf_band_names_a_shifted_or_overconfident_parameter_and_passes_a_uniform_one():
    from nextstat.sbc_ecdf import band_exits, ecdf_difference

    rng = np.random.default_rng(5)
    draws = 99
    uniform = rng.integers(0, draws + 1, 1000)
    shifted = np.clip(rng.integers(0, draws + 1, 1000) + 10, 0, draws)  # a posterior biased low
    at_the_ends = np.where(rng.random(1000) < 0.15, rng.choice([0, draws], 1000), uniform)  # too narrow
    artifact = {
        "replications_done": 1000,
        "draws_per_rank": draws,
        "parameters": ["uniform", "shifted", "at_the_ends"],
        "ranks": {"uniform": uniform, "shifted": shifted, "at_the_ends": at_the_ends},
    }
    assert band_exits(artifact) == ["shifted", "at_the_ends"]
    z, diff = ecdf_difference(np.arange(draws + 1), draws)  # every rank once: the ECDF is the uniform CDF
    np.testing.assert_allclose(diff, 0.0, atol=1e-12)
    assert z[0] > 0 and z[-1] < 1


def test_a_case_without_data_makes_a_replication_of_each_chain_of_one_run():
    prior = f"{MODEL}:PRIOR_ONLY"
    calls = []

    def sbc(engine, **options):
        return run_sbc(
            prior, engine, 300, 11, BUDGET, resolve_settings({}, engine), draws_per_rank=19, bins=20,
            log=calls.append, **options,
        )  # fmt: skip

    exact = sbc(EXACT)
    assert exact["replicated_by"] == "chains" and exact["budget"]["chains"] == 300  # one run, a chain each
    assert calls == ["sbc: one run of 300 chains, a chain per replication"]
    assert exact["verdict"] == "calibrated" and validation_errors(exact, SBC_SCHEMA) == []
    assert sbc(OVERCONFIDENT)["verdict"] == "miscalibrated"
    by_runs = sbc(EXACT, replicate_by="runs")
    assert by_runs["replicated_by"] == "runs" and by_runs["budget"]["chains"] == 2
    assert by_runs["verdict"] == "calibrated"
    with pytest.raises(ValueError, match="simulates data: its replications need a run each"):
        run_sbc(SIMULATOR, EXACT, 10, 1, BUDGET, resolve_settings({}, EXACT), replicate_by="chains")


def test_our_laps_ranks_a_replication_per_chain_on_the_funnel_in_whole_lockstep_groups():
    """40 replications: one LAPS run of 48 chains (three superchains), all reported."""
    settings = resolve_settings({"chain_method": "vectorized", "report_chains": 16}, "nextstat_laps")
    artifact = run_sbc(
        "neal_funnel_ncp_10d", "nextstat_laps", 40, 5, Budget(16, 200, 400), settings, draws_per_rank=19, bins=4,
        log=lambda line: None,
    )  # fmt: skip
    assert validation_errors(artifact, SBC_SCHEMA) == []
    assert artifact["replicated_by"] == "chains" and artifact["budget"]["chains"] == 48
    assert artifact["settings"]["report_chains"] == 48 and len(artifact["ranks"]["v"]) == 40
