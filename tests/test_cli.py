import json

import pytest
from conftest import nextstat

SUBCOMMANDS = ["cases", "run", "compile", "parity", "reference", "validate", "aggregate", "report", "env", "resume"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command):
    proc = nextstat(command, "--help")
    assert proc.returncode == 0 and "usage: nextstat" in proc.stdout


def test_cases_lists_the_builtin_cases():
    proc = nextstat("cases", "--json", check=True)
    rows = {r["case"]: r for r in json.loads(proc.stdout) if not r["case"].startswith(("pdb:", "gym:"))}
    assert set(rows) == {
        "std_normal_d2",
        "std_normal_d10",
        "std_normal_d50",
        "eight_schools",
        "neal_funnel_10d",
        "neal_funnel_ncp_10d",
        "glm_logistic_n200_p6",
        "logreg_n1000_p10",
        "glm_logistic_n1000_p20",
        "glm_logistic_n5000_p20",
        "hier_logistic_ri",
        "logreg_scaled_n1000_p10",
        "gaussian_kappa100_d100",
        "banana_d2",
        "rosenbrock_d36",
        "neal_funnel_20d",
    }
    assert rows["eight_schools"]["dim"] == 10 and rows["eight_schools"]["parameterization"] == "ncp"
    assert rows["std_normal_d10"]["reference"] == "analytic"
    assert rows["neal_funnel_10d"]["control"] and rows["neal_funnel_10d"]["parameterization"] == "centered"
    assert rows["hier_logistic_ri"]["dim"] == 23
    # every case without analytic moments has a committed reference posterior
    assert {r["reference"] for r in rows.values()} == {"analytic", "reference-draws"}


RUN = ["run", "--seed", "1", "--budget", "2x10x10"]


@pytest.mark.parametrize(
    "args, message",
    [
        ([*RUN, "--case", "nope", "--engine", "blackjax_nuts"], "unknown case 'nope'"),
        ([*RUN, "--case", "eight_schools", "--engine", "warp_nuts"], "unknown engine 'warp_nuts'"),
        (
            ["run", "--seed", "1", "--budget", "-5", "--case", "eight_schools", "--engine", "blackjax_nuts"],
            "budget '-5'",
        ),
        (
            ["run", "--seed", "-3", "--budget", "10", "--case", "eight_schools", "--engine", "blackjax_nuts"],
            "'-3' is negative",
        ),
        ([*RUN, "--case", "eight_schools", "--engine", "blackjax_nuts", "--set", "target_accept=2"], "target_accept=2"),
        ([*RUN, "--case", "eight_schools", "--engine", "blackjax_nuts", "--set", "nonsense"], "--set 'nonsense'"),
    ],
)
def test_bad_run_input_is_one_line_naming_the_input(tmp_path, args, message):
    out = tmp_path / "run.json"
    proc = nextstat(*args, "--out", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    if out.exists():  # when the run got far enough to have an identity, it leaves a failed artifact
        doc = json.loads(out.read_text())
        assert doc["status"] == "failed" and message.split("'")[0] in doc["reason"]
        assert nextstat("validate", out).returncode == 0


def test_validate_names_the_file_and_the_field(tmp_path, ok_artifact):
    good, bad, broken = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "broken.json"
    good.write_text(json.dumps(ok_artifact))
    corrupted = json.loads(json.dumps(ok_artifact))
    corrupted["diagnostics"]["min_ess_bulk"] = "lots"
    bad.write_text(json.dumps(corrupted))
    broken.write_text("{not json")
    assert nextstat("validate", good).returncode == 0
    proc = nextstat("validate", good, bad, broken)
    assert proc.returncode == 1
    assert f"{bad}: INVALID: diagnostics.min_ess_bulk" in proc.stderr
    assert f"{broken}: INVALID: not valid JSON" in proc.stderr
    missing = nextstat("validate", tmp_path / "missing.json")
    assert missing.returncode == 1 and "missing.json: INVALID: cannot read" in missing.stderr


def test_validate_on_a_suite_folder_passes_its_own_validation_record(tmp_path, ok_artifact):
    """`validate --out` writes validation.json into the suite folder; validating the folder
    again must not count that record (or an older one without schema_version) as invalid."""
    run = tmp_path / "runs" / "std_normal_d10" / "blackjax_nuts" / "seed42.json"
    run.parent.mkdir(parents=True)
    run.write_text(json.dumps(ok_artifact))
    record = tmp_path / "validation.json"
    nextstat("validate", tmp_path, "--out", record, check=True)
    again = nextstat("validate", tmp_path, "--out", record)
    assert again.returncode == 0, again.stderr
    assert "1 valid, 0 invalid" in again.stdout
    assert json.loads(record.read_text())["schema_version"] == "nextstat.validation.v1"
    assert nextstat("validate", record).returncode == 0  # named, it is checked against its own schema
    record.write_text(json.dumps({"validated_utc": "2026-01-01T00:00:00+00:00", "artifacts": [], "valid": 0}))
    assert nextstat("validate", tmp_path).returncode == 0  # a record from before schema_version


def test_report_refuses_a_file_that_is_not_a_summary(tmp_path, ok_artifact):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(ok_artifact))
    proc = nextstat("report", "--summary", path, "--out-dir", tmp_path / "r")
    assert proc.returncode == 2 and "not a valid suite summary" in proc.stderr


