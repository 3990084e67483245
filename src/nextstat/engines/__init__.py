"""Engine registry. Each adapter module exposes ``NAME``, ``versions()`` and
``run(case, settings, budget, seed) -> RunResult``, and optionally ``start_backend() ->
seconds`` (the timing protocol starts a compute backend before its clock; see
``nextstat.timing``); it is imported only when used,
so a missing optional library skips that engine instead of breaking the tool."""

from __future__ import annotations

import importlib
from types import ModuleType

from .base import DEFAULT_SETTINGS, ENGINE_SETTINGS, Budget, EngineUnavailable, RunResult, SettingsError, resolve_settings

__all__ = [
    "ENGINES", "DEFAULT_SETTINGS", "ENGINE_SETTINGS", "Budget", "EngineUnavailable", "RunResult", "SettingsError",
    "EngineError", "load_engine", "resolve_settings",
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
}


class EngineError(ValueError):
    """An engine name that is not registered."""


def load_engine(name: str) -> ModuleType:
    if name not in ENGINES:
        raise EngineError(f"unknown engine '{name}': expected one of {', '.join(ENGINES)}")
    try:
        return importlib.import_module(ENGINES[name], __name__)
    except ImportError as exc:
        raise EngineUnavailable(f"engine '{name}' needs a package that is not installed: {exc}") from exc
