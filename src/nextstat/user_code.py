"""Importing a user's Python file as a module: their cases (``file.py:NAME``) and their
engines (``file.py:ENGINE``) load the same way."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


class UserFileError(ImportError):
    """A user's file that cannot be imported; the message says why (the error it raised)."""


def import_file(path: Path, module_name: str) -> ModuleType:
    """``path`` imported as ``module_name`` (once per process: a second call returns the
    module already imported). A file that raises while importing leaves nothing behind."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserFileError("is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: say what broke
        del sys.modules[module_name]
        raise UserFileError(f"{type(exc).__name__}: {exc}") from exc
    return module
