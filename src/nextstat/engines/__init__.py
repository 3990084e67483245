"""Engine registry: every module of this package that defines ``ENGINE``
(``contract.EngineSpec``) is an engine, found here; adding an engine is adding its module.
Engines from outside the package (installed plug-ins, ``file.py:ENGINE``) load through
``plugins`` under the same contract.

Facts about engines that the rest of the tool needs live here too, so that no caller
names an engine: the reference engine, and which of our engines ``nextstat.sample``
runs for each method.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from .base import DEFAULT_SETTINGS, Budget, EngineUnavailable, RunResult, SettingsError, resolve_settings
from .contract import EngineSpec, NumberIn, Setting

__all__ = [
    "ENGINES", "DEFAULT_SETTINGS", "REFERENCE_ENGINE", "SAMPLE_METHODS", "Budget", "EngineSpec", "EngineUnavailable",
    "NumberIn", "RunResult", "Setting", "SettingsError", "EngineError", "engine_listing", "engine_provenance",
    "engine_settings", "load_engine", "resolve_settings",
]  # fmt: skip

#: The engine that suites take their ratios against unless their config names another
#: (``reference_engine``), whose model a case compiles ahead of its runs by default
#: (``nextstat compile``), and whose long runs make the cases' reference posteriors.
REFERENCE_ENGINE = "stan_nuts"

#: ``nextstat.sample(method=...)``: which of our engines runs each method.
SAMPLE_METHODS: dict[str, str] = {"nuts": "nextstat_nuts", "mams": "nextstat_mams", "laps": "nextstat_laps"}


class EngineError(ValueError):
    """An engine name that is not registered."""


def _listing_key(name: str) -> tuple:
    """How the registry lists engines: ours first, then the reference engine, then the
    other libraries alphabetically; within a library NUTS, MAMS, LAPS, then the rest."""
    library, _, algorithm = name.partition("_")
    group = 0 if name in SAMPLE_METHODS.values() else 1 if name == REFERENCE_ENGINE else 2
    algorithms = list(SAMPLE_METHODS)
    rank = algorithms.index(algorithm) if algorithm in algorithms else len(algorithms)
    return group, library, rank, algorithm


def _discover() -> dict[str, str]:
    """Engine name -> module (relative to this package), for every module here that
    defines ``ENGINE``. An engine module's top level imports no sampling library
    (``contract``), so importing them all is cheap and needs none installed."""
    found: dict[str, str] = {}
    for module in pkgutil.iter_modules(__path__):
        spec = getattr(importlib.import_module(f".{module.name}", __name__), "ENGINE", None)
        if not isinstance(spec, EngineSpec):
            continue
        if spec.name in found:
            raise EngineError(f"engine '{spec.name}' is defined by both {found[spec.name]} and .{module.name}")
        found[spec.name] = f".{module.name}"
    return {name: found[name] for name in sorted(found, key=_listing_key)}


#: engine name -> the module that defines it (relative to this package)
ENGINES: dict[str, str] = _discover()


def load_engine(name: str) -> EngineSpec:
    """The engine's spec: one of ours, an installed plug-in's (entry point group
    ``nextstat.engines``), or one named ``file.py:ENGINE`` or ``module:ENGINE``
    (``plugins``). Reading it needs no sampling library; ``versions()`` and ``run`` find
    out whether theirs is installed."""
    if name in ENGINES:
        return importlib.import_module(ENGINES[name], __name__).ENGINE
    from . import plugins

    if not plugins.is_reference(name) and name not in plugins.entry_points():
        raise EngineError(
            f"unknown engine '{name}': expected one of {', '.join([*ENGINES, *plugins.entry_points()])}, "
            "or path/to/file.py:ENGINE or package.module:ENGINE"
        )
    try:
        return plugins.load(name).spec
    except plugins.PluginError as exc:
        raise EngineError(str(exc)) from None


def engine_provenance(name: str) -> dict | None:
    """Where a plug-in engine came from (distribution and version, or file and sha256);
    None for ours."""
    if name in ENGINES:
        return None
    from . import plugins

    try:
        return plugins.load(name).provenance
    except plugins.PluginError as exc:
        raise EngineError(str(exc)) from None


def engine_listing() -> list[tuple[str, str]]:
    """(name, what it is) for every engine: ours, the libraries' (as the registry lists
    them), then installed plug-ins, one that cannot be loaded listed with the reason."""
    from . import plugins

    rows = []
    for name in ENGINES:
        spec = load_engine(name)
        kind = "ours" if spec.ours else "reference" if name == REFERENCE_ENGINE else "library"
        rows.append((name, f"{kind}; samples a {spec.target}; health gate {spec.health_gate}"))
    return rows + plugins.listing()


def engine_settings(name: str) -> Mapping[str, Setting]:
    """The settings an engine takes beyond the shared ones (none for an unknown name)."""
    try:
        return load_engine(name).settings
    except EngineError:
        return {}
