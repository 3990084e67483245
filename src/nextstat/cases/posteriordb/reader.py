"""Reading a posteriordb directory in posteriordb's own layout.

A posteriordb checkout (``posterior_database/`` of stan-dev/posteriordb, or a subset in its
layout) holds ``posteriors/<name>.json``, ``models/stan/<model>.stan``,
``data/data/<data>.json.zip`` and ``reference_posteriors/draws/draws/<name>.json.zip``.
The ``posteriordb`` package on PyPI reads this layout too, but it prints to stdout when
imported and leaves a temporary file behind for every data set it reads, so the few reads
the harness needs are done here.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

#: Where the tool looks for a posteriordb directory when no ``--posteriordb`` is given.
ENV_VAR = "NEXTSTAT_POSTERIORDB"


class PosteriorDBError(ValueError):
    """A posteriordb directory or posterior that cannot be read; the message names it."""


def posteriordb_dir(directory: str | os.PathLike | None = None) -> Path:
    """The posteriordb directory: ``directory`` if given, else ``$NEXTSTAT_POSTERIORDB``."""
    text = directory if directory is not None else os.environ.get(ENV_VAR)
    if not text:
        raise PosteriorDBError(
            f"no posteriordb directory: give --posteriordb DIR or set {ENV_VAR} "
            "(a checkout of stan-dev/posteriordb's posterior_database folder)"
        )
    path = Path(text).expanduser()
    if not (path / "posteriors").is_dir():
        raise PosteriorDBError(
            f"posteriordb directory '{text}' has no posteriors/ folder (is it posteriordb's layout?)"
        )
    return path.resolve()


def _read_zipped_json(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        members = [n for n in archive.namelist() if n.endswith(".json")]
        if len(members) != 1:
            raise PosteriorDBError(f"{path}: expected one JSON file inside, found {members}")
        return json.loads(archive.read(members[0]))


@dataclass(frozen=True)
class Posterior:
    """One posterior of a posteriordb directory, read lazily."""

    root: Path
    name: str

    @cached_property
    def info(self) -> dict[str, Any]:
        return json.loads((self.root / "posteriors" / f"{self.name}.json").read_text())

    @property
    def model_name(self) -> str:
        return self.info["model_name"]

    @property
    def data_name(self) -> str:
        return self.info["data_name"]

    @property
    def dimensions(self) -> dict[str, int]:
        return dict(self.info.get("dimensions") or {})

    @cached_property
    def model_info(self) -> dict[str, Any]:
        path = self.root / "models" / "info" / f"{self.model_name}.info.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @cached_property
    def data_info(self) -> dict[str, Any]:
        path = self.root / "data" / "info" / f"{self.data_name}.info.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @cached_property
    def stan_code(self) -> str:
        relative = (self.model_info.get("model_implementations") or {}).get("stan", {}).get("model_code")
        path = self.root / relative if relative else self.root / "models" / "stan" / f"{self.model_name}.stan"
        if not path.exists():
            raise PosteriorDBError(f"posterior '{self.name}': its Stan program {path} is missing")
        return path.read_text()

    @cached_property
    def data(self) -> dict[str, Any]:
        path = self.root / "data" / "data" / f"{self.data_name}.json.zip"
        if not path.exists():
            raise PosteriorDBError(f"posterior '{self.name}': its data {path} is missing")
        return _read_zipped_json(path)

    @property
    def reference_name(self) -> str | None:
        return self.info.get("reference_posterior_name")

    @cached_property
    def reference_draws(self) -> dict[str, np.ndarray] | None:
        """Parameter name -> (chains, draws) array of posteriordb's reference draws, in the
        order posteriordb lists them; None where the posterior has none."""
        if not self.reference_name:
            return None
        path = self.root / "reference_posteriors" / "draws" / "draws" / f"{self.reference_name}.json.zip"
        if not path.exists():
            return None
        chains = _read_zipped_json(path)
        return {name: np.array([chain[name] for chain in chains], dtype=float) for name in chains[0]}

    @cached_property
    def reference_info(self) -> dict[str, Any]:
        path = self.root / "reference_posteriors" / "draws" / "info" / f"{self.reference_name}.info.json"
        return json.loads(path.read_text()) if self.reference_name and path.exists() else {}


def posterior_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "posteriors").glob("*.json"))


def read_posterior(root: Path, name: str) -> Posterior:
    if not (root / "posteriors" / f"{name}.json").exists():
        raise PosteriorDBError(f"posteriordb directory '{root}' has no posterior '{name}'")
    return Posterior(root, name)
