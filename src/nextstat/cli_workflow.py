"""The ``nextstat`` commands around the workflow's runs: batch (many runs in one process,
for a machine without Snakemake), resume (after a killed workflow) and worker (the warm
process the workflow's runs fork from; ``cli`` builds the parser)."""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import EXIT_INVALID, EXIT_OK, UsageError, main


def cmd_batch(args) -> int:
    """Runs that would each pay a process start (imports, JAX's backend) share one; each
    artifact is the one `nextstat run` writes, its process_s counted from its own line."""
    from .batch import BatchError, read_batch, run_batch

    try:
        lines = read_batch(args.file)
    except (OSError, BatchError) as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    counts = run_batch(lines, main, skip_existing=args.skip_existing, progress=lambda line: print(line, flush=True))
    print(f"batch: {counts['ran']} ran, {counts['failed']} failed, {counts['skipped']} kept")
    return EXIT_OK if counts["failed"] == 0 else EXIT_INVALID


def cmd_worker(args) -> int:
    """Serve the workflow's runs from one warm process (``nextstat.worker``)."""
    from .worker import IDLE_S, serve

    serve(args.socket, args.threads, parent=args.parent, idle_s=IDLE_S if args.idle is None else args.idle)
    return EXIT_OK


def running_snakemake(directory: str | Path, processes=None) -> list[int]:
    """Pids of live snakemake processes working in ``directory``, this process and its parents
    aside: unlocking under one of them would let two workflows write the same outputs.
    ``processes`` is (pid, cmdline, cwd) triples, psutil's process table by default."""
    import psutil

    target = Path(directory).resolve()
    own = {psutil.Process().pid, *(p.pid for p in psutil.Process().parents())}
    if processes is None:
        processes = [
            (p.info["pid"], p.info["cmdline"], p.info["cwd"]) for p in psutil.process_iter(["pid", "cmdline", "cwd"])
        ]
    pids = []
    for pid, cmdline, cwd in processes:
        # `snakemake ...`, `python .../bin/snakemake ...` or `python -m snakemake ...`
        if pid in own or not cmdline or not cwd or "snakemake" not in (Path(a).name for a in cmdline[:3]):
            continue
        workdir = Path(cwd)  # snakemake moves into its --directory once it starts; before, it is in the cmdline
        for flag, value in zip(cmdline, [*cmdline[1:], ""]):
            if flag.startswith("--directory="):
                flag, value = flag.split("=", 1)
            if flag in ("--directory", "-d"):
                workdir = Path(cwd, value)
        if target in (Path(cwd).resolve(), workdir.resolve()):
            pids.append(pid)
    return pids


def cmd_resume(args) -> int:
    """After a workflow was killed, Snakemake's lock stays and its jobs are marked incomplete:
    unlock (only when no snakemake still runs here) and rerun them, in one command."""
    import subprocess

    if not Path(args.directory).is_dir():
        raise UsageError(f"--directory {args.directory}: not a folder")
    pids = running_snakemake(args.directory)
    if pids:
        print(
            f"nextstat: resume refused: snakemake is still running in {Path(args.directory).resolve()} "
            f"(pid {', '.join(map(str, pids))}); let it finish or stop it first",
            file=sys.stderr,
        )
        return EXIT_INVALID
    snakemake = [
        sys.executable,
        "-m",
        "snakemake",
        "--directory",
        args.directory,
        "--cores",
        args.cores,
        *(["--configfile", args.configfile] if args.configfile else []),
        *args.snakemake_args,
    ]
    unlock = subprocess.run([*snakemake, "--unlock"])
    if unlock.returncode != 0:
        return unlock.returncode
    return subprocess.run([*snakemake, "--rerun-incomplete"]).returncode
