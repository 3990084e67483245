"""Runs claim CPUs of their own (threads.claim_cores), each in its own process here so that
the test process itself stays unpinned."""

import json
import os
import subprocess
import sys
import time

import pytest

from nextstat.threads import PIN_SWITCH, PINNED_VARIABLE

HOLDER = """
import json, sys
from nextstat.threads import claim_cores
print(json.dumps(claim_cores(int(sys.argv[1]), sys.argv[2])), flush=True)
sys.stdin.read()  # hold the claim until the test closes stdin
"""
ALLOWED = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _holder(tmp_path, threads=1, **env):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(threads), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    return proc, json.loads(proc.stdout.readline())


def _release(procs):
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.skipif(not 2 <= len(ALLOWED) <= 16, reason="needs 2 to 16 usable CPUs to claim them one by one")
def test_concurrent_runs_each_claim_a_cpu_of_their_own_until_none_is_left(tmp_path):
    procs, claims = [], []
    for _ in ALLOWED:
        proc, cpus = _holder(tmp_path)
        procs.append(proc)
        claims.append(cpus)
    extra, none_left = _holder(tmp_path)
    _release([extra])
    assert sorted(cpu for cpus in claims for cpu in cpus) == ALLOWED and none_left is None
    _release(procs[:1])  # a claim ends with its process, however it ends
    time.sleep(0.1)
    later, cpus = _holder(tmp_path)
    _release([later, *procs[1:]])
    assert cpus == claims[0]


@pytest.mark.skipif(len(ALLOWED) < 2, reason="needs 2 usable CPUs to pin to fewer than all")
def test_pinning_can_be_switched_off_and_a_claim_is_inherited(tmp_path):
    off, cpus = _holder(tmp_path, **{PIN_SWITCH: "0"})
    _release([off])
    assert cpus is None
    every, cpus = _holder(tmp_path, threads=len(ALLOWED))  # all of them: nothing to choose
    _release([every])
    assert cpus is None
    parent, cpus = _holder(tmp_path)
    child = subprocess.run(
        ["taskset", "-c", str(cpus[0]), sys.executable, "-c", HOLDER, "1", str(tmp_path)],
        input="",
        capture_output=True,
        text=True,
        env={**os.environ, PINNED_VARIABLE: str(cpus[0])},
        check=True,
    )
    _release([parent])
    assert json.loads(child.stdout) == cpus  # the parent's claim, kept (its CPU is locked by the parent)
