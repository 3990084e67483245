"""The engine contract: what one engine module provides, in one place.

An engine is one module in this package that defines ``ENGINE = EngineSpec(...)``; the
registry, ``engines.ENGINES``, finds it. The harness reads nothing else from it: its own settings
(defaults and allowed values, beside the shared fairness settings), its health gate,
whether it is NUTS (tree depth per draw), ``versions()``, ``run(case, settings, budget,
seed) -> RunResult``, and two optional hooks: ``start_backend() -> seconds`` (the timing
protocol starts a compute backend before its clock) and ``compile(case) -> record``
(build a model ahead of its runs, as Stan's engine does). ``run`` receives settings
already resolved (``resolve_settings``): every key present, every value checked, so an
engine never repeats a default.

Three declarative fields reach the report through the suite summary (``aggregate``): the
settings' ``doc``, ``ours`` and ``frontend_caveats``.

A module's top level imports nothing heavy (its sampling library is imported inside
``run`` and ``versions``), so reading an engine's spec never needs its library, and a
missing library skips that engine's runs instead of breaking the tool.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

HEALTH_GATES = ("nuts-strict", "microcanonical", "ensemble")
#: What an engine samples: the case's JAX log density, or the case's Stan program.
TARGETS = ("jax-density", "stan-program")


@dataclass(frozen=True)
class NumberIn:
    """Allowed values of a numeric engine setting: a closed interval."""

    low: float
    high: float

    def __contains__(self, value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"a number in [{self.low}, {self.high}]"


@dataclass(frozen=True)
class Setting:
    """One setting an engine takes beyond the shared ones: its default and allowed values
    (a tuple of choices or a ``NumberIn``), and what it means."""

    default: Any
    allowed: tuple[Any, ...] | NumberIn
    doc: str = ""
    #: how the engine ran in artifacts recorded before this setting existed (they lack
    #: it); None where every artifact records it
    absent_means: Any = None

    def describe_allowed(self) -> str:
        return (
            str(self.allowed) if isinstance(self.allowed, NumberIn) else f"one of {', '.join(map(str, self.allowed))}"
        )


#: Settings several engines take, defined once.
EPS_JITTER = Setting(0.1, NumberIn(0.0, 0.5), "step-size jitter per transition (published: 0.1)")
REPORT_CHAINS = Setting(256, NumberIn(16, 65536), "chains whose draws are diagnosed (the rest only sample)")
#: Which log density a JAX-density engine samples; every such engine takes it (``EngineSpec``
#: adds it). ``bridgestan``: the case's Stan program through BridgeStan even where a JAX
#: density is written, so a row samples the very density CmdStan does (same geometry, so ESS
#: per gradient compares the samplers alone); its rows are callback-bound.
DENSITY = Setting(
    "case",
    ("case", "bridgestan"),
    "the log density sampled: case (the case's JAX density, or BridgeStan's where none is written) or "
    "bridgestan (the case's Stan program through BridgeStan, a host callback per gradient)",
    absent_means="case",
)


@dataclass(frozen=True)
class EngineSpec:
    name: str
    run: Callable[..., Any]  # (case, settings, budget, seed) -> RunResult
    versions: Callable[[], dict[str, str]]
    health_gate: str = "nuts-strict"
    #: one of ``TARGETS``: a case without a JAX density is skipped by the engines that need one
    target: str = "jax-density"
    #: a NUTS engine reports ``tree_depth`` per draw (``base.NUTS_STAT_NAMES``)
    nuts: bool = True
    #: one of our own samplers: the numerator where a report pairs it with another engine
    ours: bool = False
    #: frontend (``engine_info["frontend"]`` of a run) -> what a report must say about the
    #: rows that ran through it (markdown), e.g. where their times are not the sampler's own
    frontend_caveats: Mapping[str, str] = field(default_factory=dict)
    #: frontends whose sampling time includes a per-draw or per-gradient call through
    #: Python: their ESS/s measures that call more than the sampler, so no ESS/s ratio
    #: is quoted for their rows or against them (ESS per gradient is unaffected)
    callback_bound_frontends: tuple[str, ...] = ()
    settings: Mapping[str, Setting] = field(default_factory=dict)
    start_backend: Callable[[], float] | None = None
    compile: Callable[..., dict[str, Any]] | None = None

    def __post_init__(self):
        if self.health_gate not in HEALTH_GATES:
            raise ValueError(f"engine {self.name}: health gate {self.health_gate!r} is not one of {HEALTH_GATES}")
        if self.target not in TARGETS:
            raise ValueError(f"engine {self.name}: target {self.target!r} is not one of {TARGETS}")
        if self.target == "jax-density" and "density" not in self.settings:
            object.__setattr__(self, "settings", {**self.settings, "density": DENSITY})

    @property
    def stat_names(self) -> tuple[str, ...]:
        from .base import NUTS_STAT_NAMES, STAT_NAMES

        return NUTS_STAT_NAMES if self.nuts else STAT_NAMES


def library_versions(*modules: str, nextstat: bool = False) -> dict[str, str]:
    """``{module: module.__version__}`` for the libraries an engine runs on (and nextstat's
    own version first with ``nextstat=True``); a library that is not installed makes the
    engine unavailable, so its runs are skipped with the reason."""
    from .base import EngineUnavailable

    out: dict[str, str] = {}
    if nextstat:
        from .. import __version__

        out["nextstat"] = __version__ or "source"
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise EngineUnavailable(f"needs the Python package '{name}', which is not installed: {exc}") from exc
        out[name] = module.__version__
    return out


__all__ = [
    "EPS_JITTER",
    "EngineSpec",
    "HEALTH_GATES",
    "NumberIn",
    "REPORT_CHAINS",
    "Setting",
    "TARGETS",
    "library_versions",
]
