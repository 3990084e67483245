"""Convergence and efficiency diagnostics (arviz), health gates and correctness scores.

Functions take plain ``(chain, draw[, parameter])`` arrays, as arviz's do.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

#: The strict health gate of a NUTS run, as the protocol pins it: max R-hat, divergences,
#: min E-BFMI, and min bulk and tail ESS over the parameters.
NUTS_GATE = {"max_rhat": 1.01, "max_divergences": 0, "min_ebfmi": 0.2, "min_ess": 400.0}
#: A chain whose draws spread less than this fraction of the pooled spread, in every
#: parameter, is frozen: it reports draws, and acceptance, but does not move.
FROZEN_SPREAD = 1e-6
#: A final step size below this fraction of the one its warmup started from has collapsed.
STEP_COLLAPSE = 1e-6
#: |z| above this fails the correctness gate where one parameter is compared; with more,
#: the threshold grows (``correctness_z_limit``).
MAX_CORRECTNESS_Z = 4.0


def correctness_z_limit(parameters: int) -> float:
    """The largest |z| over ``parameters`` compared means that still passes: 4 for one, and
    for m the Bonferroni quantile that keeps the chance of a false alarm where 4 puts it for
    one parameter (P(|Z| > 4) = 6.3e-5): the normal (1 - P / 2m) quantile, about 4.5 for 10
    parameters, 5.0 for 100 and 5.4 for 1,000. A fixed 4 would fail a correct sampler on
    about 6% of runs at d = 1,000 by chance alone."""
    from statistics import NormalDist

    alarm = math.erfc(MAX_CORRECTNESS_Z / math.sqrt(2.0))
    return max(MAX_CORRECTNESS_Z, -NormalDist().inv_cdf(alarm / (2 * max(1, parameters))))


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def parameter_summary(draws: np.ndarray, names: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    """Per parameter: mean, sd, mcse of the mean, bulk and tail ESS, rank-normalized split R-hat
    (None where not finite)."""
    az = _arviz()
    dataset = az.convert_to_dataset(np.asarray(draws, dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant parameters give NaN R-hat, reported as null
        ess_bulk = az.ess(dataset, method="bulk")["x"].values
        ess_tail = az.ess(dataset, method="tail")["x"].values
        rhat = az.rhat(dataset, method="rank")["x"].values
        mcse = az.mcse(dataset, method="mean")["x"].values
    mean = draws.mean(axis=(0, 1))
    sd = draws.std(axis=(0, 1), ddof=1)
    return {
        name: {
            "mean": _finite(mean[i]),
            "sd": _finite(sd[i]),
            "mcse": _finite(mcse[i]),
            "ess_bulk": _finite(ess_bulk[i]),
            "ess_tail": _finite(ess_tail[i]),
            "rhat": _finite(rhat[i]),
        }
        for i, name in enumerate(names)
    }


def nested_rhat(draws: np.ndarray, n_superchains: int) -> np.ndarray:
    """Nested R-hat (Margossian et al., arXiv:2110.13017) per parameter, for many short
    chains: ``draws`` is ``(chain, draw[, parameter])`` and consecutive chains form
    ``n_superchains`` superchains of equal size (the chains of a superchain share a start).

    B_k is the variance of the chain means within superchain k (ddof 1; 0 with one chain
    per superchain), W_k the mean within-chain variance (ddof 1; 0 with one draw);
    nB the variance (ddof 1) of the superchain means and nW the mean of B_k + W_k;
    nested R-hat = sqrt(1 + nB / nW).
    """
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 2:
        draws = draws[..., None]
    n_chains, n_draws = draws.shape[:2]
    if n_superchains < 2 or n_chains % n_superchains:
        raise ValueError(
            f"nested R-hat needs at least 2 superchains that divide {n_chains} chains; got {n_superchains}"
        )
    per_super = n_chains // n_superchains
    grouped = draws.reshape(n_superchains, per_super, n_draws, -1)
    chain_means = grouped.mean(axis=2)  # (K, M, P)
    super_means = chain_means.mean(axis=1)  # (K, P)
    between_chains = chain_means.var(axis=1, ddof=1) if per_super > 1 else np.zeros_like(super_means)
    within_chains = grouped.var(axis=2, ddof=1).mean(axis=1) if n_draws > 1 else np.zeros_like(super_means)
    n_between = super_means.var(axis=0, ddof=1)
    n_within = (between_chains + within_chains).mean(axis=0)
    return np.sqrt(1.0 + n_between / n_within)


def frozen_chains(draws: np.ndarray) -> int:
    """Chains whose draws stay put: within-chain sd <= ``FROZEN_SPREAD`` x the pooled sd,
    in every parameter. A chain whose eps collapsed to 1e-22 still "accepts" 92% of its
    proposals and its draws differ in the last bits only; R-hat may flag it, but a frozen
    chain is its own failure with its own name."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 2:
        draws = draws[..., None]
    with np.errstate(invalid="ignore"):
        within = np.std(draws, axis=1)
        pooled = np.std(draws.reshape(-1, draws.shape[-1]), axis=0)
        still = within <= FROZEN_SPREAD * pooled[None, :]
    return int(np.sum(np.all(still, axis=1)))


