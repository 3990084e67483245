"""``nextstat.sample``: our samplers for a user's own model, without the harness."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .cases import Case, get_case
from .cases.base import identity, indexed_columns
from .engines import SAMPLE_METHODS, Budget, resolve_settings

#: ``method="auto"``: MAMS for the families of posteriors where it was measured to beat our
#: NUTS and to stay healthy, NUTS for everything else. The mams-cpu suite: MAMS's ESS/s over
#: our NUTS 4.2x on eight schools (2.6x ESS/grad with warmup counted), 1.3-1.7x on standard
#: normals and the non-centered funnel; on the logistic regressions it tied once its warmup
#: was counted (0.93x, 1.03x). The posteriordb suite (35 real posteriors, mostly regressions
#: on raw, correlated predictors): MAMS failed its health gate on at least one seed of 13
#: posteriors (R-hat, ESS), on 11 of which our NUTS passed every seed, so regressions,
#: GLMs, posteriordb's posteriors and bare user densities get NUTS.
AUTO_MAMS_FAMILIES = ("std_normal", "hierarchical_normal", "funnel")


class SamplingWarning(UserWarning):
    """A run that returned draws which should not be trusted as they are."""


def choose_method(case: Case) -> str:
    """The rule behind ``method="auto"`` (see ``AUTO_MAMS_FAMILIES``)."""
    return "mams" if case.family in AUTO_MAMS_FAMILIES else "nuts"


def sample(
    model: Case | str | Callable,
    *,
    method: str = "nuts",
    n_chains: int = 4,
    n_warmup: int = 1000,
    n_samples: int = 2000,
    seed: int = 42,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    metric: str = "diag",
    adaptation: str | None = None,
    dim: int | None = None,
    dtype: str = "float64",
):
    """Sample a posterior and return an ``arviz.InferenceData``.

    ``model`` is a nextstat ``Case``, a case name (``"eight_schools"`` or
    ``"path/to/file.py:NAME"``), or a JAX log density on R^dim (then ``dim`` is required
    and the parameters are named ``x[1..dim]``). Chains run one after another, each from
    Stan's U(-2, 2) initialization, with Stan's warmup; the same seed gives the same draws.

    ``method``: ``"nuts"``; ``"mams"`` (a few chains of MAMS; ``target_accept`` 0.9 is its
    published choice); ``"laps"`` (``n_chains`` lockstep MAMS chains, e.g. 4096, of which
    256 are returned); ``"auto"`` picks MAMS for standard normals, hierarchical normals and
    funnels and NUTS otherwise (``choose_method``, backed by the mams-cpu and posteriordb
    suites); when the MAMS run shows
    that its warmup failed (a frozen chain, a collapsed step size), ``auto`` warns and
    samples with NUTS instead (``attrs["auto_fallback"]`` says why).

    A run with frozen chains, a collapsed step size or R-hat above 1.01 warns
    (``SamplingWarning``) instead of returning silently.

    ``adaptation`` is the warmup's metric estimator: by default (None) each method's own
    (NUTS: Stan's; MAMS: ``"auto"``, the low-rank Fisher estimate up to 100 parameters and
    the variance above; LAPS: the chains' variance); ``"stan"`` (Stan's windowed variance;
    for MAMS and LAPS, their variance estimate), ``"fisher"`` (the diagonal
    Fisher-divergence minimizer from the warmup draws and their gradients; every method)
    or ``"fisher-lowrank"`` (NUTS and MAMS); see ``nextstat.samplers.fisher_metric``. NUTS
    estimates the Fisher ones on nutpie's warmup schedule (``samplers.nutpie_warmup``) and
    Stan's variance on Stan's windows.

    ``posterior`` holds the constrained parameters (indexed names grouped into vectors);
    ``sample_stats`` holds ``lp``, ``n_steps``, ``tree_depth``, ``diverging``, ``energy``,
    ``acceptance_rate`` and ``step_size``, the names arviz's plots and diagnostics read;
    MAMS and LAPS add ``accepted`` (what the Metropolis step did) and ``distance`` (how
    far each transition moved), since a chain with a collapsed step size accepts nearly
    everything and goes nowhere.
    """
    if method not in (*SAMPLE_METHODS, "auto"):
        raise ValueError(f"method={method!r}: available methods are {', '.join(SAMPLE_METHODS)}, auto")
    case = _as_case(model, dim)
    common = dict(
        n_chains=n_chains,
        n_warmup=n_warmup,
        n_samples=n_samples,
        seed=seed,
        target_accept=target_accept,
        max_tree_depth=max_tree_depth,
        metric=metric,
        adaptation=adaptation,
        dtype=dtype,
    )
    if method != "auto":
        result, problems = _run(case, method, **common)
        _warn(problems, method)
        return _inference_data(result, case, method, common)
    method = choose_method(case)
    result, problems = _run(case, method, **common)
    fallback = None
    warmup_failed = [text for kind, text in problems if kind in ("frozen", "step-collapse")]
    if method == "mams" and warmup_failed:
        fallback = f"MAMS: {'; '.join(warmup_failed)}"
        warnings.warn(
            f"nextstat.sample(method='auto'): {fallback}; sampling with NUTS instead", SamplingWarning, stacklevel=2
        )
        method = "nuts"
        result, problems = _run(case, method, **common)
    _warn(problems, method)
    return _inference_data(result, case, method, common, auto_fallback=fallback)


def _run(
    case: Case,
    method: str,
    *,
    n_chains,
    n_warmup,
    n_samples,
    seed,
    target_accept,
    max_tree_depth,
    metric,
    adaptation,
    dtype,
):
    """One engine run and what is wrong with it (``run_problems``)."""
    overrides: dict[str, Any] = {"target_accept": target_accept, "metric": metric, "dtype": dtype}
    if method == "nuts":
        overrides["max_tree_depth"] = max_tree_depth
    if adaptation is not None:  # MAMS and LAPS name Stan's estimator after what it is, the variance
        overrides["adaptation"] = "variance" if adaptation == "stan" and method != "nuts" else adaptation
    if method == "laps":
        overrides.update(chain_method="vectorized", report_chains=min(256, n_chains))
    settings = resolve_settings(overrides, SAMPLE_METHODS[method])
    budget = Budget(n_chains, n_warmup, n_samples).checked()
    from .engines import load_engine

    engine = load_engine(SAMPLE_METHODS[method])
    result = engine.run(case, settings, budget, seed)
    # what the warmup estimated with (MAMS's engine resolves its "auto" itself)
    result.engine_info.setdefault("adaptation_used", settings["adaptation"])
    return result, run_problems(result, engine.health_gate, max_tree_depth)


def run_problems(result, health_gate_kind: str, max_tree_depth: int = 10) -> list[tuple[str, str]]:
    """What makes a run's draws untrustworthy as they are, as (kind, message): the health
    gate's frozen-chain (``frozen``), step-collapse (``step-collapse``) and R-hat (``rhat``)
    checks that failed, with the gate's own thresholds (``diagnostics.health_gate``)."""
    from .diagnostics import health_gate, run_metrics

    metrics = run_metrics(result, max_tree_depth)["metrics"]
    failed = {c["name"]: c for c in health_gate(metrics, kind=health_gate_kind)["checks"] if not c["passed"]}
    problems = []
    if "frozen_chains" in failed:
        problems.append(
            ("frozen", f"{metrics['frozen_chains']} of {result.draws.shape[0]} chains frozen (their draws do not move)")
        )
    if "min_step_size_ratio" in failed:
        problems.append(
            ("step-collapse", f"step size collapsed to {metrics['min_step_size_ratio']:.1e} of its initial value")
        )
    if "max_rhat" in failed:
        rhat, check = metrics["max_rhat"], failed["max_rhat"]
        problems.append(("rhat", f"R-hat {rhat if rhat is None else f'{rhat:.3f}'} (not below {check['threshold']})"))
    return problems


