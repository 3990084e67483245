"""Reference posteriors by a long Stan run, to posteriordb's definition: 10 chains x
1,000 draws after thinning, every R-hat < 1.01, no divergences."""

from __future__ import annotations

import hashlib
from typing import Any, cast

import numpy as np

from .artifacts import REFERENCE_SCHEMA, utc_now
from .cases import Case
from .diagnostics import parameter_summary
from .engines import REFERENCE_ENGINE, Budget, load_engine, resolve_settings

REFERENCE_CHAINS = 10
REFERENCE_DRAWS = 1000
MAX_RHAT = 1.01


class ReferenceFailed(RuntimeError):
    """The long run did not meet the reference definition; nothing is written."""


def make_reference(
    case: Case,
    *,
    seed: int = 4711,
    warmup: int = 2000,
    thin: int = 10,
    target_accept: float = 0.95,
    chain_method: str = "parallel",
) -> dict[str, Any]:
    settings = resolve_settings({"target_accept": target_accept, "chain_method": chain_method}, REFERENCE_ENGINE)
    engine = load_engine(REFERENCE_ENGINE)
    budget = Budget(REFERENCE_CHAINS, warmup, REFERENCE_DRAWS * thin)
    result = engine.run(case, settings, budget, seed)
    draws = result.draws[:, ::thin, :]
    # read as numbers: the max and min below take every R-hat and ESS to be finite
    summary = cast(dict[str, dict[str, float]], parameter_summary(draws, case.param_names))
    divergences = int(np.sum(result.sample_stats["diverging"]))
    max_rhat = max(row["rhat"] for row in summary.values())
    if divergences:
        raise ReferenceFailed(f"case '{case.name}': {divergences} divergent transitions in the reference run")
    if not max_rhat < MAX_RHAT:
        raise ReferenceFailed(f"case '{case.name}': max R-hat {max_rhat:.4f} is not below {MAX_RHAT}")
    flat = draws.reshape(-1, draws.shape[-1])
    quantiles = np.quantile(flat, [0.05, 0.5, 0.95], axis=0)
    for i, name in enumerate(case.param_names):
        summary[name].update(
            q05=float(quantiles[0, i]),
            q50=float(quantiles[1, i]),
            q95=float(quantiles[2, i]),
            var_sq=float(np.var(flat[:, i] ** 2, ddof=1)),
        )
    assert case.stan_code is not None, f"{REFERENCE_ENGINE} ran the case, so it has a Stan program"
    return {
        "schema_version": REFERENCE_SCHEMA,
        "case": case.name,
        "created_utc": utc_now(),
        "dataset_sha256": case.dataset_sha256,
        "stan_code_sha256": hashlib.sha256(case.stan_code.encode()).hexdigest(),
        "settings": {
            "frontend": result.engine_info.get("frontend"),
            "versions": engine.versions(),
            "seed": seed,
            "chains": REFERENCE_CHAINS,
            "warmup": warmup,
            "draws_per_chain": REFERENCE_DRAWS,
            "thin": thin,
            "target_accept": target_accept,
            "max_tree_depth": settings["max_tree_depth"],
            "metric": settings["metric"],
        },
        "diagnostics": {
            "max_rhat": max_rhat,
            "min_ess_bulk": min(row["ess_bulk"] for row in summary.values()),
            "min_ess_tail": min(row["ess_tail"] for row in summary.values()),
            "divergences": divergences,
            "sampling_s": result.sampling_s,
        },
        "parameters": summary,
    }
