"""Committed reference posteriors for built-in cases without analytic moments.

Each ``references/<case>.json`` is made by ``nextstat reference --case <case>`` (a long
Stan run to posteriordb's definition) and records the dataset hash it was made on; a
reference whose data no longer matches the case is an error, never silently used.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .base import Case, Reference

REFERENCES_DIR = Path(__file__).resolve().parent / "references"
REFERENCE_SCHEMA = "nextstat.reference.v1"


def reference_path(case_name: str) -> Path:
    return REFERENCES_DIR / f"{case_name}.json"


def load_reference(doc: dict, case: Case) -> Reference:
    if doc.get("dataset_sha256") != case.dataset_sha256:
        raise ValueError(
            f"reference for case '{case.name}' was made on dataset {str(doc.get('dataset_sha256'))[:12]} but the case's "
            f"data is {case.dataset_sha256[:12]}: remake it with `nextstat reference --case {case.name}`"
        )
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
        # Var[x^2], for the many-chain convergence statistic; references made before it was kept lack it
        var_sq=({n: params[n]["var_sq"] for n in case.param_names}
                if all("var_sq" in params[n] for n in case.param_names) else None),
        source=(f"{settings['frontend']} NUTS, {settings['chains']} chains x {settings['draws_per_chain']} draws "
                f"(thinned by {settings['thin']}), seed {settings['seed']}"),
    )


def attach_reference(case: Case) -> Case:
    """The case with its committed reference, when it has no analytic one."""
    if case.reference is not None:
        return case
    path = reference_path(case.name)
    if not path.exists():
        return case
    return replace(case, reference=load_reference(json.loads(path.read_text()), case))