def test_env_prints_a_valid_fingerprint(tmp_path):
    out = tmp_path / "env.json"
    nextstat("env", "--out", out, check=True)
    assert nextstat("validate", out).returncode == 0


def test_timing_measures_cold_cached_and_warm_starts(tmp_path):
    out = tmp_path / "timing.json"
    proc = nextstat(
        "timing",
        "--case",
        "std_normal_d2",
        "--engine",
        "numpyro_nuts",
        "--seed",
        "1",
        "--budget",
        "1x50x50",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["status"] == "ok" and set(doc["modes"]) == {"cold", "cached", "warm"}
    assert nextstat("validate", out).returncode == 0
    for mode in doc["modes"].values():
        assert mode["engine_wall_s"] > 0 and mode["time_to_result_s"] > mode["sampling_s"]
    # a fresh process starts JAX's backend once, before the engine's clock; the warm run reuses it
    assert doc["modes"]["cold"]["backend_start_s"] > 0 and doc["modes"]["cached"]["backend_start_s"] > 0
    assert doc["modes"]["warm"]["backend_start_s"] == 0
    bad = nextstat(
        "timing",
        "--case",
        "nope",
        "--engine",
        "numpyro_nuts",
        "--seed",
        "1",
        "--budget",
        "10",
        "--out",
        tmp_path / "x.json",
    )
    assert bad.returncode == 2 and "unknown case 'nope'" in bad.stderr


def test_a_run_whose_draws_are_nan_still_exits_0_with_a_valid_artifact(tmp_path):
    """A sampler result can be useless (NaN everywhere) and still be a result: the CLI must
    report it, not crash after writing it (Snakemake would delete the artifact)."""
    case_file = tmp_path / "nan_case.py"
    case_file.write_text(
        "import jax.numpy as jnp\n"
        "from dataclasses import replace\n"
        "from nextstat.cases import get_case\n"
        "nan_case = replace(get_case('std_normal_d2'), name='nan_case', stan_code=None,\n"
        "                   constrain=lambda x: x * float('nan'))\n"
    )
    out = tmp_path / "run.json"
    proc = nextstat(
        "run",
        "--case",
        f"{case_file}:nan_case",
        "--engine",
        "numpyro_nuts",
        "--seed",
        "1",
        "--budget",
        "1x20x20",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["status"] == "ok" and doc["quality"]["verdict"] == "fail"
    assert nextstat("validate", out).returncode == 0


def test_the_cache_follows_nextstat_cache_dir_then_xdg_cache_home(monkeypatch, tmp_path):
    """A timing probe's private cache folders hold nextstat's own cache (CmdStan's model
    builds), so its cold start compiles the model as a new user's would."""
    from nextstat.paths import cache_dir

    monkeypatch.delenv("NEXTSTAT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("stan-models") == tmp_path / "xdg" / "nextstat" / "stan-models"
    monkeypatch.setenv("NEXTSTAT_CACHE_DIR", str(tmp_path / "shared"))
    assert cache_dir("stan-models") == tmp_path / "shared" / "stan-models"
