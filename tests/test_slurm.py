"""The workflow through a real SLURM: a one-node cluster started on this machine.

It installs SLURM and MUNGE from the Debian packages when they are missing (root is
needed), writes a one-node ``/etc/slurm/slurm.conf`` (the SLURM executor plugin strips
``SLURM_*`` variables from jobs, so the configuration must be at the default path),
starts ``munged``, ``slurmctld`` and ``slurmd`` in the foreground as child processes,
runs a small suite with ``--profile workflow/profiles/slurm`` (one of whose runs fails
on the cluster by design), checks its artifacts and report, and stops the daemons by
their process ids.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, nextstat

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

SLURM_CONF = Path("/etc/slurm/slurm.conf")
PACKAGES = ("slurm-wlm", "munge")


def _can_run_slurm() -> str | None:
    if sys.platform != "linux":
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root to install SLURM and start its daemons"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is not available to install it"
    if SLURM_CONF.exists() and "nextstat-test" not in SLURM_CONF.read_text():
        return f"{SLURM_CONF} belongs to a real cluster; not overwriting it"
    return None


def _install():
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        if out.returncode != 0:  # no package mirror here: the machine, not the code, is missing something
            pytest.skip(f"cannot install {' '.join(PACKAGES)}: `{' '.join(command)}` failed: {out.stderr[-300:]}")


def _write_config(spool: Path) -> str:
    host = socket.gethostname().split(".")[0]
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20) - 1024
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(
        "\n".join(
            [
                "# nextstat-test: a one-node cluster for tests/test_slurm.py",
                "ClusterName=nextstat-test",
                f"SlurmctldHost={host}(127.0.0.1)",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "SchedulerType=sched/backfill",
                "MpiDefault=none",
                "ReturnToService=2",
                "MinJobAge=300",  # squeue must still see finished jobs when the plugin asks
                f"StateSaveLocation={spool}/ctld",
                f"SlurmdSpoolDir={spool}/d",
                f"SlurmctldPidFile={spool}/slurmctld.pid",
                f"SlurmdPidFile={spool}/slurmd.pid",
                f"SlurmctldLogFile={spool}/slurmctld.log",
                f"SlurmdLogFile={spool}/slurmd.log",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory={memory_mb} State=UNKNOWN",
                "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return host


class _Cluster:
    """The daemons this test started, stopped by their process ids."""

    def __init__(self, spool: Path):
        self.spool = spool
        self.processes: list[subprocess.Popen] = []

    def start(self, *command: str):
        log = (self.spool / f"{Path(command[0]).name}.out").open("w")
        self.processes.append(subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT))

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-2000:]}"
            for p in sorted(self.spool.glob("*.out")) + sorted(self.spool.glob("*.log"))
        )


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    reason = _can_run_slurm()
    if reason:
        pytest.skip(reason)
    _install()
    spool = Path(tmp_path_factory.mktemp("slurm"))
    for sub in ("ctld", "d"):
        (spool / sub).mkdir()
    host = _write_config(spool)
    munge_key = Path("/etc/munge/munge.key")
    if not munge_key.exists():
        subprocess.run(["mungekey", "--create", "--keyfile", str(munge_key)], check=True, capture_output=True)
    os.chmod(munge_key, 0o400)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    cluster = _Cluster(spool)
    try:
        cluster.start("munged", "--foreground", "--force", "--socket", "/run/munge/munge.socket.2")
        time.sleep(1)
        cluster.start("slurmctld", "-D", "-i")
        cluster.start("slurmd", "-D", "-N", host)
        deadline = time.time() + 90
        state = ""
        while time.time() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
            state = out.stdout.strip()
            if state == "idle":
                break
            if state in ("down", "drained", "down*"):
                subprocess.run(["scontrol", "update", f"NodeName={host}", "State=RESUME"], capture_output=True)
            time.sleep(1)
        else:
            raise AssertionError(f"the node did not become idle (last state {state!r}):\n{cluster.logs()}")
        yield cluster
    finally:
        cluster.stop()


def test_a_suite_runs_through_slurm(slurm_cluster, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = workdir / "slurm-suite.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "suite": "slurm",
                "seeds": [42, 123],
                "budget": {"chains": 2, "warmup": 200, "draws": 400},
                "cases": ["std_normal_d10", "eight_schools"],
                "engines": [
                    {"label": "nextstat_nuts", "engine": "nextstat_nuts"},
                    {"label": "blackjax_nuts", "engine": "blackjax_nuts"},
                    # fails on the cluster (BlackJAX's parallel chains need host devices): its
                    # artifact must say so while the rest of the suite completes
                    {"label": "blackjax_parallel", "engine": "blackjax_nuts", "settings": {"chain_method": "parallel"}},
                ],
                "reference_engine": "blackjax_nuts",
                "cache_dir": str(tmp_path / "shared-cache"),
            }
        )
    )
    started = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            REPO / "Snakefile",
            "--directory",
            workdir,
            "--configfile",
            config,
            "--profile",
            REPO / "workflow" / "profiles" / "slurm",
            "--slurm-no-account",
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--latency-wait",
            "5",
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    wall = time.time() - started
    assert proc.returncode == 0, proc.stderr[-4000:] + slurm_cluster.logs()
    print(f"suite through SLURM: {wall:.1f} s wall")

    runs = sorted((workdir / "results" / "slurm" / "runs").rglob("*.json"))
    assert len(runs) == 2 * 3 * 2
    assert nextstat("validate", *runs).returncode == 0
    docs = {(p.parts[-3], p.parts[-2], p.stem): json.loads(p.read_text()) for p in runs}
    failed = {key: doc["reason"] for key, doc in docs.items() if doc["status"] != "ok"}
    assert set(failed) == {
        (case, "blackjax_parallel", seed)
        for case in ("std_normal_d10", "eight_schools")
        for seed in ("seed42", "seed123")
    }
    assert all("parallel" in reason for reason in failed.values())
    # each run was fingerprinted inside its SLURM job, on the node that ran it
    assert all(doc["environment"]["thread_variables"]["SLURM_JOB_ID"] for doc in docs.values())
    assert len({doc["environment"]["thread_variables"]["SLURM_JOB_ID"] for doc in docs.values()}) == len(docs)
    # the shared cache directory got the JAX compilation cache
    assert list((tmp_path / "shared-cache" / "jax").iterdir())
    report = (workdir / "reports" / "slurm" / "REPORT.md").read_text()
    assert "## Results: CPU" in report and "blackjax_parallel" in report
