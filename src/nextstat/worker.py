"""A warm worker for the workflow's runs: one process imports JAX, arviz, the engines'
libraries and nextstat once, and forks a fresh child for every ``nextstat run`` that asks.

Each run still has a process of its own (a fork of a worker that has imported but never
run anything: no run sees another's compiled functions, caches or memory, and the kernel
reclaims everything when the child exits), but it no longer pays Python's start and the
imports, which were most of the harness's share of a suite's run time. The child runs
``nextstat run`` exactly as the command line would (``cli.main``) in the client's working
directory and environment, with the client's standard output and error (passed over the
socket), so the artifact, the log and the exit status are the ones the command writes;
its ``process_s`` counts from the fork.

The workflow starts a worker when it starts (``onstart``; ``worker: false`` in a suite,
or NEXTSTAT_WORKER unset, runs every command in its own fresh process as before) and
stops it when it ends; a worker also exits when the workflow that started it is gone or
after ``IDLE_S`` seconds without a run. A run uses it only where it would import the same
things the same way: the same interpreter, and the same variables that libraries read at
import (thread counts, JAX's and XLA's, CUDA's, the caches'); otherwise, or when the worker
cannot be reached, the command runs itself, as it always did. ``nextstat timing`` never
uses it: it measures fresh processes.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .threads import limit_threads  # imports nothing heavy

#: the variable that names the worker's socket for the runs the workflow starts
SOCKET_VARIABLE = "NEXTSTAT_WORKER"
#: a worker nobody asked for this long exits
IDLE_S = 600.0
#: what the worker imports before it forks: what every run would import, and the engines'
#: libraries where they are installed (a missing one is imported by its runs, or not at all).
#: Not BlackJAX: importing it starts JAX's backend (its threads), after which a fork can
#: deadlock; its runs import it themselves.
PRELOAD = (
    "numpy",
    "scipy.stats",
    "jax",
    "jax.numpy",
    "arviz",
    "nextstat.runner",
    "nextstat.engines",
    "numpyro",
    "nutpie",
    "cmdstanpy",
)
#: variables some library reads when it is imported (or nextstat when the worker starts):
#: a run whose values differ runs in a process of its own
IMPORT_TIME_PREFIXES = ("JAX_", "XLA_", "OMP_", "MKL_", "OPENBLAS_", "CUDA_", "TF_", "PYTHON")
IMPORT_TIME_VARIABLES = ("NEXTSTAT_CACHE_DIR", "XDG_CACHE_HOME", "CMDSTAN", "BRIDGESTAN")


def import_time_environment(env: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in env.items()
        if name.startswith(IMPORT_TIME_PREFIXES) or name in IMPORT_TIME_VARIABLES
    }


# ---------------------------------------------------------------- the worker


def serve(socket_path: str, threads: int, parent: int | None = None, idle_s: float = IDLE_S) -> None:
    """Import, then fork a child per request until told to stop, idle or orphaned."""
    limit_threads(threads)  # before numpy loads its BLAS: the runs' thread counts
    # as the worker was started, before a library it imports sets variables of its own
    started_with = import_time_environment(os.environ)
    preloaded = _preload()
    from .environment import static_facts
    from .runner import source_sha256

    static_facts()  # computed once, inherited by every child
    source_sha256()
    path = Path(socket_path)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    listener.settimeout(1.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    identity = {
        "python": sys.executable,
        "threads": threads,
        "environment": started_with,
    }
    print(f"nextstat worker: {path} ({', '.join(preloaded)} imported)", flush=True)
    last = time.monotonic()
    children: set[int] = set()
    try:
        while True:
            _reap(children)
            if parent is not None and os.getppid() != parent:
                break  # the workflow that started this worker is gone
            if not children and time.monotonic() - last > idle_s:
                break
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            last = time.monotonic()
            pid = os.fork()
            if pid == 0:  # the run's own process
                listener.close()
                os._exit(_child(connection, identity))
            children.add(pid)
            connection.close()
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def _preload() -> list[str]:
    done = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # an engine's library that is not installed: its runs say so themselves
            continue
        done.append(name)
    if jax_backend_started():
        raise RuntimeError(f"importing {', '.join(done)} started JAX's backend: forking from it could deadlock")
    return done


def jax_backend_started() -> bool:
    """Whether this process has started JAX's backend (and with it the threads a fork
    must not copy)."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    return bool(getattr(bridge, "_backends", None))


def _reap(children: set[int]) -> None:
    for pid in list(children):
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            finished = pid
        if finished:
            children.discard(pid)


