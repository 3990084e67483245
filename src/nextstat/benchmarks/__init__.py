"""Micro-benchmarks that print their figures: ``python -m nextstat.benchmarks.<name>``."""

from collections.abc import Callable
from typing import Any, NamedTuple, cast


def min_bulk_and_tail_ess(draws, names) -> tuple[float, float]:
    """The minimum bulk and tail ESS over parameters of ``(chain, draw, parameter)``
    draws, as every run artifact reports them (``diagnostics.parameter_summary``)."""
    from ..diagnostics import parameter_summary

    # read as numbers: the minima below take every ESS to be finite
    summary = cast(dict[str, dict[str, float]], parameter_summary(draws, tuple(names)))
    return min(p["ess_bulk"] for p in summary.values()), min(p["ess_tail"] for p in summary.values())


def ratio_summary_cells(ratios: dict[str, list[float]]) -> list[str]:
    """A summary row's cells from per-case ratios to a baseline: the median and the worst
    bulk ratio, the median with warmup gradients counted, the median and the worst tail."""
    from statistics import median

    bulk, tail = ratios["bulk"], ratios["tail"]
    return [
        f"{median(bulk):.2f}x",
        f"{min(bulk):.2f}x",
        f"{median(ratios['bulk_with_warmup']):.2f}x",
        f"{median(tail):.2f}x",
        f"{min(tail):.2f}x",
    ]


def write_markdown(path, header: list[str], table: list[str]) -> None:
    """A benchmark's ``--out`` file: its header lines, then its table, newline-terminated."""
    with open(path, "w") as out:
        out.write("\n".join([*header, *table, ""]))


class OurChains(NamedTuple):
    positions: Any  # unconstrained draws, (chain, draw, d)
    warmup_grads: int
    sampling_grads: int
    step_sizes: list[float]  # per chain, after warmup


def our_nuts_chains(case, seed: int, chains: int, draws: int, warmup: Callable) -> OurChains:
    """Our NUTS over ``chains`` chains, one after another, from the suite's starting
    points and keys for ``seed``: ``warmup(key, position, kernel) -> (WarmupState,
    infos)`` adapts (any schedule, any estimator), then ``draws`` draws at its step size
    and metric. One compiled function serves every chain."""
    import jax
    import numpy as np

    from ..engines.jax_common import prepare_chains
    from ..samplers.nuts import build_kernel

    settings = {"chain_method": "sequential", "dtype": "float64"}
    inits, keys = prepare_chains("nextstat_nuts", case, settings, chains, seed)
    kernel = build_kernel(case.log_density)

    @jax.jit
    def one_chain(key, position):
        warmup_key, sample_key = jax.random.split(key)
        final, info = warmup(warmup_key, position, kernel)

        def step(state, draw_key):
            state, step_info = kernel(draw_key, state, final.step_size, final.inverse_metric)
            return state, (state.position, step_info.n_leapfrog)

        _, (positions, n_leapfrog) = jax.lax.scan(step, final.state, jax.random.split(sample_key, draws))
        return positions, info.n_leapfrog.sum(), n_leapfrog.sum(), final.step_size

    outputs = [one_chain(key, x) for key, x in zip(keys, inits)]
    return OurChains(
        np.stack([np.asarray(out[0]) for out in outputs]),
        sum(int(out[1]) for out in outputs),
        sum(int(out[2]) for out in outputs),
        [float(out[3]) for out in outputs],
    )


def mams_figures(case, settings: dict, budget: tuple[int, int, int], seed: int) -> dict[str, Any]:
    """One run of our MAMS with ``settings`` (engine settings, resolved here): the MAMS paper's
    costs (``b2max``, ``b2avg``: gradients per chain after warmup until the median chain's b2
    stays below 0.01, its code's count; None where the run never gets there or the case's
    reference has no second moments), bulk and tail ESS per sampling gradient (the minimum over
    parameters), the tuned L (median over chains) and gradients per draw."""
    import numpy as np

    from ..diagnostics import run_metrics
    from ..engines import SAMPLE_METHODS, Budget, load_engine, resolve_settings
    from ..moment_bias import chain_moment_bias

    engine = load_engine(SAMPLE_METHODS["mams"])
    settings = resolve_settings(settings, engine.name)
    result = engine.run(case, settings, Budget(*budget), seed)
    metrics = run_metrics(result, settings["max_tree_depth"])["metrics"]
    grads = result.grad_evals_sampling
    chains, _, draws = budget
    warmup_per_chain = result.grad_evals_warmup / chains
    bias = chain_moment_bias(
        result.draws, result.sample_stats["n_steps"], case.reference, result.param_names, warmup_per_chain
    )
    return {
        "b2max": bias["b2_max"]["grads_per_chain_to_stay"] if bias else None,
        "b2avg": bias["b2_avg"]["grads_per_chain_to_stay"] if bias else None,
        "bulk": metrics["min_ess_bulk"] / grads,
        "tail": metrics["min_ess_tail"] / grads,
        "length": float(np.median(result.engine_info["trajectory_length_per_chain"])),
        "grads_per_draw": grads / (chains * draws),
    }


def median_cost(values: list) -> float | None:
    """The median over seeds of a cost that may be None (never got there), a seed that never
    got there counting as infinitely costly; None where half or more never did."""
    from statistics import median

    middle = median(sorted(float("inf") if value is None else value for value in values))
    return None if middle == float("inf") else middle
