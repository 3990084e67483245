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
    """A cache shared by runs: ``$NEXTSTAT_CACHE_DIR`` (e.g. on a cluster's shared disk) or ~/.cache/nextstat."""
    root = Path(os.environ.get("NEXTSTAT_CACHE_DIR") or Path.home() / ".cache" / "nextstat")
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path
