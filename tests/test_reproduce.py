"""`nextstat reproduce`: an artifact reruns to identical draws; a tampered one does not
reproduce; one from another environment is compared statistically and says what differs;
a suite summary reruns a deterministic sample of its rows, and alone (its run artifacts
gone) still reproduces exactly."""

import copy
import json

import pytest
from conftest import nextstat

from nextstat.artifacts import REPRODUCTION_SCHEMA, validate

RUN = ["--case", "std_normal_d10", "--engine", "nextstat_nuts", "--seed", 5, "--budget", "2x300x600"]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "run.json"
    nextstat("run", *RUN, "--out", out, check=True)
    return out


def _reproduce(path, tmp_path, *extra):
    out = tmp_path / "reproduction.json"
    ran = nextstat("reproduce", path, "--out", out, *extra)
    result = json.loads(out.read_text()) if out.is_file() else None
    if result is not None:
        validate(result, REPRODUCTION_SCHEMA)
    return ran, result


def test_an_artifact_reproduces_exactly(artifact, tmp_path):
    recorded = json.loads(artifact.read_text())
    assert len(recorded["draws_sha256"]) == 64 and len(recorded["provenance"]["source_sha256"]) == 64
    ran, result = _reproduce(artifact, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [run] = result["runs"]
    assert run["verdict"] == "exact" and run["environment_differences"] == [] and result["reproduced"]
    assert "| std_normal_d10 | nextstat_nuts" in ran.stdout and "1 exact" in ran.stdout


def test_a_tampered_artifact_is_not_reproduced(artifact, tmp_path):
    recorded = json.loads(artifact.read_text())
    digest = copy.deepcopy(recorded)
    digest["draws_sha256"] = "0" * 64
    (tmp_path / "digest.json").write_text(json.dumps(digest))
    ran, result = _reproduce(tmp_path / "digest.json", tmp_path)
    assert ran.returncode == 1 and result["runs"][0]["verdict"] == "not reproduced"
    assert "draws differ" in result["runs"][0]["reason"]
    older = copy.deepcopy(recorded)  # an older artifact, without a digest, one mean changed
    del older["draws_sha256"]
    older["summary"]["x[1]"]["mean"] += 1e-9
    (tmp_path / "older.json").write_text(json.dumps(older))
    ran, result = _reproduce(tmp_path / "older.json", tmp_path)
    assert ran.returncode == 1 and "summaries differ" in result["runs"][0]["reason"]


def test_another_environment_is_compared_statistically_and_named(artifact, tmp_path):
    elsewhere = json.loads(artifact.read_text())
    elsewhere["environment"]["packages"]["jax"] = "0.0.1"
    elsewhere["environment"]["cpu"]["model"] = "Another CPU"
    (tmp_path / "elsewhere.json").write_text(json.dumps(elsewhere))
    ran, result = _reproduce(tmp_path / "elsewhere.json", tmp_path)
    [run] = result["runs"]
    assert ran.returncode == 0 and run["verdict"] == "statistical", run
    assert any(d.startswith("jax 0.0.1 ->") for d in run["environment_differences"])
    assert "CPU Another CPU ->" in " ".join(run["environment_differences"])
    assert run["reason"].endswith("draws identical (sha256) nonetheless")  # the same draws, said beside
    flags = json.loads(artifact.read_text())  # the same model name on another CPU (a VM's generic name)
    flags["environment"]["cpu"]["flags_sha256"] = "0" * 64
    (tmp_path / "flags.json").write_text(json.dumps(flags))
    ran, result = _reproduce(tmp_path / "flags.json", tmp_path)
    assert result["runs"][0]["environment_differences"] == [
        "CPU instruction-set flags differ (same model name: another CPU)"
    ]
    far = copy.deepcopy(elsewhere)  # and a mean far outside its Monte Carlo error is not reproduced
    far["summary"]["x[1]"]["mean"] += 1.0
    (tmp_path / "far.json").write_text(json.dumps(far))
    ran, result = _reproduce(tmp_path / "far.json", tmp_path)
    assert ran.returncode == 1 and "x[1] mean" in result["runs"][0]["reason"]


def test_a_summary_reruns_a_sample_of_each_row(tmp_path):
    """--sample N: the first N seeds of each row; --label and --case select rows; --jobs runs
    reruns side by side and keeps the record's order; --checkout auto reruns a run made by
    this checkout's code with this checkout."""
    for label, seed in (("nextstat_nuts", 7), ("nextstat_nuts", 8), ("second_row", 7)):
        runs = tmp_path / "runs" / "std_normal_d10" / label
        args = ["--case", "std_normal_d10", "--engine", "nextstat_nuts", "--label", label, "--seed", seed]
        nextstat("run", *args, "--budget", "2x200x400", "--out", runs / f"seed{seed}.json", check=True)
    summary = tmp_path / "summary.json"
    nextstat("aggregate", "--suite", "adhoc", "--runs", tmp_path / "runs", "--out", summary, check=True)
    ran, result = _reproduce(summary, tmp_path, "--sample", 1, "--label", "nextstat*")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert [(r["seed"], r["verdict"]) for r in result["runs"]] == [(7, "exact")] and result["sample"] == 1
    assert result["labels"] == "nextstat*" and "reproduce " in ran.stdout and "--label 'nextstat*'`" in ran.stdout
    ran, result = _reproduce(summary, tmp_path, "--sample", 1, "--jobs", 2, "--checkout", "auto")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert [(r["label"], r["verdict"]) for r in result["runs"]] == [("nextstat_nuts", "exact"), ("second_row", "exact")]
    # this checkout's code: exported from its commit where committed (CI), else run as it is
    assert all(r["reason"].startswith("draws identical (sha256)") for r in result["runs"]), result["runs"]
    assert result["checkout"] == "auto"
    ran = nextstat("reproduce", summary, "--case", "no_such_case", "--out", tmp_path / "none.json")
    assert ran.returncode == 2 and "no row matches --case 'no_such_case' (rows: std_normal_d10 / " in ran.stderr


def test_a_summary_alone_reproduces_exactly(tmp_path):
    """A fresh clone has a report's summary but not its run artifacts (results/ is not
    committed): the digests the summary keeps decide; an older summary without them is
    checked on the figures the draws alone decide, and a changed one is not reproduced."""
    args = ["--case", "std_normal_d10", "--engine", "nextstat_nuts", "--seed", 7, "--budget", "2x200x400"]
    nextstat("run", *args, "--out", tmp_path / "runs" / "std_normal_d10" / "nextstat_nuts" / "seed7.json", check=True)
    summary_path = tmp_path / "summary.json"
    nextstat("aggregate", "--suite", "adhoc", "--runs", tmp_path / "runs", "--out", summary_path, check=True)
    (tmp_path / "runs").rename(tmp_path / "gone")
    summary = json.loads(summary_path.read_text())
    [record] = summary["runs"]
    assert len(record["draws_sha256"]) == 64 and len(record["source_sha256"]) == 64
    ran, result = _reproduce(summary_path, tmp_path)
    assert ran.returncode == 0 and result["runs"][0]["reason"] == "draws identical (sha256)", ran.stdout + ran.stderr
    del record["draws_sha256"]  # (its source digest kept: without it a dirty checkout is never exact)
    (tmp_path / "older.json").write_text(json.dumps(summary))
    ran, result = _reproduce(tmp_path / "older.json", tmp_path)
    [run] = result["runs"]
    assert ran.returncode == 0 and run["verdict"] == "exact" and "draw-decided figures" in run["reason"], run
    record["metrics"]["min_ess_tail"] *= 1 + 1e-12
    (tmp_path / "changed.json").write_text(json.dumps(summary))
    ran, result = _reproduce(tmp_path / "changed.json", tmp_path)
    assert ran.returncode == 1 and "min_ess_tail" in result["runs"][0]["reason"], result["runs"][0]


def test_a_report_folder_without_its_summary_is_one_line(tmp_path):
    ran = nextstat("reproduce", tmp_path)
    assert ran.returncode == 2 and "no summary.json in this folder" in ran.stderr


def test_the_reruns_run_the_checkout_they_are_given(artifact, tmp_path):
    """`--checkout DIR` puts DIR/src first on the reruns' import path (here this checkout
    itself, so the rerun is still exact); a folder that holds no nextstat is one line."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    ran, result = _reproduce(artifact, tmp_path, "--checkout", root)
    assert ran.returncode == 0 and result["runs"][0]["verdict"] == "exact", ran.stdout + ran.stderr
    assert result["checkout"] == str(root)
    ran = nextstat("reproduce", artifact, "--checkout", tmp_path, "--out", tmp_path / "no.json")
    assert ran.returncode == 2 and "not a nextstat checkout" in ran.stderr