def _child(connection: socket.socket, identity: dict[str, Any]) -> int:
    """Read the request, refuse it unless it matches what was imported, else run it as
    the command line would and send its exit status back."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the worker's handler is not the run's
    try:
        message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 2)
        while not message.endswith(b"\n"):
            more = connection.recv(1 << 20)
            if not more:
                break
            message += more
        request = json.loads(message.decode())
        refusal = _refusal(request, identity)
        if refusal or len(fds) != 2:
            connection.sendall(json.dumps({"refused": refusal or "no output streams"}).encode())
            return 0
        connection.sendall(json.dumps({"accepted": os.getpid()}).encode() + b"\n")
        sys.stdout.flush()
        sys.stderr.flush()
        for target, fd in zip((1, 2), fds):  # the command's standard output and error
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environment"])
        os.environ.pop(SOCKET_VARIABLE, None)  # the run is here: it must not ask again
        from . import runner
        from .cli import main

        runner.PROCESS_START[:] = [time.time()]  # the run's process started at the fork
        try:
            code = main(request["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        connection.sendall(json.dumps({"exit": code}).encode() + b"\n")
        return 0
    finally:
        connection.close()


def _refusal(request: dict[str, Any], identity: dict[str, Any]) -> str | None:
    if request.get("python") != identity["python"]:
        return f"another interpreter ({request.get('python')})"
    if request.get("threads") != identity["threads"]:
        return f"{request.get('threads')} threads, the worker's runs have {identity['threads']}"
    wanted = import_time_environment(_with_thread_limits(request["environment"], identity["threads"]))
    if wanted != identity["environment"]:
        differ = sorted(set(wanted.items()) ^ set(identity["environment"].items()))
        return "variables read at import differ: " + ", ".join(sorted({name for name, _ in differ}))
    return None


def _with_thread_limits(env: Mapping[str, str], threads: int) -> dict[str, str]:
    effective = dict(env)
    limit_threads(threads, effective)
    return effective


# ---------------------------------------------------------------- the client


def delegate(argv: Sequence[str], threads: int, out: Callable[[str], None] = lambda line: None) -> int | None:
    """Run ``nextstat run ARGV`` in a child of the worker named by NEXTSTAT_WORKER and
    return its exit status; None where there is no worker, it cannot be reached, it
    refuses (say why through ``out``), or it is lost before the run started: the caller
    then runs the command itself."""
    path = os.environ.get(SOCKET_VARIABLE)
    if not path or not Path(path).exists():
        return None
    request = {
        "argv": list(argv),
        "python": sys.executable,
        "threads": threads,
        "cwd": os.getcwd(),
        "environment": dict(os.environ),
    }
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(path)
    except OSError:
        return None
    with connection:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [1, 2])
            reader = connection.makefile("rb")
            first = json.loads(reader.readline() or b"{}")
        except (OSError, ValueError):
            return None
        if "accepted" not in first:
            if first.get("refused"):
                out(f"nextstat worker: running in a process of its own: {first['refused']}")
            return None
        child = int(first["accepted"])
        # stopping this command (a workflow that is interrupted) stops its run
        for name in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(name, lambda number, _frame: _stop_run(child, number))
        try:
            last = json.loads(reader.readline() or b"{}")
        except (OSError, ValueError):
            last = {}
    if "exit" not in last:  # the child died mid-run (killed, out of memory): say so, as a crash would
        print(f"nextstat: error: the worker's process {child} for this run ended without a status", file=sys.stderr)
        return 1
    return int(last["exit"])


def _stop_run(child: int, number: int) -> None:
    try:
        os.kill(child, signal.SIGTERM)
    except ProcessLookupError:
        pass
    raise SystemExit(128 + number)


# ---------------------------------------------------------------- the workflow's side


def start(
    socket_path: str,
    threads: int,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
    log: str | None = None,
) -> int:
    """Start a worker for the calling process (the workflow), in the environment its runs
    get, and wait until it listens; return its pid. It exits when the caller does, or idles."""
    import subprocess

    Path(socket_path).parent.mkdir(parents=True, exist_ok=True)
    Path(socket_path).unlink(missing_ok=True)
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
    output = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115  (the worker keeps it)
    command = [python, "-m", "nextstat", "worker", "--socket", socket_path, "--threads", str(threads)]
    process = subprocess.Popen(
        [*command, "--parent", str(os.getpid())],
        stdout=output,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not Path(socket_path).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"nextstat worker did not start (see {log or 'its output'})")
        time.sleep(0.1)
    return process.pid


def stop(pid: int | None, socket_path: str | None = None) -> None:
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if socket_path:
        Path(socket_path).unlink(missing_ok=True)


__all__ = ["SOCKET_VARIABLE", "delegate", "serve", "start", "stop", "import_time_environment"]
