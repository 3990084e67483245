"""Many ``nextstat run`` commands in one process: ``nextstat batch FILE``.

For a machine without Snakemake (a lent GPU box, say), where a process per run would
spend most of its time importing JAX and the engines again. FILE holds one command per
line as the workflow writes it (``snakemake -n -p`` prints them): optional ``NAME=VALUE``
environment assignments, the program (``nextstat`` or ``python -m nextstat``), ``run``
and its arguments, and optionally a shell redirection, which is ignored. Each line is
parsed and run exactly as ``nextstat run`` would run it and writes the same artifact; its
``process_s`` counts from the start of its own line, not the batch's. A line that fails
is reported and the batch goes on. ``nextstat timing`` is refused: it measures fresh
processes, so it cannot share one.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class BatchError(ValueError):
    """A batch file line that is not a ``nextstat run`` command."""


@dataclass(frozen=True)
class BatchLine:
    number: int  # 1-based line number in the file
    environment: dict[str, str]
    argv: list[str]  # from "run" on

    @property
    def out(self) -> str | None:
        return _option(self.argv, "--out")

    @property
    def title(self) -> str:
        fields = (_option(self.argv, "--case"), _option(self.argv, "--label") or _option(self.argv, "--engine"))
        return " / ".join(f or "?" for f in fields) + f" / seed {_option(self.argv, '--seed')}"


def _option(argv: Sequence[str], name: str) -> str | None:
    for i, token in enumerate(argv):
        if token == name and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith(name + "="):
            return token.split("=", 1)[1]
    return None


def parse_line(text: str, number: int) -> BatchLine | None:
    """One line of a batch file; None for a blank line or a comment."""
    text = text.strip()
    if text.startswith("Shell command:"):  # as `snakemake -n -p` prints it
        text = text.removeprefix("Shell command:").strip()
    if not text or text.startswith("#"):
        return None
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise BatchError(f"line {number}: cannot be split into arguments ({exc})") from None
    for stop, token in enumerate(tokens):  # a shell redirection ends the command
        if token.startswith((">", "2>", "1>", "&>", "|")):
            tokens = tokens[:stop]
            break
    environment = {}
    while tokens and "=" in tokens[0] and not tokens[0].startswith("-"):
        name, value = tokens.pop(0).split("=", 1)
        environment[name] = value
    if "nextstat" not in tokens:
        raise BatchError(f"line {number}: not a nextstat command: {text[:80]}")
    argv = tokens[tokens.index("nextstat") + 1 :]
    if not argv or argv[0] != "run":
        raise BatchError(
            f"line {number}: only `nextstat run` can run in a batch (got {argv[0] if argv else 'nothing'!r}; "
            "`nextstat timing` measures fresh processes and must run on its own)"
        )
    return BatchLine(number, environment, argv)


def read_batch(path: str | Path) -> list[BatchLine]:
    lines = Path(path).read_text().splitlines()
    parsed = (parse_line(text, i) for i, text in enumerate(lines, start=1))
    return [line for line in parsed if line is not None]


def run_batch(
    lines: Sequence[BatchLine],
    run_command: Callable[[list[str]], int],
    *,
    skip_existing: bool = False,
    progress=print,
) -> dict[str, int]:
    """Run each line's command through ``run_command`` (the CLI's ``main``) in this
    process; count what happened."""
    from . import runner

    counts = {"ran": 0, "failed": 0, "skipped": 0}
    for i, line in enumerate(lines, start=1):
        prefix = f"[{i}/{len(lines)}] {line.title}"
        if skip_existing and line.out and _finished(line.out):
            counts["skipped"] += 1
            progress(f"{prefix}: kept (artifact exists)")
            continue
        os.environ.update(line.environment)
        started = time.time()
        runner.PROCESS_START.append(started)
        try:
            code = run_command(line.argv)
        except Exception as exc:  # one broken run must not end the batch
            code = -1
            print(f"{prefix}: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            runner.PROCESS_START.pop()
        counts["ran" if code == 0 else "failed"] += 1
        progress(f"{prefix}: {'done' if code == 0 else f'FAILED (exit {code})'} in {time.time() - started:.1f} s")
    return counts


def _finished(out: str) -> bool:
    import json

    try:
        return json.loads(Path(out).read_text()).get("status") in ("ok", "skipped")
    except (OSError, ValueError):
        return False
