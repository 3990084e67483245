"""What pinning a run to a CPU of its own does to its per-gradient cost, beside CmdStan.

Each configuration is a fresh ``nextstat run`` process (as the workflow starts them):
unpinned (``NEXTSTAT_PIN=0``) or pinned (``threads.claim_cores``), alone or beside a busy
process (one unpinned Python loop, standing in for the workflow's other job on a 2-core
machine). The figure is the run's sampling µs per gradient, median over seeds; ESS is not
the point here and the draws are the same either way.

    python -m nextstat.benchmarks.pinning [--case eight_schools] [--seeds 42 123 777] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import write_markdown

BUDGET = "4x1000x2000"
ENGINES = ("nextstat_nuts", "stan_nuts")


@contextmanager
def _busy(on: bool):
    """An unpinned busy loop for the block's duration (nothing when ``on`` is False)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def _us_per_grad(case: str, engine: str, seed: int, pinned: bool, settings: list[str], out: Path) -> float | None:
    env = {**os.environ, "NEXTSTAT_PIN": "1" if pinned else "0"}
    command = [sys.executable, "-m", "nextstat", "run", "--case", case, "--engine", engine, "--seed", str(seed)]
    proc = subprocess.run(
        [*command, "--budget", BUDGET, *settings, "--out", str(out)], env=env, capture_output=True, text=True
    )
    doc = json.loads(out.read_text()) if out.exists() else None
    if proc.returncode != 0 or doc is None or doc["status"] != "ok":
        print(f"{engine} seed {seed}: {doc['reason'] if doc else proc.stderr.strip()[-200:]}", file=sys.stderr)
        return None
    if pinned != bool(doc["fairness"].get("cpus")):
        raise RuntimeError(f"{engine} seed {seed}: asked pinned={pinned}, the run says cpus={doc['fairness']['cpus']}")
    return doc["timing"]["sampling_us_per_grad"]


def table(case: str, seeds: list[int], settings: list[str]) -> list[str]:
    lines = ["| engine | pinned | beside a busy process | µs/grad (median) | per seed |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="nextstat-pinning-") as tmp:
        for engine in ENGINES:
            for busy in (False, True):
                for pinned in (False, True):
                    with _busy(busy):
                        values = [
                            _us_per_grad(case, engine, seed, pinned, settings, Path(tmp) / f"{engine}-{seed}.json")
                            for seed in seeds
                        ]
                    got = [v for v in values if v is not None]
                    median = f"{statistics.median(got):.2f}" if got else "failed"
                    shown = ", ".join("—" if v is None else f"{v:.2f}" for v in values)
                    row = f"| {engine} | {'yes' if pinned else 'no'} | {'yes' if busy else 'no'} | {median} | {shown} |"
                    print(row, flush=True)
                    lines.append(row)
    return lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m nextstat.benchmarks.pinning")
    parser.add_argument("--case", default="eight_schools")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 123, 777])
    parser.add_argument("--set", dest="settings", action="append", default=["target_accept=0.95"])
    parser.add_argument("--out", help="also write the table as markdown here")
    args = parser.parse_args(argv)
    settings = [token for value in args.settings for token in ("--set", value)]
    lines = table(args.case, args.seeds, settings)
    if args.out:
        header = [
            "# Pinned and unpinned runs: µs per gradient",
            "",
            f"`python -m nextstat.benchmarks.pinning --case {args.case} --seeds {' '.join(map(str, args.seeds))}`: "
            f"each cell a fresh `nextstat run` process ({BUDGET}, {', '.join(args.settings)}), unpinned "
            "(`NEXTSTAT_PIN=0`) or pinned to a CPU it holds alone, alone or beside one unpinned busy loop (the "
            "workflow's other job on a 2-core machine). Sampling µs per gradient; CmdStan's from its own timings.",
            "",
        ]
        write_markdown(args.out, header, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