def step_size_ratio(engine_info: Mapping[str, Any]) -> float | None:
    """min over chains of final eps / the eps its warmup started from, where the engine
    reports both (``initial_step_size_per_chain`` and ``step_size_per_chain``, or one
    shared ``initial_step_size`` and ``step_size`` for a lockstep ensemble)."""
    first, last = engine_info.get("initial_step_size_per_chain"), engine_info.get("step_size_per_chain")
    if first is None and engine_info.get("initial_step_size") is not None:
        first, last = [engine_info["initial_step_size"]], [engine_info.get("step_size")]
    if not first or not last:
        return None
    ratios = [b / a for a, b in zip(first, last) if a and a > 0 and b is not None]
    return _finite(min(ratios)) if ratios else None


def ebfmi(energy: np.ndarray) -> np.ndarray:
    """E-BFMI per chain from the Hamiltonian energy at each draw, ``(chain, draw)``."""
    return np.asarray(_arviz().bfmi(np.asarray(energy, dtype=float)), dtype=float)


def run_metrics(result, max_tree_depth: int) -> dict[str, Any]:
    """The per-run figures the report and the gate read: efficiency and health."""
    summary = parameter_summary(result.draws, result.param_names)
    stats = result.sample_stats
    n_draws = int(np.prod(result.draws.shape[:2]))
    min_bulk = _min(p["ess_bulk"] for p in summary.values())
    min_tail = _min(p["ess_tail"] for p in summary.values())
    grads_total = result.grad_evals_warmup + result.grad_evals_sampling
    end_to_end_s = result.compile_s + result.warmup_s + result.sampling_s
    divergences = int(np.sum(stats["diverging"])) if "diverging" in stats else None
    metrics = {
        "min_ess_bulk": min_bulk,
        "min_ess_tail": min_tail,
        "max_rhat": _max_or_nan(p["rhat"] for p in summary.values()),
        "ess_bulk_per_s": _ratio(min_bulk, result.sampling_s),
        "ess_bulk_per_s_end_to_end": _ratio(min_bulk, end_to_end_s),
        "ess_bulk_per_grad": _ratio(min_bulk, result.grad_evals_sampling),
        "ess_bulk_per_grad_with_warmup": _ratio(min_bulk, grads_total),
        "divergences": divergences,
        "divergence_pct": None if divergences is None else 100.0 * divergences / n_draws,
        "min_ebfmi": _finite(np.min(ebfmi(stats["energy"]))) if "energy" in stats else None,
        "tree_depth_saturation_pct": (
            _finite(100.0 * np.mean(stats["tree_depth"] >= max_tree_depth)) if "tree_depth" in stats else None
        ),
        "mean_acceptance": _finite(np.mean(stats["acceptance_rate"])) if "acceptance_rate" in stats else None,
        "mean_steps_per_draw": _finite(np.mean(stats["n_steps"])) if "n_steps" in stats else None,
        "frozen_chains": frozen_chains(result.draws),
    }
    ratio = step_size_ratio(getattr(result, "engine_info", None) or {})
    if ratio is not None:
        metrics["min_step_size_ratio"] = ratio
    superchain = getattr(result, "superchain_size", None)
    if superchain and result.draws.shape[0] // superchain >= 2:
        metrics["max_nested_rhat"] = _finite(np.max(nested_rhat(result.draws, result.draws.shape[0] // superchain)))
    return {"metrics": metrics, "summary": summary}


#: an ensemble sampler's acceptance fraction where its authors call it healthy (emcee's docs)
ENSEMBLE_ACCEPTANCE = (0.2, 0.5)


def health_gate(
    metrics: Mapping[str, Any], gate: Mapping[str, float] = NUTS_GATE, kind: str = "nuts-strict"
) -> dict[str, Any]:
    """Strict NUTS gate: R-hat < 1.01, no divergences, E-BFMI >= 0.2, bulk and tail ESS >= 400,
    no frozen chain, and (where the engine reports it) no step size that collapsed.

    ``kind="microcanonical"`` (MAMS, LAPS) applies the same thresholds but reports
    E-BFMI as a warning only: the isokinetic dynamics has no Gaussian momentum, so the
    energy-transition diagnostic does not mean for it what it means for HMC.
    ``kind="ensemble"`` (emcee) does the same (no momentum at all) and adds its authors'
    rule of thumb for the acceptance fraction: between 0.2 and 0.5."""
    if kind not in ("nuts-strict", "microcanonical", "ensemble"):
        raise ValueError(f"health gate {kind!r}: expected 'nuts-strict', 'microcanonical' or 'ensemble'")
    ebfmi_check = _check("min_ebfmi", metrics["min_ebfmi"], ">=", gate["min_ebfmi"])
    if kind in ("microcanonical", "ensemble"):
        ebfmi_check = {**ebfmi_check, "warning": not ebfmi_check["passed"], "passed": True, "warning_only": True}
    checks = [
        _check("max_rhat", metrics["max_rhat"], "<", gate["max_rhat"]),
        _check("divergences", metrics["divergences"], "<=", gate["max_divergences"]),
        ebfmi_check,
        _check("min_ess_bulk", metrics["min_ess_bulk"], ">=", gate["min_ess"]),
        _check("min_ess_tail", metrics["min_ess_tail"], ">=", gate["min_ess"]),
    ]
    if "frozen_chains" in metrics:
        checks.append(_check("frozen_chains", metrics["frozen_chains"], "<=", 0))
    if metrics.get("min_step_size_ratio") is not None:
        checks.append(_check("min_step_size_ratio", metrics["min_step_size_ratio"], ">=", STEP_COLLAPSE))
    if kind == "ensemble":
        checks.append(_check("min_acceptance", metrics.get("mean_acceptance"), ">=", ENSEMBLE_ACCEPTANCE[0]))
        checks.append(_check("max_acceptance", metrics.get("mean_acceptance"), "<=", ENSEMBLE_ACCEPTANCE[1]))
    if "max_nested_rhat" in metrics:  # many-chain engines: superchains must agree too
        checks.append(_check("max_nested_rhat", metrics["max_nested_rhat"], "<", gate["max_rhat"]))
    return {"gate": kind, "passed": all(c["passed"] for c in checks), "checks": checks}


def correctness(
    summary: Mapping[str, Mapping[str, float]], reference, problem: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """z = |mean - ref_mean| / sqrt(mcse^2 + ref_mcse^2) per parameter; the largest fails
    above ``correctness_z_limit`` of the number of parameters compared (4 for one).
    ``problem`` (``Case.reference_problem``): the case's reference exists but cannot be used."""
    if problem is not None:
        return {"reference": "reference-draws", "max_z": None, "z": {}, **problem}
    if reference is None:
        return {"reference": None, "verdict": "no-reference", "max_z": None, "z": {}}
    z = {}
    for name, ref_mean in reference.mean.items():
        if name not in summary:
            continue
        row = summary[name]
        scale = math.sqrt((row["mcse"] or 0.0) ** 2 + reference.mcse.get(name, 0.0) ** 2)
        z[name] = _finite(abs(row["mean"] - ref_mean) / scale) if scale > 0 else None
    finite = [v for v in z.values() if v is not None]
    max_z = max(finite) if len(finite) == len(z) and z else None
    threshold = correctness_z_limit(len(z))
    verdict = "pass" if max_z is not None and max_z <= threshold else "fail"
    return {"reference": reference.kind, "verdict": verdict, "max_z": max_z, "threshold": threshold, "z": z}


#: The many-chain papers' convergence criterion: the ensemble's squared bias of every
#: parameter's second moment, in units of its posterior variance, below 0.01 (the bias
#: of an estimate from about 100 independent draws).
CONVERGENCE_THRESHOLD = 0.01
#: "Settled": below the threshold for this many iterations in a row (or to the end of the
#: run), so that a transient dip, such as an unadjusted phase passing through the target
#: on its way to a biased plateau, does not count as convergence.
SETTLE_ITERATIONS = 10


def ensemble_convergence(
    moments: np.ndarray,
    grads_per_chain: np.ndarray,
    reference,
    names: tuple[str, ...],
    threshold: float = CONVERGENCE_THRESHOLD,
    settle_iterations: int = SETTLE_ITERATIONS,
    curve_points: int = 60,
) -> dict[str, Any]:
    """Gradients per chain until a many-chain ensemble's moments match the reference.

    ``moments`` (iterations, 2p) holds, per iteration (warmup and sampling), the mean over
    all chains of each constrained parameter and of its square; ``grads_per_chain``
    (iterations,) what each chain spent on that iteration (a one-chain tuning run that
    precedes the ensemble belongs to the first). The statistic is
    b2_max = max_i (E_chains[x_i^2] - E[x_i^2])^2 / Var[x_i^2], with E[x_i^2] = sd^2 + mean^2
    from the reference and Var[x_i^2] from the reference's draws where it kept it
    (``Reference.var_sq``), else the Gaussian 2 sd^4 + 4 mean^2 sd^2, exact for Gaussian
    marginals. For a skewed marginal the Gaussian form understates Var[x^2] (eight
    schools' tau: 2.6 times over the reference's draws) and inflates that parameter's b2, and with it the noise
    floor of b2 around the threshold; ``variance_of_square`` says which was used.

    Two figures, both cumulative gradients per chain: ``grads_per_chain_to_converge`` at
    the first iteration where b2_max < ``threshold`` (the papers' headline), and
    ``grads_per_chain_to_settle`` at the first iteration that starts ``settle_iterations``
    in a row below it (or a run of them that lasts to the end). ``curve`` keeps
    ``curve_points`` log-spaced (gradients, b2_max) pairs for plotting; ``b2_max`` and
    ``grads_per_chain`` keep every iteration (4 significant digits), so that another
    criterion can be read from an artifact without rerunning it. The chains' own noise
    puts a floor under b2_max of about (the largest of p chi^2_1 draws) / chains: about
    0.001 for 4096 chains and ten parameters, well under the threshold, but not for a few
    hundred chains.
    """
    moments = np.asarray(moments, dtype=float)
    p = len(names)
    if moments.ndim != 2 or moments.shape[1] != 2 * p:
        raise ValueError(f"ensemble moments have shape {moments.shape}, expected (iterations, {2 * p})")
    mean = np.array([reference.mean[n] for n in names], dtype=float)
    sd = np.array([reference.sd[n] for n in names], dtype=float)
    second = sd**2 + mean**2
    measured = getattr(reference, "var_sq", None)
    var_second = np.array([measured[n] for n in names], dtype=float) if measured else 2 * sd**4 + 4 * mean**2 * sd**2
    b2_max = np.max((moments[:, p:] - second) ** 2 / var_second, axis=1)
    grads = np.asarray(grads_per_chain, dtype=float)
    cumulative = np.cumsum(grads)
    below = b2_max < threshold
    first = int(np.argmax(below)) if below.any() else None
    settled = _first_settled(below, settle_iterations)
    picks = np.unique(np.geomspace(1, len(b2_max), num=min(curve_points, len(b2_max))).astype(int) - 1)
    return {
        "statistic": "max over parameters of (E_chains[x^2] - E[x^2])^2 / Var[x^2]",
        "threshold": threshold,
        "variance_of_square": "reference draws" if measured else "gaussian from mean and sd",
        "grads_per_chain_to_converge": float(cumulative[first]) if first is not None else None,
        "iterations_to_converge": first + 1 if first is not None else None,
        "settle_iterations": settle_iterations,
        "grads_per_chain_to_settle": float(cumulative[settled]) if settled is not None else None,
        "b2_max_final": _finite(b2_max[-1]),
        "grads_per_chain_total": float(cumulative[-1]),
        "curve": [[float(cumulative[i]), _finite(b2_max[i])] for i in picks],
        "b2_max": [_finite(float(f"{b:.4g}")) if np.isfinite(b) else None for b in b2_max],
        "grads_per_chain": [float(f"{g:.6g}") for g in grads],
    }


def _first_settled(below: np.ndarray, run: int) -> int | None:
    """First index that starts ``run`` consecutive True values, or a run of True that
    lasts to the end of the array."""
    n = len(below)
    for start in np.flatnonzero(below):
        stop = min(start + run, n)
        if below[start:stop].all():
            return int(start)
    return None


def agreement_z(mean_a, mcse_a, mean_b, mcse_b) -> float | None:
    """z-score of the difference of two Monte Carlo estimates of the same mean."""
    if None in (mean_a, mcse_a, mean_b, mcse_b):
        return None
    scale = math.hypot(mcse_a, mcse_b)
    return abs(mean_a - mean_b) / scale if scale > 0 else None


def _check(name: str, value, op: str, threshold) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        passed = False
    elif op == "<":
        passed = value < threshold
    elif op == "<=":
        passed = value <= threshold
    else:
        passed = value >= threshold
    return {"name": name, "value": value, "op": op, "threshold": threshold, "passed": bool(passed)}


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _min(values) -> float | None:
    values = list(values)
    return None if any(v is None for v in values) else min(values)


def _max_or_nan(values) -> float | None:
    values = list(values)
    return None if any(v is None for v in values) else max(values)


def _ratio(num, den) -> float | None:
    if num is None or not den:
        return None
    return float(num) / float(den)
