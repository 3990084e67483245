"""Where nextstat finds its schemas and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def schemas_dir() -> Path:
    """Installed wheels carry the schemas inside the package; a source checkout has them at the root."""
    for candidate in (PACKAGE_DIR / "schemas", PACKAGE_DIR.parents[1] / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("nextstat's JSON schemas are missing (looked in the package and the repository root)")


def cache_dir(name: str) -> Path:
    """A cache shared by runs: ``$NEXTSTAT_CACHE_DIR`` (e.g. on a cluster's shared disk), else
    ``$XDG_CACHE_HOME/nextstat`` (so a timing probe's private cache folder holds its CmdStan
    builds too, and a cold start compiles the model), else ~/.cache/nextstat."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(os.environ.get("NEXTSTAT_CACHE_DIR") or (Path(xdg) if xdg else Path.home() / ".cache") / "nextstat")
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path
