"""Committed reference posteriors for built-in cases without analytic moments.

Each ``references/<case>.json`` is made by ``nextstat reference --case <case>`` (a long
Stan run to posteriordb's definition) and records the dataset hash it was made on; a
reference made on other data than the case's is never used: the case then carries
no reference and says why (``Case.reference_problem``), so listing and running every
other case goes on, and a run on this one reports ``reference-mismatch``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .base import Case, Reference

REFERENCES_DIR = Path(__file__).resolve().parent / "references"


def reference_path(case_name: str) -> Path:
    """Where a case's committed reference lives (a ``gym:`` case's colon made ``_``: a file
    name every checkout can hold)."""
    return REFERENCES_DIR / f"{case_name.replace(':', '_')}.json"


class ReferenceMismatch(ValueError):
    """A committed reference that was made on other data than the case's."""

    def __init__(self, case: Case, reference_sha256: str | None):
        self.reference_sha256 = reference_sha256
        self.dataset_sha256 = case.dataset_sha256
        super().__init__(
            f"reference for case '{case.name}' was made on dataset {str(reference_sha256)[:12]} but the case's "
            f"data is {case.dataset_sha256[:12]}: remake it with `nextstat reference --case {case.name}`"
        )


def load_reference(doc: dict, case: Case) -> Reference:
    if doc.get("dataset_sha256") != case.dataset_sha256:
        raise ReferenceMismatch(case, doc.get("dataset_sha256"))
    params = doc["parameters"]
    missing = set(case.param_names) - set(params)
    if missing:
        raise ValueError(f"reference for case '{case.name}' lacks parameters {sorted(missing)}")
    settings = doc["settings"]
    return Reference(
        kind="reference-draws",
        mean={n: params[n]["mean"] for n in case.param_names},
        sd={n: params[n]["sd"] for n in case.param_names},
        mcse={n: params[n]["mcse"] for n in case.param_names},
        # Var[x^2], for the many-chain convergence statistic, where the reference records it (optional)
        var_sq=(
            {n: params[n]["var_sq"] for n in case.param_names}
            if all("var_sq" in params[n] for n in case.param_names)
            else None
        ),
        source=(
            f"{settings['frontend']} NUTS, {settings['chains']} chains x {settings['draws_per_chain']} draws "
            f"(thinned by {settings['thin']}), seed {settings['seed']}"
        ),
    )


def attach_reference(case: Case, path: Path | None = None) -> Case:
    """The case with its committed reference, when it has no analytic one; a reference that
    does not fit the case leaves it without one and with the problem recorded."""
    if case.reference is not None:
        return case
    path = path or reference_path(case.name)
    if not path.exists():
        return case
    try:
        return replace(case, reference=load_reference(json.loads(path.read_text()), case))
    except ReferenceMismatch as exc:
        return replace(
            case,
            reference_problem={
                "verdict": "reference-mismatch",
                "reason": str(exc),
                "reference_dataset_sha256": exc.reference_sha256,
                "dataset_sha256": exc.dataset_sha256,
            },
        )
    except (ValueError, KeyError) as exc:
        return replace(
            case,
            reference_problem={
                "verdict": "reference-invalid",
                "reason": f"reference {path.name} for case '{case.name}' is unusable: {type(exc).__name__}: {exc}",
            },
        )
