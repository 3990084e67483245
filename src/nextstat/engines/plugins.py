"""Engines from outside this package, under the same contract as ours (``contract.EngineSpec``).

Three ways to name one:

- an installed distribution's entry point in the group ``nextstat.engines``: its name is
  the engine's name, its value ``module:ENGINE`` (``[project.entry-points."nextstat.engines"]``
  in that package's ``pyproject.toml``); ``--engine NAME``;
- ``path/to/file.py:ENGINE``, as user cases take ``file.py:NAME``;
- ``package.module:ENGINE``, an importable module's attribute.

Whatever the way, what is loaded must be an ``EngineSpec`` (whose checks run as it is
made), and an entry point's spec must carry the entry point's name. A plug-in that fails
to import, or declares something else, is one ``EngineError`` line naming it; listing
the engines reports such a plug-in beside the others and never hides them.

Where an engine came from is recorded in every artifact it makes (``engine_info.plugin``):
the distribution and its version for an entry point or an installed module, the file and
its sha256 for a file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..user_code import UserFileError, import_file
from .contract import EngineSpec

ENTRY_POINT_GROUP = "nextstat.engines"


class PluginError(ValueError):
    """A plug-in engine that cannot be loaded: the message names it and says why."""


@dataclass(frozen=True)
class Plugin:
    spec: EngineSpec
    #: where it came from, as recorded in the artifact's ``engine_info.plugin``
    provenance: dict[str, Any]


def is_reference(name: str) -> bool:
    """``file.py:ENGINE`` or ``module:ENGINE``: a plug-in named by where it is."""
    return ":" in name


def entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The installed distributions' engines: name -> entry point (the first of a name wins,
    as ``importlib.metadata`` lists them)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(point.name, point)
    return found


def load(name: str) -> Plugin:
    """The plug-in engine ``name``: an entry point's name, ``file.py:ENGINE`` or
    ``module:ENGINE``. Raises ``PluginError`` with one line naming it."""
    if is_reference(name):
        location, _, attribute = name.rpartition(":")
        if not location or not attribute:
            raise PluginError(f"engine '{name}': expected path/to/file.py:ENGINE or package.module:ENGINE")
        if location.endswith(".py"):
            module, provenance = _from_file(name, Path(location))
        else:
            module, provenance = _from_module(name, location)
        if not hasattr(module, attribute):
            raise PluginError(f"engine '{name}': {location} defines no '{attribute}'")
        return Plugin(_checked(name, getattr(module, attribute)), provenance)
    point = entry_points().get(name)
    if point is None:
        raise PluginError(f"unknown engine '{name}'")
    try:
        loaded = point.load()
    except Exception as exc:  # a plug-in's import error is its own: name it and go on
        raise PluginError(f"engine '{name}' (entry point {point.value}): {type(exc).__name__}: {exc}") from None
    spec = _checked(name, loaded)
    if spec.name != name:
        raise PluginError(f"engine '{name}' (entry point {point.value}): its EngineSpec is named '{spec.name}'")
    distribution = point.dist.name if point.dist is not None else None
    version = point.dist.version if point.dist is not None else None
    provenance = {"kind": "entry-point", "value": point.value, "distribution": distribution, "version": version}
    return Plugin(spec, provenance)


def _checked(name: str, loaded: Any) -> EngineSpec:
    if not isinstance(loaded, EngineSpec):
        raise PluginError(f"engine '{name}': declares a {type(loaded).__name__}, not a nextstat.engines.EngineSpec")
    return loaded


def _from_file(name: str, path: Path):
    if not path.is_file():
        raise PluginError(f"engine '{name}': no file {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        module = import_file(path, f"nextstat_plugin_{path.stem}_{digest[:12]}")
    except UserFileError as exc:
        raise PluginError(f"engine '{name}': importing {path}: {exc}") from None
    return module, {"kind": "file", "path": str(path.resolve()), "sha256": digest}


def _from_module(name: str, module_path: str):
    try:
        module = importlib.import_module(module_path)
    except Exception as exc:
        raise PluginError(f"engine '{name}': importing {module_path}: {type(exc).__name__}: {exc}") from None
    top = module_path.partition(".")[0]
    distributions = importlib.metadata.packages_distributions().get(top, [])
    distribution = distributions[0] if distributions else None
    version = importlib.metadata.version(distribution) if distribution else None
    return module, {"kind": "module", "module": module_path, "distribution": distribution, "version": version}


def listing() -> list[tuple[str, str]]:
    """(name, what it is) for every installed plug-in, in name order; one that cannot be
    loaded is listed with the reason instead of hiding the others."""
    rows = []
    for name in sorted(entry_points()):
        try:
            plugin = load(name)
        except PluginError as exc:
            rows.append((name, f"not loadable: {exc}"))
            continue
        where = plugin.provenance
        rows.append((name, f"plug-in from {where['distribution']} {where['version']} ({where['value']})"))
    return rows
