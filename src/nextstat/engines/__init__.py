"""Engine registry: engine name -> the module that defines its ``ENGINE``
(``contract.EngineSpec``). Adding an engine is one module and one line here."""

from __future__ import annotations

import importlib
from typing import Mapping

from .base import DEFAULT_SETTINGS, Budget, EngineUnavailable, RunResult, SettingsError, resolve_settings
from .contract import EngineSpec, NumberIn, Setting

__all__ = [
    "ENGINES", "DEFAULT_SETTINGS", "Budget", "EngineSpec", "EngineUnavailable", "NumberIn", "RunResult", "Setting",
    "SettingsError", "EngineError", "engine_settings", "load_engine", "resolve_settings",
]  # fmt: skip

#: engine name -> adapter module (relative to this package)
ENGINES: dict[str, str] = {
    "nextstat_nuts": ".nextstat_nuts",
    "nextstat_mams": ".nextstat_mams",
    "nextstat_laps": ".nextstat_laps",
    "stan_nuts": ".stan_nuts",
    "blackjax_nuts": ".blackjax_nuts",
    "blackjax_mams": ".blackjax_mams",
    "blackjax_laps": ".blackjax_laps",
    "numpyro_nuts": ".numpyro_nuts",
    "nutpie_nuts": ".nutpie_nuts",
}


class EngineError(ValueError):
    """An engine name that is not registered."""


def load_engine(name: str) -> EngineSpec:
    """The engine's spec. Its module's top level imports no sampling library, so this
    works whether or not the library is installed; ``versions()`` and ``run`` find out."""
    if name not in ENGINES:
        raise EngineError(f"unknown engine '{name}': expected one of {', '.join(ENGINES)}")
    try:
        spec = importlib.import_module(ENGINES[name], __name__).ENGINE
    except ImportError as exc:
        raise EngineUnavailable(f"engine '{name}' needs a package that is not installed: {exc}") from exc
    if spec.name != name:
        raise EngineError(f"engine module {ENGINES[name]} defines '{spec.name}', registered as '{name}'")
    return spec


def engine_settings(name: str) -> Mapping[str, Setting]:
    """The settings an engine takes beyond the shared ones (none for an unknown name)."""
    if name not in ENGINES:
        return {}
    try:
        return load_engine(name).settings
    except EngineUnavailable:
        return {}
