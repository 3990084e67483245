"""What one run is: case, engine, seed, budget, settings and where it is recorded.

``nextstat run`` and ``nextstat timing`` build a ``RunSpec`` once from their arguments
and hand it down; the artifact's identity (``config``, ``config_sha256``) and the
command that reproduces the run are read off it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from .engines import Budget


@dataclass(frozen=True)
class RunSpec:
    case: str  # a built-in case name, or path/to/file.py:NAME
    engine: str
    seed: int
    budget: Budget
    _: KW_ONLY
    settings: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None  # the report's row label; the engine's name when not given
    suite: str = "adhoc"
    threads: int = 1
    out: str = "run.json"
    cpus: list[int] | None = None  # the CPUs the run was pinned to (threads.claim_cores); None: unpinned

    def __post_init__(self):
        if self.label is None:
            object.__setattr__(self, "label", self.engine)

    @property
    def config(self) -> dict[str, Any]:
        """The run's configuration as its artifact records it."""
        return {"budget": dataclasses.asdict(self.budget), "settings": dict(self.settings)}

    @property
    def config_sha256(self) -> str:
        """The hash of what makes two runs the same run."""
        identity = {
            "suite": self.suite,
            "case": self.case,
            "engine": self.engine,
            "label": self.label,
            "seed": self.seed,
            **self.config,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    @property
    def command(self) -> str:
        """The command line that reproduces the run."""
        assert self.label is not None, "__post_init__ sets the label"
        args = [
            "nextstat",
            "run",
            "--suite",
            self.suite,
            "--case",
            self.case,
            "--engine",
            self.engine,
            "--label",
            self.label,
            "--seed",
            str(self.seed),
            "--budget",
            self.budget.spec,
            "--threads",
            str(self.threads),
        ]
        for key, value in sorted(self.settings.items()):
            args += ["--set", f"{key}={json.dumps(value)}"]
        return shlex.join([*args, "--out", self.out])
