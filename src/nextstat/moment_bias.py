"""The MAMS paper's cost metric: gradients per chain until the second moments are right.

Hoffman and Sountsov (2022) and the MAMS paper (Robnik et al. 2025, Table 1) rate a
sampler by the gradients a chain spends, after tuning, until the squared bias of its
running estimate of every second moment falls below 0.01 in units of that moment's
variance: b2_i(t) = (mean of x_i^2 over the chain's first t draws - E[x_i^2])^2 / Var[x_i^2].
b2_max takes the worst parameter, b2_avg their mean (the paper's choice for product targets
such as the Gaussian and Rosenbrock). The paper computes it for each chain and takes the
median over chains; so does this module, with one difference of scale: the paper runs 128
chains or more, a per-chain suite here 4, so the median is over fewer chains and noisier.

A value of 0.01 is the squared bias of a mean over about 100 independent draws, so the
figure reads as "gradients per 100 effective draws of the hardest second moment", which
ESS per gradient approximates only once the chain has forgotten its start.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .diagnostics import CONVERGENCE_THRESHOLD, _finite

#: The two statistics, named as the artifact and the summary name them.
STATISTICS = ("b2_max", "b2_avg")


def second_moment_targets(reference, names: tuple[str, ...]) -> tuple[list[int], np.ndarray, np.ndarray, str] | None:
    """Columns of ``names`` the reference covers, with E[x^2] and Var[x^2] for each, and
    where Var[x^2] came from; None where the reference covers none of them."""
    if reference is None:
        return None
    columns = [i for i, n in enumerate(names) if n in reference.mean and n in reference.sd]
    if not columns:
        return None
    covered = [names[i] for i in columns]
    mean = np.array([reference.mean[n] for n in covered], dtype=float)
    sd = np.array([reference.sd[n] for n in covered], dtype=float)
    measured = getattr(reference, "var_sq", None)
    if measured and all(n in measured for n in covered):
        var_second = np.array([measured[n] for n in covered], dtype=float)
        source = "reference draws"
    else:
        var_second = 2 * sd**4 + 4 * mean**2 * sd**2
        source = "gaussian from mean and sd"
    return columns, sd**2 + mean**2, var_second, source


def chain_moment_bias(
    draws: np.ndarray,
    steps_per_draw: np.ndarray,
    reference,
    names: tuple[str, ...],
    warmup_grads_per_chain: float,
    threshold: float = CONVERGENCE_THRESHOLD,
) -> dict[str, Any] | None:
    """Gradients per chain until the median chain's b2_max and b2_avg fall below ``threshold``.

    ``draws`` (chain, draw, parameter) are a run's constrained draws after warmup,
    ``steps_per_draw`` (chain, draw) the gradients each draw cost, ``warmup_grads_per_chain``
    what a chain spent before its first draw. At every draw t, each chain's running mean of
    x^2 gives its b2 (see the module's docstring); the median over chains is compared with
    the threshold. Per statistic: ``grads_per_chain`` is the chains' mean cumulative gradients
    at the first draw where the median dips below the threshold (None where it never does in
    this run), ``grads_per_chain_with_warmup`` adds the warmup to it,
    ``grads_per_chain_to_stay`` is taken at the draw after which it stays below to the end of
    the run (the paper's figure, as its code counts it, and the report's: a dip that the chain
    climbs back out of does not count; ``aggregate._paper_cost``), ``final`` is the median b2
    at the last draw. None where the reference covers no parameter.
    """
    draws = np.asarray(draws, dtype=float)
    steps = np.asarray(steps_per_draw, dtype=float)
    if draws.ndim != 3 or steps.shape != draws.shape[:2]:
        raise ValueError(f"draws of shape {draws.shape} and steps per draw of shape {steps.shape} do not match")
    targets = second_moment_targets(reference, names)
    if targets is None or draws.shape[1] == 0:
        return None
    columns, second, var_second, source = targets
    counts = np.arange(1, draws.shape[1] + 1, dtype=float)
    per_chain: dict[str, list[np.ndarray]] = {name: [] for name in STATISTICS}
    for chain in draws[:, :, columns]:  # one chain at a time: (draw, parameter) stays small
        running = np.cumsum(chain**2, axis=0) / counts[:, None]
        b2 = (running - second) ** 2 / var_second
        per_chain["b2_max"].append(b2.max(axis=1))
        per_chain["b2_avg"].append(b2.mean(axis=1))
    grads = np.cumsum(steps, axis=1).mean(axis=0)  # gradients per chain up to each draw
    out: dict[str, Any] = {
        "statistic": "median over chains of (running mean of x^2 - E[x^2])^2 / Var[x^2]; max or mean over parameters",
        "threshold": threshold,
        "chains": int(draws.shape[0]),
        "parameters": len(columns),
        "variance_of_square": source,
        "warmup_grads_per_chain": float(warmup_grads_per_chain),
    }
    for name in STATISTICS:
        median = np.median(np.stack(per_chain[name]), axis=0)
        below = median < threshold
        first = int(np.argmax(below)) if below.any() else None
        above = np.flatnonzero(~below)
        stay = None if below.size == 0 or not below[-1] else (int(above[-1]) + 1 if above.size else 0)
        at_first = float(grads[first]) if first is not None else None
        out[name] = {
            "grads_per_chain": at_first,
            "grads_per_chain_with_warmup": at_first + float(warmup_grads_per_chain) if at_first is not None else None,
            "grads_per_chain_to_stay": float(grads[stay]) if stay is not None else None,
            "final": _finite(median[-1]),
        }
    return out
