"""What every engine adapter takes and returns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (missing package, or the case lacks what it needs).

    Raised before any sampling; the run is recorded as ``skipped`` with this reason.
    """


class SettingsError(ValueError):
    """An engine setting that is unknown or out of range."""


@dataclass(frozen=True)
class Budget:
    chains: int
    warmup: int
    draws: int

    _SPEC = re.compile(r"^\s*(-?\d+)\s*(?:x\s*(-?\d+)\s*x\s*(-?\d+))?\s*$")

    @classmethod
    def parse(cls, spec: str | int) -> Budget:
        """``"4x500x1000"`` (chains x warmup x draws), or ``N`` for 4 chains x N warmup x N draws."""
        match = cls._SPEC.match(str(spec))
        if match is None:
            raise SettingsError(f"budget '{spec}' is not CHAINSxWARMUPxDRAWS (e.g. 4x500x1000) or one integer")
        if match[2] is None:
            n = int(match[1])
            return cls(4, n, n).checked(spec)
        return cls(int(match[1]), int(match[2]), int(match[3])).checked(spec)

    def checked(self, spec: Any = None) -> Budget:
        shown = spec if spec is not None else self.spec
        if self.chains < 1:
            raise SettingsError(f"budget '{shown}': chains must be >= 1, got {self.chains}")
        if self.warmup < 0:
            raise SettingsError(f"budget '{shown}': warmup must be >= 0, got {self.warmup}")
        if self.draws < 4:
            raise SettingsError(
                f"budget '{shown}': draws must be >= 4 (split R-hat halves each chain), got {self.draws}"
            )
        return self

    @property
    def spec(self) -> str:
        return f"{self.chains}x{self.warmup}x{self.draws}"


#: The fairness manifest: settings every NUTS engine shares, recorded in every artifact.
DEFAULT_SETTINGS: dict[str, Any] = {
    "target_accept": 0.8,
    "max_tree_depth": 10,
    "metric": "diag",
    "chain_method": "sequential",
    "dtype": "float64",
}

_ALLOWED: dict[str, Any] = {
    "metric": ("diag", "dense"),
    "chain_method": ("sequential", "parallel", "vectorized"),  # vectorized: one batch of lockstep chains
    "dtype": ("float64", "float32"),
}


def resolve_settings(overrides: Mapping[str, Any] | None, engine: str | None = None) -> dict[str, Any]:
    """Defaults + overrides, type-checked. Unknown keys are errors, not silently ignored.

    With ``engine``, that engine's own settings (its ``EngineSpec.settings``) are allowed
    and filled in with their defaults. Resolving resolved settings again changes nothing."""
    from . import engine_settings

    extra = engine_settings(engine) if engine else {}
    settings = dict(DEFAULT_SETTINGS)
    settings.update({key: own.default for key, own in extra.items()})
    for key, value in (overrides or {}).items():
        if key not in settings:
            takers = [name for name in _engine_names() if key in engine_settings(name)]
            if takers:
                raise SettingsError(
                    f"engine setting '{key}' is taken only by {', '.join(takers)}{f', not {engine}' if engine else ''}"
                )
            raise SettingsError(f"unknown engine setting '{key}': known settings are {', '.join(settings)}")
        settings[key] = value
    for key, own in extra.items():
        if settings[key] not in own.allowed:
            raise SettingsError(f"setting {key}={settings[key]!r}: must be {own.describe_allowed()}")
    if settings.get("adaptation", "stan") not in ("stan", "variance") and settings["metric"] == "dense":
        raise SettingsError(
            f"setting adaptation={settings['adaptation']!r} estimates its own metric form: use it with metric='diag'"
        )
    ta = settings["target_accept"]
    if not isinstance(ta, (int, float)) or not 0.0 < float(ta) < 1.0:
        raise SettingsError(f"setting target_accept={ta!r}: must be a number in (0, 1)")
    settings["target_accept"] = float(ta)
    depth = settings["max_tree_depth"]
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 20:
        raise SettingsError(f"setting max_tree_depth={depth!r}: must be an integer in [1, 20]")
    for key, allowed in _ALLOWED.items():
        if settings[key] not in allowed:
            raise SettingsError(f"setting {key}={settings[key]!r}: must be one of {', '.join(allowed)}")
    return settings


def _engine_names():
    from . import ENGINES

    return ENGINES


#: Per-draw statistics every engine reports, named as arviz's ``sample_stats`` names them
#: (``n_steps`` counts gradient evaluations). NUTS engines also report ``tree_depth``.
STAT_NAMES = ("n_steps", "diverging", "energy", "acceptance_rate", "step_size")
NUTS_STAT_NAMES = (*STAT_NAMES, "tree_depth")


@dataclass
class RunResult:
    """One engine run, in the engine-independent form the harness reads.

    ``draws`` are constrained, shaped ``(chain, draw, parameter)``. ``sample_stats``
    holds per-draw arrays shaped ``(chain, draw)``; keys the engine does not have are
    absent. Timings are seconds summed over chains.
    """

    draws: np.ndarray
    param_names: tuple[str, ...]
    sample_stats: dict[str, np.ndarray]
    grad_evals_warmup: int
    grad_evals_sampling: int
    compile_s: float
    warmup_s: float
    sampling_s: float
    engine_info: dict[str, Any] = field(default_factory=dict)
    #: Many-chain engines: per iteration (warmup and sampling), the mean over all chains of
    #: each constrained parameter and its square, ``moments`` (iterations, 2p), and the
    #: gradients each chain spent on it, ``grads_per_chain`` (iterations,).
    ensemble_trace: dict[str, np.ndarray] | None = None
    #: Many-chain engines: the chains whose draws are returned and diagnosed (the rest only
    #: sample), and how many consecutive chains share a start (for nested R-hat).
    report_chains: int | None = None
    superchain_size: int | None = None

    def __post_init__(self):
        # the artifact's engine record says it too
        for key in ("report_chains", "superchain_size"):
            if getattr(self, key) is not None:
                self.engine_info.setdefault(key, getattr(self, key))

    def check(self, budget: Budget, stat_names: tuple[str, ...] = NUTS_STAT_NAMES) -> RunResult:
        """Shapes as the budget says, and every per-draw statistic in ``stat_names`` (the
        engine's ``EngineSpec.stat_names``) present."""
        chains = self.report_chains or budget.chains
        expected = (chains, budget.draws, len(self.param_names))
        if self.draws.shape != expected:
            raise RuntimeError(f"engine returned draws of shape {self.draws.shape}, expected {expected}")
        missing = set(stat_names) - set(self.sample_stats)
        if missing:
            raise RuntimeError(f"engine returned no per-draw {', '.join(sorted(missing))}")
        for name, values in self.sample_stats.items():
            if values.shape != expected[:2]:
                raise RuntimeError(f"sample stat '{name}' has shape {values.shape}, expected {expected[:2]}")
        return self
