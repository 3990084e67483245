"""Artifacts: schema lookup, validation that names the failing field, atomic writes."""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from .paths import schemas_dir

#: Every artifact's schema_version, defined here only.
RUN_SCHEMA = "nextstat.bayesian_benchmark_result.v1"
SUMMARY_SCHEMA = "nextstat.suite_summary.v1"
ENVIRONMENT_SCHEMA = "nextstat.environment.v1"
STAN_BUILD_SCHEMA = "nextstat.stan_build.v1"
REFERENCE_SCHEMA = "nextstat.reference.v1"
TIMING_SCHEMA = "nextstat.timing.v1"
GATE_SCHEMA = "nextstat.gate_result.v1"
POLICY_SCHEMA = "nextstat.gate_policy.v1"
VALIDATION_SCHEMA = "nextstat.validation.v1"
REPRODUCTION_SCHEMA = "nextstat.reproduction.v1"
SBC_SCHEMA = "nextstat.sbc.v1"

#: schema_version -> its schema file in ``schemas/`` (``nextstat.NAME.vN`` -> ``NAME.vN.schema.json``).
SCHEMA_FILES = {
    version: f"{version.removeprefix('nextstat.')}.schema.json"
    for version in (
        RUN_SCHEMA,
        SUMMARY_SCHEMA,
        ENVIRONMENT_SCHEMA,
        STAN_BUILD_SCHEMA,
        REFERENCE_SCHEMA,
        TIMING_SCHEMA,
        GATE_SCHEMA,
        POLICY_SCHEMA,
        VALIDATION_SCHEMA,
        REPRODUCTION_SCHEMA,
        SBC_SCHEMA,
    )
}


class ArtifactError(ValueError):
    """An artifact that cannot be read or does not match its schema."""


@lru_cache(maxsize=1)
def _registry():
    from referencing import Registry, Resource

    resources = []
    for path in sorted(schemas_dir().glob("*.schema.json")):
        contents = json.loads(path.read_text())
        resource = Resource.from_contents(contents)
        resources += [(path.name, resource), (contents["$id"], resource)]
    return Registry().with_resources(resources)


@cache
def validator(schema_version: str):
    import jsonschema

    if schema_version not in SCHEMA_FILES:
        raise ArtifactError(f"schema_version '{schema_version}' is not one of {', '.join(SCHEMA_FILES)}")
    schema = json.loads((schemas_dir() / SCHEMA_FILES[schema_version]).read_text())
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def validation_errors(doc: Any, schema_version: str | None = None) -> list[str]:
    """Every schema violation, as ``field.path: message``; empty when valid."""
    if not isinstance(doc, dict):
        return [f"<root>: expected a JSON object, got {type(doc).__name__}"]
    version = schema_version or doc.get("schema_version")
    if version is None:
        return ["schema_version: missing, so the artifact's schema is unknown"]
    try:
        checker = validator(version)
    except ArtifactError as exc:
        return [f"schema_version: {exc}"]
    errors = sorted(checker.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{_field(e.absolute_path)}: {e.message}" for e in errors]


def validate(doc: Any, schema_version: str | None = None) -> None:
    errors = validation_errors(doc, schema_version)
    if errors:
        raise ArtifactError(f"{len(errors)} schema violation(s); first: {errors[0]}")


def _field(path) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    return ".".join(parts).replace(".[", "[") or "<root>"


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def write_json(path: str | Path, doc: Any, schema_version: str | None = None) -> Path:
    """Validate, then write atomically (temporary file in the same folder, then rename)."""
    if schema_version is not None or (isinstance(doc, dict) and "schema_version" in doc):
        validate(doc, schema_version)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(jsonable(doc), fh, indent=2, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def jsonable(obj: Any) -> Any:
    """NumPy scalars and arrays to Python; non-finite floats to null (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
