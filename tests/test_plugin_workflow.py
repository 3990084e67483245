"""A sampler developer's use of the harness: their sampler, installed from outside the tree,
at two versions in two environments, as two rows of one suite run through the workflow;
the report names both versions, and the gate holds one row against the other."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml
from conftest import REPO, nextstat, snakemake

pytestmark = pytest.mark.workflow

EXAMPLE = REPO / "examples" / "nextstat-rwm" / "nextstat_rwm.py"


def _environment(root: Path, version: str, target_accept: float) -> Path:
    """A virtual environment that sees this one's packages (nextstat among them) and has
    the example plug-in installed at ``version``, its target acceptance ``target_accept``:
    two such differ in that one package, as a library's main branch and pull request do."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    site = Path(purelib)
    parent = sysconfig.get_paths()["purelib"]
    (site / "parent_environment.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    source = EXAMPLE.read_text().replace("TARGET = 0.234", f"TARGET = {target_accept}")
    assert source != EXAMPLE.read_text() or target_accept == 0.234
    (site / "nextstat_rwm.py").write_text(source)
    info = site / f"nextstat_rwm-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: nextstat-rwm\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[nextstat.engines]\nrwm_metropolis = nextstat_rwm:ENGINE\n")
    return python


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("two_versions")
    main = _environment(workdir / "env-main", "0.1.0", 0.234)
    branch = _environment(workdir / "env-branch", "0.2.0", 0.35)
    config = workdir / "suite.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "versions",
                "seeds": [42, 123],
                "budget": {"chains": 4, "warmup": 2000, "draws": 10000},
                "reference_engine": "rwm_main",
                "cases": ["std_normal_d10"],
                "engines": [
                    {"label": "rwm_main", "engine": "rwm_metropolis", "python": str(main)},
                    {"label": "rwm_branch", "engine": "rwm_metropolis", "python": str(branch)},
                ],
            }
        )
    )
    done = snakemake(workdir, config)
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_each_row_ran_under_its_own_environment_and_records_its_version(two_versions):
    for label, version in (("rwm_main", "0.1.0"), ("rwm_branch", "0.2.0")):
        for seed in (42, 123):
            artifact = json.loads(
                (two_versions / f"results/versions/runs/std_normal_d10/{label}/seed{seed}.json").read_text()
            )
            assert artifact["status"] == "ok", artifact.get("reason")
            assert artifact["engine_info"]["plugin"]["version"] == version
            assert artifact["engine_info"]["versions"]["nextstat-rwm"] == version
            assert artifact["engine_info"]["target_acceptance"] == (0.234 if version == "0.1.0" else 0.35)
    report = (two_versions / "reports/versions/REPORT.md").read_text()
    assert "nextstat-rwm 0.1.0" in report and "nextstat-rwm 0.2.0" in report


def test_the_gate_holds_one_row_against_the_other(two_versions, tmp_path):
    summary = two_versions / "results/versions/summary.json"
    gate = nextstat("gate", "--current", summary, "--rows", "rwm_main=rwm_branch", "--out", tmp_path / "gate.json")
    assert gate.returncode in (0, 1), gate.stderr
    result = json.loads((tmp_path / "gate.json").read_text())
    compared = {check["kind"] for check in result["checks"] if check["label"] == "rwm_branch"}
    assert {"ess_per_grad", "tail_ess_per_grad"} <= compared and result["same_environment"]
    assert "rwm_main" not in {check["label"] for check in result["checks"]}
    same = nextstat("gate", "--current", summary, "--rows", "rwm_main=rwm_main", "--out", tmp_path / "self.json")
    assert same.returncode == 0, same.stdout  # a row against itself passes every check
    missing = nextstat("gate", "--current", summary, "--rows", "rwm_main=rwm_nope")
    assert missing.returncode != 0 and "no row labelled 'rwm_nope'" in missing.stderr


def test_a_row_whose_environment_lacks_the_plugin_is_refused_before_any_job(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "bad",
                "cases": ["std_normal_d10"],
                "engines": [{"label": "rwm", "engine": "rwm_nowhere", "python": sys.executable}],
            }
        )
    )
    done = snakemake(tmp_path, config, "-n", cores=1)
    said = done.stdout + done.stderr  # (Snakemake prints a workflow error on either, by version)
    assert done.returncode != 0 and "label 'rwm'" in said and "unknown engine 'rwm_nowhere'" in said, said


def test_the_ci_recipe_gates_a_pull_request_row_against_main(tmp_path):
    """examples/ci/gate-two-versions.sh, as a sampler project's CI runs it, on two
    environments already made (the recipe's pip installs are the registry's)."""
    main = _environment(tmp_path / "env-main", "0.1.0", 0.234)
    pr = _environment(tmp_path / "env-pr", "0.2.0", 0.234)
    done = subprocess.run(
        ["bash", REPO / "examples/ci/gate-two-versions.sh", "main", "pr", "rwm_metropolis", tmp_path / "gate"],
        env={
            **os.environ,
            "PYTHON_MAIN": str(main),
            "PYTHON_PR": str(pr),
            "NEXTSTAT": str(REPO),
            "CASES": "std_normal_d10",
            "BUDGET": "4x2000x10000",
        },
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    gate = (tmp_path / "gate" / "gate.md").read_text()
    assert "pass" in gate and "std_normal_d10" in gate
