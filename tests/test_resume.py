"""`nextstat resume` (`make resume`): a workflow killed mid-run resumes in one command, and
never by unlocking under a snakemake that still runs in the same folder."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import REPO, nextstat

from nextstat.cli_workflow import running_snakemake


def test_only_a_snakemake_working_here_counts(tmp_path):
    here, elsewhere = str(tmp_path), str(tmp_path.parent)
    table = [
        (101, [sys.executable, "-m", "snakemake", "--cores", "2"], here),
        (102, ["/venv/bin/python", "/venv/bin/snakemake", "-c1"], here),
        (103, ["snakemake", "--directory", here, "-c1"], elsewhere),  # started elsewhere, not yet moved in
        (104, ["snakemake", f"--directory={tmp_path.name}", "-c1"], elsewhere),
        (201, [sys.executable, "-m", "snakemake", "--cores", "2"], elsewhere),
        (202, ["less", ".snakemake/log/x.snakemake.log"], here),
        (203, ["/bin/bash", "-c", "python -m nextstat run --out results/x.json"], here),  # a job, not a workflow
        (204, None, None),  # access denied, or gone
        (os.getpid(), [sys.executable, "-m", "snakemake"], here),  # this process (e.g. a rule calling resume)
    ]
    assert running_snakemake(tmp_path, table) == [101, 102, 103, 104]


@pytest.fixture
def live_snakemake(tmp_path):
    """A process that looks like a snakemake working in tmp_path."""
    proc = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=tmp_path)
    time.sleep(0.2)  # until exec has renamed it
    yield proc
    proc.kill()
    proc.wait()


def test_resume_refuses_while_a_snakemake_runs_here(tmp_path, live_snakemake):
    lock = tmp_path / ".snakemake" / "locks" / "0.input.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("held")
    assert running_snakemake(tmp_path) == [live_snakemake.pid]
    proc = nextstat("resume", "--directory", tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "resume refused: snakemake is still running" in lines[0]
    assert f"pid {live_snakemake.pid}" in lines[0]
    assert lock.exists()  # nothing was unlocked


@pytest.mark.workflow
def test_a_killed_workflow_resumes_in_one_command(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "tiny",
                "seeds": [42],
                "budget": {"chains": 1, "warmup": 20, "draws": 20},
                "cases": ["std_normal_d10"],
                "engines": [{"label": "blackjax_nuts", "engine": "blackjax_nuts"}],
                "case_settings": {},
            }
        )
    )
    target = "results/tiny/runs/std_normal_d10/blackjax_nuts/seed42.json"
    snakemake = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(config),
        "--cores",
        "1",
        target,
    ]
    proc = subprocess.Popen(snakemake, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    incomplete = tmp_path / ".snakemake" / "incomplete"
    deadline = time.monotonic() + 30
    while not (incomplete.is_dir() and any(incomplete.iterdir())):  # the run job has started
        assert proc.poll() is None and time.monotonic() < deadline, "the workflow never started its job"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its job, as an OOM killer or a lost session would
    proc.wait()
    assert not (tmp_path / target).exists()  # killed mid-job

    again = subprocess.run(snakemake, capture_output=True, text=True)
    assert again.returncode != 0 and "cannot be locked" in again.stdout + again.stderr  # the problem

    resumed = nextstat(
        "resume",
        "--directory",
        tmp_path,
        "--configfile",
        config,
        "--cores",
        "1",
        "--",
        "--snakefile",
        REPO / "Snakefile",
        target,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((tmp_path / target).read_text())["status"] == "ok"
