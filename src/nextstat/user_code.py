"""Importing a user's Python file as a module: their cases (``file.py:NAME``) and their
engines (``file.py:ENGINE``) load the same way."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


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


def load_named(spec: str, kind: str, expected: type, error: type[Exception]) -> Any:
    """The object ``NAME`` of ``path/to/file.py:NAME`` (called first where it is a function
    and not already an ``expected``), as a user's case or simulator loads. Every way it can
    fail is one ``error`` naming the file and what is wrong; ``kind`` names the file's role."""
    path_text, _, attr = spec.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise error(f"{kind} file '{path_text}' does not exist (from --case {spec})")
    try:
        module = import_file(path, f"nextstat_user_{kind}_{abs(hash(path.resolve()))}")
    except UserFileError as exc:
        why = str(exc) if str(exc).startswith("is not") else f"failed to import: {exc}"
        raise error(f"{kind} file '{path_text}' {why}") from exc
    if not hasattr(module, attr):
        raise error(f"{kind} file '{path_text}' defines no '{attr}'")
    obj = getattr(module, attr)
    found = obj() if callable(obj) and not isinstance(obj, expected) else obj
    if not isinstance(found, expected):
        raise error(
            f"'{attr}' in '{path_text}' is a {type(found).__name__}, expected a nextstat {expected.__name__} "
            "(or a function returning one)"
        )
    return found
