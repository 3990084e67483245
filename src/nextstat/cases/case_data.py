"""Built-in case data, read from committed files: the same bits on every machine.

A simulated dataset is only "pinned" if every machine gets every bit of it. Generating
it at import time does not give that: a covariate matrix made with a BLAS product (and
outcomes thresholded on ``exp`` of a BLAS product) differs in its last bits between CPU
kernels, so the same generator gave ``logreg_scaled_n1000_p10`` two different dataset
hashes on an Intel and an AMD machine. So each simulated case's data is committed here
as ``data/<case>.json.gz`` and read, never regenerated on the fly. The generators stay
in the case modules as the documented way each file was made (``python -m
nextstat.cases.remake_data NAME`` remakes one), and a test checks that they still
reproduce the committed files to within float tolerance.

Cases whose data are literals (dimensions, eight schools' table) need no file: literals
are exact on every machine.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
#: case name -> sha256 of the canonical JSON of its data, checked whenever a file is read.
MANIFEST = DATA_DIR / "SHA256SUMS.json"


class CaseDataError(ValueError):
    """A committed case data file that is missing or does not match its recorded hash."""


def data_path(case_name: str) -> Path:
    return DATA_DIR / f"{case_name}.json.gz"


def recorded_sha256(case_name: str) -> str | None:
    if not MANIFEST.exists():
        return None
    return json.loads(MANIFEST.read_text()).get(case_name)


def load_case_data(case_name: str) -> dict[str, Any]:
    """The committed data of a built-in case, checked against its recorded hash."""
    from .base import dataset_sha256

    path = data_path(case_name)
    if not path.exists():
        raise CaseDataError(
            f"case '{case_name}': its data file {path} is missing (remake it with "
            f"`python -m nextstat.cases.remake_data {case_name}`)"
        )
    data = json.loads(gzip.decompress(path.read_bytes()))
    expected = recorded_sha256(case_name)
    actual = dataset_sha256(data)
    if expected != actual:
        raise CaseDataError(
            f"case '{case_name}': data file {path.name} hashes to {actual[:12]} but "
            f"{MANIFEST.name} records {str(expected)[:12]}"
        )
    return data


def write_case_data(case_name: str, data: dict[str, Any]) -> str:
    """Write a case's data file (gzip without a timestamp, so the bytes are reproducible) and
    record its hash; returns the hash."""
    from .base import canonical_json, dataset_sha256

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    data_path(case_name).write_bytes(gzip.compress(canonical_json(data).encode(), mtime=0))
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    manifest[case_name] = dataset_sha256(data)
    MANIFEST.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return manifest[case_name]