def _warn(problems: list[tuple[str, str]], method: str) -> None:
    if problems:
        text = "; ".join(message for _, message in problems)
        warnings.warn(
            f"nextstat.sample(method={method!r}): {text}: do not trust these draws as they are",
            SamplingWarning,
            stacklevel=3,
        )


def _inference_data(result, case: Case, method: str, common: dict[str, Any], auto_fallback: str | None = None):
    attrs = {
        "sampler": f"nextstat {method}",
        "method": method,
        "case": case.name,
        "seed": common["seed"],
        "target_accept": common["target_accept"],
        "adaptation": result.engine_info["adaptation_used"],
        "grad_evals_warmup": result.grad_evals_warmup,
        "grad_evals_sampling": result.grad_evals_sampling,
        "warmup_s": result.warmup_s,
        "sampling_s": result.sampling_s,
        "compile_s": result.compile_s,
    }
    if auto_fallback:
        attrs["auto_fallback"] = auto_fallback
    return to_inference_data(result, attrs=attrs)


def to_inference_data(result, attrs: dict[str, Any] | None = None):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    posterior = _group_indexed(result.param_names, result.draws)
    return az.from_dict(posterior=posterior, sample_stats=dict(result.sample_stats), attrs=attrs or {})


def _as_case(model, dim: int | None) -> Case:
    if isinstance(model, Case):
        return model
    if isinstance(model, str):
        return get_case(model)
    if callable(model):
        if not dim or dim < 1:
            raise ValueError("a bare log density needs dim=<number of parameters>")
        names = tuple(f"x[{i}]" for i in range(1, dim + 1))
        return Case(
            name=getattr(model, "__name__", "log_density"),
            family="user",
            parameterization="none",
            description="log density passed to nextstat.sample",
            unconstrained_names=names,
            param_names=names,
            log_density=model,
            constrain=identity,
        )
    raise TypeError(f"model must be a Case, a case name or a log density function, not {type(model).__name__}")


def _group_indexed(names, draws: np.ndarray) -> dict[str, np.ndarray]:
    """``(chain, draw, k)`` columns named ``theta[1]..theta[J]`` -> ``theta: (chain, draw, J)``."""
    return {base: draws[..., idx] for base, idx in indexed_columns(tuple(names)).items()}
