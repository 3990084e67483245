"""The whole workflow through Snakemake on a tiny config: run -> validate -> aggregate -> report.

It includes a run that fails (an engine setting the engine does not offer) and one
that is skipped (a user case without a Stan program), to show that the workflow
carries on and that their artifacts are schema-valid too.
"""

import json
import re

import pytest
import yaml
from conftest import REPO, needs_posteriordb, nextstat, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.stan]


def _snakemake(workdir, config, *extra):
    return snakemake(workdir, config, *extra)


@pytest.fixture(scope="module")
def finished_suite(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    config = workdir / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "tiny",
                "seeds": [42],
                "budget": {"chains": 2, "warmup": 150, "draws": 300},
                "cases": [
                    "std_normal_d10",
                    {"id": "my_regression", "spec": f"{REPO}/examples/my_regression.py:my_regression_jax_only"},
                ],
                "engines": [
                    {"label": "stan_nuts", "engine": "stan_nuts"},
                    {"label": "blackjax_nuts", "engine": "blackjax_nuts"},
                    {
                        "label": "numpyro_nuts",
                        "engine": "numpyro_nuts",
                        "cases": ["my_regression"],
                    },  # a row on some cases
                    {"label": "blackjax_parallel", "engine": "blackjax_nuts", "settings": {"chain_method": "parallel"}},
                ],
                "case_settings": {},
            }
        )
    )
    proc = _snakemake(workdir, config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, config


def test_every_run_has_a_valid_artifact(finished_suite):
    workdir, _ = finished_suite
    runs = sorted((workdir / "results" / "tiny" / "runs").rglob("*.json"))
    assert len(runs) == 2 * 4 - 1  # numpyro_nuts runs on my_regression only
    assert nextstat("validate", *runs).returncode == 0
    status = {(p.parts[-3], p.parts[-2]): json.loads(p.read_text())["status"] for p in runs}
    assert status[("std_normal_d10", "stan_nuts")] == "ok"
    assert status[("std_normal_d10", "blackjax_nuts")] == "ok"
    assert status[("my_regression", "numpyro_nuts")] == "ok"
    assert status[("my_regression", "stan_nuts")] == "skipped"
    assert status[("std_normal_d10", "blackjax_parallel")] == "failed"


def test_report_has_real_figures(finished_suite):
    workdir, _ = finished_suite
    report = (workdir / "reports" / "tiny" / "REPORT.md").read_text()
    summary = json.loads((workdir / "results" / "tiny" / "summary.json").read_text())
    assert nextstat("validate", workdir / "results" / "tiny" / "summary.json").returncode == 0
    row = next(r for r in summary["rows"] if r["case"] == "std_normal_d10" and r["label"] == "blackjax_nuts")
    assert row["metrics"]["ess_bulk_per_s"]["median"] > 0
    assert "ESS/grad vs stan_nuts" in report and "std_normal_d10" in report  # (PyStan: no ESS/s ratio)
    assert "has no Stan program" in report  # the skip, with its reason
    assert any(
        line.startswith("`numpyro_nuts` ran only on ")
        and "my_regression" in line
        and "leaves it out of std_normal_d10" in line
        for line in report.splitlines()
    )
    assert "chain_method='parallel' is not offered" in report  # the failure, with its reason
    assert list((workdir / "reports" / "tiny" / "charts").glob("ess_per_s_*.png"))
    assert list((workdir / "reports" / "tiny" / "charts").glob("ratios_*.png"))
    assert (workdir / "reports" / "tiny" / "tables" / "health.csv").read_text().startswith("case,engine,seed,verdict")


def test_snakemake_html_report_has_the_charts_and_tables(finished_suite):
    workdir, config = finished_suite
    html = workdir / "reports" / "tiny" / "report.html"
    proc = _snakemake(workdir, config, "--report", html)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = html.read_text()
    assert "ess_per_s_" in text and "ratios_" in text and "health.csv" in text
    assert "nextstat suite" in text and "tiny" in text  # the workflow description, templated from the config


def test_a_finished_workflow_has_nothing_to_redo(finished_suite):
    workdir, config = finished_suite
    proc = _snakemake(workdir, config, "--dry-run")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_a_committed_report_without_results_still_runs_the_suite(finished_suite, tmp_path):
    """A fresh clone has reports/<suite>/REPORT.md but no results: the suite must run."""
    workdir, config = finished_suite
    summary = workdir / "results" / "tiny" / "summary.json"
    kept = tmp_path / "summary.json"
    summary.rename(kept)
    try:
        proc = _snakemake(workdir, config, "--dry-run")
        assert proc.returncode == 0
        assert "aggregate" in proc.stdout and "Nothing to be done" not in proc.stdout + proc.stderr
    finally:
        kept.rename(summary)


def test_a_row_naming_a_case_the_suite_lacks_is_refused(finished_suite, tmp_path):
    workdir, config = finished_suite
    bad = yaml.safe_load(config.read_text())
    bad["engines"][2]["cases"] = ["my_regresion"]
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text(yaml.safe_dump(bad))
    proc = _snakemake(workdir, bad_config, "--dry-run")
    assert proc.returncode != 0
    assert "label 'numpyro_nuts' lists cases the suite does not have: my_regresion" in proc.stdout + proc.stderr


def _pdb_config(tmp_path, cases, posteriordb):
    config = tmp_path / "pdb.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "pdb",
                "posteriordb": str(posteriordb),
                "seeds": [42],
                "budget": {"chains": 2, "warmup": 150, "draws": 300},
                "cases": cases,
                "engines": [{"label": "stan_nuts", "engine": "stan_nuts"}],
            }
        )
    )
    return config


