"""How much can any metric estimator gain over Stan's on a case? Our NUTS side by side
in one process with Stan's windowed variance, the Fisher diagonal, the Fisher low rank,
and two *oracle* metrics that no estimator can beat on average: the posterior's own
variances (diagonal) and its full covariance (dense), measured on the unconstrained
space from a long separate run. Every variant keeps Stan's windows and step-size
adaptation (an oracle replaces each window's estimate by the known metric), starts from
the suite's points and keys, and is scored like the suite: min bulk and tail ESS over
the constrained parameters per sampling gradient, and per gradient with warmup counted.

The oracle columns bound what any metric estimator can gain: where the oracle dense
metric gains 1.1x over Stan's, no estimator reaches a 2x median gain on that case.

    python -m nextstat.benchmarks.metric_ceiling [case ...] [--seeds 42 123 777] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from ..threads import single_thread_xla

single_thread_xla()

from . import our_nuts_chains, ratio_summary_cells  # noqa: E402  (after the XLA flags)

#: the fisher suite's cases (config/suites/fisher.yaml) and its one case setting
CASES = (
    "glm_logistic_n200_p6",
    "hier_logistic_ri",
    "eight_schools",
    "std_normal_d50",
    "neal_funnel_ncp_10d",
    "glm_logistic_n1000_p20",
)
TARGET_ACCEPT = {"eight_schools": 0.95}
VARIANTS = ("stan", "fisher", "fisher-lowrank", "oracle diagonal", "oracle dense")
BASELINE = "stan"
REFERENCE_SEED = 2026  # the long run that measures the posterior covariance; not a benchmark seed


def fixed_estimator(inverse_metric):
    """A window 'estimator' that always answers the given inverse metric."""
    import jax.numpy as jnp

    from ..samplers.fisher_metric import WindowEstimator

    return WindowEstimator(
        lambda d, dtype: jnp.zeros((), dtype),
        lambda state, x, g: state,
        lambda state: inverse_metric,
        dense=inverse_metric.ndim == 2,
    )


def run_chains(case, seed: int, chains: int, warmup: int, draws: int, variant: str, oracle=None):
    """Our NUTS on Stan's windows over ``chains`` chains, one after another; returns the
    unconstrained draws (chain, draw, d) and the leapfrog steps spent in warmup and in
    sampling."""
    import jax
    import numpy as np

    from ..samplers.stan_warmup import run_warmup

    if variant.startswith("oracle"):
        metric = oracle if variant == "oracle dense" else np.diag(oracle)
        options = {"estimator": fixed_estimator(jax.numpy.asarray(metric)), "dense": metric.ndim == 2}
    else:
        options = {"adaptation": variant}

    def warm(key, position, kernel):
        target = TARGET_ACCEPT.get(case.name, 0.8)
        return run_warmup(key, position, case.log_density, warmup, target_accept=target, kernel=kernel, **options)

    ran = our_nuts_chains(case, seed, chains, draws, warm)
    return ran.positions, ran.warmup_grads, ran.sampling_grads


def posterior_covariance(case, warmup: int, draws: int):
    """The unconstrained posterior covariance from a long run of our NUTS (4 chains)."""
    import numpy as np

    positions, _, _ = run_chains(case, REFERENCE_SEED, 4, warmup, draws, "stan")
    flat = positions.reshape(-1, positions.shape[-1])
    return np.atleast_2d(np.cov(flat, rowvar=False))


def score(case, positions, warmup_grads: int, sampling_grads: int) -> dict[str, float]:
    from . import min_bulk_and_tail_ess

    bulk, tail = min_bulk_and_tail_ess(case.constrain(positions), case.param_names)
    return {
        "bulk": bulk / sampling_grads,
        "tail": tail / sampling_grads,
        "bulk_with_warmup": bulk / (warmup_grads + sampling_grads),
    }


def measure(case_name: str, seeds, chains: int, warmup: int, draws: int, reference_draws: int, log):
    from ..cases import get_case

    case = get_case(case_name)
    started = time.perf_counter()
    oracle = posterior_covariance(case, warmup, reference_draws)
    log(f"{case_name}: posterior covariance from {4 * reference_draws} draws ({time.perf_counter() - started:.0f} s)")
    scores = {}
    for variant in VARIANTS:
        started = time.perf_counter()
        scores[variant] = [
            score(case, *run_chains(case, seed, chains, warmup, draws, variant, oracle)) for seed in seeds
        ]
        log(f"  {variant}: {time.perf_counter() - started:.0f} s")
    return scores


def median(values):
    return statistics.median(values)


def tables(results: dict[str, dict[str, list[dict[str, float]]]]) -> str:
    from tabulate import tabulate

    rows = []
    ratios: dict[str, dict[str, list[float]]] = {v: {"bulk": [], "tail": [], "bulk_with_warmup": []} for v in VARIANTS}
    for case, scores in results.items():
        base = {k: median(s[k] for s in scores[BASELINE]) for k in ("bulk", "tail", "bulk_with_warmup")}
        for variant in VARIANTS:
            mine = {k: median(s[k] for s in scores[variant]) for k in base}
            for k in base:
                ratios[variant][k].append(mine[k] / base[k])
            rows.append(
                [
                    case,
                    variant,
                    f"{mine['bulk']:.4f}",
                    f"{mine['bulk'] / base['bulk']:.2f}x",
                    f"{mine['bulk_with_warmup'] / base['bulk_with_warmup']:.2f}x",
                    f"{mine['tail']:.4f}",
                    f"{mine['tail'] / base['tail']:.2f}x",
                ]
            )
    per_case = tabulate(
        rows,
        headers=[
            "case",
            "metric",
            "bulk ESS/grad",
            f"vs {BASELINE}",
            f"with warmup grads vs {BASELINE}",
            "tail ESS/grad",
            f"tail vs {BASELINE}",
        ],
        tablefmt="github",
        disable_numparse=True,
    )
    summary = tabulate(
        [[variant, *ratio_summary_cells(r)] for variant, r in ratios.items()],
        headers=[
            "metric",
            f"median over cases vs {BASELINE}",
            "worst case",
            "median, warmup grads counted",
            "tail: median",
            "tail: worst case",
        ],
        tablefmt="github",
        disable_numparse=True,
    )
    return per_case + "\n\n" + summary


def argv_cases(cases: list[str]) -> list[str]:
    """The cases as the command line names them: none where they are the defaults."""
    return [] if list(cases) == list(CASES) else list(cases)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=list(CASES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 123, 777])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--reference-draws", type=int, default=10_000, help="draws per chain of the covariance run")
    parser.add_argument("--out", help="also write the tables here (markdown)")
    args = parser.parse_args(argv)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    results = {
        case: measure(case, args.seeds, args.chains, args.warmup, args.draws, args.reference_draws, log)
        for case in args.cases
    }
    header = (
        f"Our NUTS, {args.chains} chains x {args.warmup} warmup x {args.draws} draws, seeds "
        f"{', '.join(map(str, args.seeds))}: medians over seeds, ratios of medians to `{BASELINE}`. Oracle "
        f"metrics: the unconstrained posterior covariance from {4 * args.reference_draws} draws of a separate "
        f"run (seed {REFERENCE_SEED})."
    )
    text = header + "\n\n" + tables(results) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            command = " ".join(["python -m nextstat.benchmarks.metric_ceiling", *argv_cases(args.cases)])
            handle.write(f"# Metric ceiling, {', '.join(args.cases)}: `{command}`\n\n" + text)


if __name__ == "__main__":
    main()
