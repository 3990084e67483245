# The warm worker (nextstat.worker): the runs fork from one process that imported JAX,
# arviz, the engines' libraries and nextstat once, instead of each paying a fresh
# interpreter's imports; each run still has a process of its own. Local execution only
# (a cluster's jobs run on other nodes, each in its own fresh process); `worker: false`
# in a suite turns it off.
import tempfile

from nextstat import worker as _worker

_WORKER = {}


def _start_worker():
    if not config.get("worker", True) or not workflow.local_exec:
        return
    socket_path = os.path.join(tempfile.gettempdir(), f"nextstat-worker-{os.getpid()}.sock")
    try:
        _WORKER["pid"] = _worker.start(
            socket_path,
            config["threads_per_run"],
            env={**os.environ, **JOB_ENV},
            python=sys.executable,
            log=f"{RESULTS}/logs/worker.log",
        )
    except RuntimeError as exc:  # the runs start their own processes, as without a worker
        print(f"nextstat: {exc}; every run starts its own process", file=sys.stderr)
        return
    _WORKER["socket"] = socket_path
    os.environ[_worker.SOCKET_VARIABLE] = socket_path


def _stop_worker():
    _worker.stop(_WORKER.get("pid"), _WORKER.get("socket"))
    os.environ.pop(_worker.SOCKET_VARIABLE, None)


onstart:
    _start_worker()


onsuccess:
    _stop_worker()


onerror:
    _stop_worker()
