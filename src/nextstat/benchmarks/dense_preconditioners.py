"""What a dense preconditioner buys our MAMS and LAPS where the posterior is correlated:
side by side in one process, on the same seeds, MAMS with the diagonal Fisher estimate
against the low-rank Fisher estimate (dense, through its Cholesky factor), and LAPS with
the chains' variance against their covariance, on a Gaussian whose neighbours are
correlated ``rho`` and whose scales span two decades (the shape of posteriordb's raw-scale
regressions, where our diagonal MAMS fails), and optionally on posteriordb posteriors.
Scored as the suites score: min bulk ESS per sampling gradient, R-hat, |z| against the
reference; medians over seeds and the ratio of medians. Gradients, not seconds: the
figures do not depend on what else the machine is doing.

    python -m nextstat.benchmarks.dense_preconditioners [--seeds 42 123 777] [--rho 0.99] [--d 10]
        [--posteriordb pdb:earnings-logearn_logheight_male ...]
"""

from __future__ import annotations

import argparse
import statistics

from ..threads import single_thread_xla

single_thread_xla()

#: (label, engine, settings, budget)
ROWS = (
    ("MAMS, Fisher diagonal", "nextstat_mams", {"target_accept": 0.9, "adaptation": "fisher"}, (4, 1000, 1000)),
    ("MAMS, Fisher low-rank (dense)", "nextstat_mams", {"target_accept": 0.9, "adaptation": "fisher-lowrank"},
     (4, 1000, 1000)),
    ("LAPS, variance", "nextstat_laps",
     {"chain_method": "vectorized", "target_accept": 0.9, "report_chains": 256, "adaptation": "variance"},
     (1024, 500, 500)),
    ("LAPS, covariance (dense)", "nextstat_laps",
     {"chain_method": "vectorized", "target_accept": 0.9, "report_chains": 256, "adaptation": "covariance"},
     (1024, 500, 500)),
)  # fmt: skip


def measure(case, engine: str, settings: dict, budget: tuple[int, int, int], seed: int) -> dict[str, float]:
    from ..diagnostics import correctness, run_metrics
    from ..engines import Budget, load_engine, resolve_settings

    result = load_engine(engine).run(case, resolve_settings(settings, engine), Budget(*budget), seed)
    computed = run_metrics(result, 10)
    z = correctness(computed["summary"], case.reference)["max_z"]
    metrics = computed["metrics"]
    return {"ess_per_grad": metrics["ess_bulk_per_grad"] or 0.0, "rhat": metrics["max_rhat"], "z": z}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 123, 777])
    parser.add_argument("--rho", type=float, default=0.99)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--posteriordb", nargs="*", default=[], help="pdb:<posterior> cases (MAMS rows only)")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    from ..cases import get_case
    from ..cases.paper_targets import correlated_gaussian

    cases = [(correlated_gaussian(args.d, args.rho), ROWS)] + [(get_case(name), ROWS[:2]) for name in args.posteriordb]
    print(f"seeds {args.seeds}; medians over seeds; min bulk ESS per sampling gradient\n")
    print("| case | row | ESS/grad (median) | ratio to the diagonal row | max R-hat (median) | max \\|z\\| (max) |")
    print("|---|---|---|---|---|---|")
    for case, rows in cases:
        medians: dict[str, float] = {}
        for index, (label, engine, settings, budget) in enumerate(rows):
            runs = [measure(case, engine, settings, budget, seed) for seed in args.seeds]
            medians[label] = statistics.median(r["ess_per_grad"] for r in runs)
            base = medians[rows[index - index % 2][0]]
            ratio = medians[label] / base if base else float("nan")
            rhat = statistics.median(r["rhat"] for r in runs if r["rhat"] is not None)
            worst_z = max((r["z"] for r in runs if r["z"] is not None), default=float("nan"))
            print(f"| {case.name} | {label} | {medians[label]:.5f} | {ratio:.2f}x | {rhat:.4f} | {worst_z:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
