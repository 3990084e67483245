"""The warm worker: a run forked from it writes the artifact a fresh process writes (the
same draws), its harness time no longer holds Python's start and the imports, and a run
the worker cannot serve as it would serve itself runs in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from nextstat import worker

RUN = ["run", "--case", "std_normal_d10", "--engine", "nextstat_nuts", "--seed", "3", "--budget", "2x100x100"]


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("worker")
    socket_path = str(folder / "w.sock")
    env = {k: v for k, v in os.environ.items() if k != worker.SOCKET_VARIABLE}
    pid = worker.start(socket_path, threads=1, env=env, log=str(folder / "worker.log"))
    yield socket_path, folder, pid
    worker.stop(pid, socket_path)


def _nextstat(args, socket_path=None, **env):
    environment = {k: v for k, v in os.environ.items() if k != worker.SOCKET_VARIABLE}
    if socket_path:
        environment[worker.SOCKET_VARIABLE] = socket_path
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "nextstat", *args], capture_output=True, text=True, env=environment, timeout=300
    )


def test_a_forked_run_writes_the_artifact_a_fresh_process_writes(warm, tmp_path):
    socket_path, folder, _ = warm
    forked, fresh = tmp_path / "forked.json", tmp_path / "fresh.json"
    proc = _nextstat([*RUN, "--out", str(forked)], socket_path)
    assert proc.returncode == 0, proc.stderr
    assert "std_normal_d10 / nextstat_nuts / seed 3: ok" in proc.stdout  # the child's output is the command's
    assert _nextstat([*RUN, "--out", str(fresh)]).returncode == 0
    a, b = json.loads(forked.read_text()), json.loads(fresh.read_text())
    assert a["draws_sha256"] == b["draws_sha256"] and a["summary"] == b["summary"]
    # the forked run's process began at the fork: no interpreter start or imports in its harness time
    assert (
        a["timing"]["process_s"] - a["timing"]["engine_wall_s"]
        < b["timing"]["process_s"] - b["timing"]["engine_wall_s"]
    )
    assert "os.fork() was called" not in (folder / "worker.log").read_text()


def test_bad_input_exits_as_the_command_does(warm, tmp_path):
    socket_path, _, _ = warm
    proc = _nextstat([*RUN[:2], "no_such_case", *RUN[3:], "--out", str(tmp_path / "x.json")], socket_path)
    assert proc.returncode == 2 and "no_such_case" in proc.stderr
    assert json.loads((tmp_path / "x.json").read_text())["status"] == "failed"


def test_a_run_the_worker_would_serve_differently_runs_itself(warm, tmp_path):
    socket_path, _, _ = warm
    proc = _nextstat([*RUN, "--threads", "2", "--out", str(tmp_path / "t.json")], socket_path)
    assert proc.returncode == 0 and "running in a process of its own: 2 threads" in proc.stderr
    proc = _nextstat([*RUN, "--out", str(tmp_path / "e.json")], socket_path, JAX_ENABLE_X64="0")
    assert proc.returncode == 0 and "variables read at import differ: JAX_ENABLE_X64" in proc.stderr
    # no worker at the named socket: the command runs itself, quietly
    proc = _nextstat([*RUN, "--out", str(tmp_path / "n.json")], str(tmp_path / "gone.sock"))
    assert proc.returncode == 0 and "worker" not in proc.stderr


def test_stopping_the_command_stops_its_run(warm, tmp_path):
    import psutil

    socket_path, _, pid = warm
    environment = {**os.environ, worker.SOCKET_VARIABLE: socket_path}
    slow = [*RUN[:-1], "4x5000x20000", "--out", str(tmp_path / "slow.json")]
    client = subprocess.Popen([sys.executable, "-m", "nextstat", *slow], env=environment)
    deadline = time.monotonic() + 60
    while not psutil.Process(pid).children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert psutil.Process(pid).children(), "the worker forked the run"
    time.sleep(1)
    client.terminate()
    assert client.wait(timeout=30) != 0
    deadline = time.monotonic() + 30
    while [c for c in psutil.Process(pid).children() if c.status() != psutil.STATUS_ZOMBIE]:
        assert time.monotonic() < deadline, "the run outlived its command"
        time.sleep(0.2)
    assert not (tmp_path / "slow.json").exists()