@needs_posteriordb
def test_a_posteriordb_case_runs_under_the_posteriors_name(tmp_path):
    import os

    config = _pdb_config(tmp_path, ["pdb:kidiq-kidscore_momhs"], os.environ["NEXTSTAT_POSTERIORDB"])
    proc = _snakemake(tmp_path, config, "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "results/pdb/runs/kidiq-kidscore_momhs/stan_nuts/seed42.json" in proc.stdout
    # every job is handed the suite's posteriordb directory, and the case by its pdb: name
    assert f"NEXTSTAT_POSTERIORDB={os.environ['NEXTSTAT_POSTERIORDB']}" in proc.stdout
    assert "--case pdb:kidiq-kidscore_momhs" in proc.stdout


@needs_posteriordb
def test_pdb_star_plans_every_posterior_of_the_directory(tmp_path):
    import os

    from nextstat.cases.posteriordb import list_posteriors

    config = _pdb_config(tmp_path, ["pdb:*"], os.environ["NEXTSTAT_POSTERIORDB"])
    proc = _snakemake(tmp_path, config, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = list_posteriors(os.environ["NEXTSTAT_POSTERIORDB"])
    assert len(names) > 1
    for name in names:
        assert f"results/pdb/runs/{name}/stan_nuts/seed42.json" in proc.stdout


@needs_posteriordb
def test_a_posterior_posteriordb_lacks_is_refused_before_any_job(tmp_path):
    import os

    config = _pdb_config(tmp_path, ["pdb:kidiq-no_such_model"], os.environ["NEXTSTAT_POSTERIORDB"])
    proc = _snakemake(tmp_path, config, "--dry-run")
    assert proc.returncode != 0
    assert "posteriordb has no posterior 'kidiq-no_such_model'" in proc.stdout + proc.stderr
    config = _pdb_config(tmp_path, ["pdb:kidiq-kidscore_momhs"], tmp_path / "nowhere")
    proc = _snakemake(tmp_path, config, "--dry-run")
    assert proc.returncode != 0 and "has no posteriors/ folder" in proc.stdout + proc.stderr


def test_a_row_with_its_own_budget_sized_cases_and_gym_targets_plan_as_named(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "sweep",
                "seeds": [42],
                "budget": {"chains": 4, "warmup": 100, "draws": 200},
                "cases": ["gaussian_kappa100_d1000", "std_normal_d3", "gym:SyntheticItemResponseTheory"],
                "engines": [
                    {"label": "nextstat_nuts", "engine": "nextstat_nuts"},
                    {"label": "many", "engine": "nextstat_laps", "budget": {"chains": 512, "warmup": 50, "draws": 100},
                     "settings": {"chain_method": "vectorized", "report_chains": 64}, "cases": ["std_normal_d3"]},
                ],
            }
        )
    )  # fmt: skip
    proc = _snakemake(tmp_path, config, "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "results/sweep/runs/SyntheticItemResponseTheory/nextstat_nuts/seed42.json" in proc.stdout
    assert "--case gym:SyntheticItemResponseTheory" in proc.stdout
    assert "--case gaussian_kappa100_d1000 --engine nextstat_nuts" in proc.stdout
    many = [line for line in proc.stdout.splitlines() if "--label many" in line]
    assert len(many) == 1 and "--budget 512x50x100" in many[0]
    assert all("--budget 4x100x200" in line for line in proc.stdout.splitlines() if "--label nextstat_nuts" in line)


def test_a_chain_sweep_row_plans_one_row_per_count_at_its_budget(tmp_path):
    config = tmp_path / "chains.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "chains",
                "seeds": [42],
                "budget": {"chains": 4, "warmup": 100, "draws": 200},
                "cases": ["std_normal_d3"],
                "engines": [
                    {"label": "nextstat_nuts", "engine": "nextstat_nuts"},
                    {"label": "laps", "engine": "nextstat_laps", "budget": {"chains": 1, "warmup": 50, "draws": 100},
                     "chains": [16, 64, 256], "settings": {"chain_method": "vectorized", "report_chains": 16}},
                ],
                "report": {"declared": [{"field": "chain_method", "labels": ["laps"], "why": "lockstep chains"}]},
            }
        )
    )  # fmt: skip
    proc = _snakemake(tmp_path, config, "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for n in (16, 64, 256):
        planned = [line for line in proc.stdout.splitlines() if f"--label laps_chains{n} " in line]
        assert len(planned) == 1 and f"--budget {n}x50x100" in planned[0], planned
    # the declared difference names the swept label, and covers every row of the sweep
    aggregate = next(line for line in proc.stdout.splitlines() if "nextstat aggregate" in line)
    assert "laps_chains16" in aggregate and "laps_chains256" in aggregate


def test_a_rows_sbc_budget_is_the_budget_of_its_sbc_jobs(tmp_path):
    """A many-chain row runs whole lockstep groups: its `sbc_budget` replaces the block's."""
    config = tmp_path / "sbc.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "cal",
                "seeds": [7],
                "budget": {"chains": 2, "warmup": 100, "draws": 100},
                "cases": ["std_normal_d2"],
                "engines": [
                    {"label": "ours", "engine": "nextstat_nuts"},
                    {"label": "many", "engine": "nextstat_laps", "budget": {"chains": 16, "warmup": 100, "draws": 100},
                     "sbc_budget": {"chains": 16, "warmup": 150, "draws": 150},
                     "settings": {"chain_method": "vectorized", "report_chains": 16}},
                ],
                "sbc": {"cases": ["eight_schools"], "engines": ["ours", "many"], "replications": 20,
                        "budget": {"chains": 2, "warmup": 200, "draws": 200}},
            }
        )
    )  # fmt: skip
    proc = _snakemake(tmp_path, config, "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = {line.split("--label ")[1].split()[0]: line for line in proc.stdout.splitlines() if " sbc --case " in line}
    assert "--budget 2x200x200" in jobs["ours"] and "--budget 16x150x150" in jobs["many"]


def test_a_suites_sbc_block_plans_one_job_per_case_and_row_and_feeds_the_summary(tmp_path):
    config = tmp_path / "sbc.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "cal",
                "seeds": [7],
                "budget": {"chains": 2, "warmup": 100, "draws": 100},
                "cases": ["std_normal_d2"],
                "engines": [{"label": "ours", "engine": "nextstat_nuts"}, {"label": "mams", "engine": "nextstat_mams"}],
                "sbc": {"cases": ["eight_schools"], "engines": ["ours"], "replications": 50,
                        "budget": {"chains": 2, "warmup": 200, "draws": 200}},
            }
        )
    )  # fmt: skip
    proc = _snakemake(tmp_path, config, "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [line for line in proc.stdout.splitlines() if " sbc --case " in line]
    assert len(jobs) == 1 and "--case eight_schools --engine nextstat_nuts --label ours" in jobs[0]
    assert "--replications 50 --first-replication 0 --seed 7 --budget 2x200x200" in jobs[0]
    assert "|| test $? -eq 1" in jobs[0]
    assert "--sbc results/cal/sbc/eight_schools/ours.json" in proc.stdout
    sharded = yaml.safe_load(config.read_text())
    sharded["sbc"]["shards"] = 3
    config.write_text(yaml.safe_dump(sharded))
    proc = _snakemake(tmp_path, config, "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(line for line in proc.stdout.splitlines() if " sbc --case " in line)
    parts = [re.search(r"--replications (\d+) --first-replication (\d+)", job).groups() for job in jobs]
    assert sorted(parts, key=lambda p: int(p[1])) == [("16", "0"), ("17", "16"), ("17", "33")]
    assert all(f"results/cal/sbc/eight_schools/ours/shard{i}.json" in proc.stdout for i in range(3))
    bad = yaml.safe_load(config.read_text())
    bad["sbc"]["cases"] = ["std_normal_d2"]
    config.write_text(yaml.safe_dump(bad))
    proc = _snakemake(tmp_path, config, "--dry-run")
    assert proc.returncode != 0 and "case 'std_normal_d2' cannot simulate" in proc.stdout + proc.stderr
