"""Our MAMS with a fixed and a random number of steps per transition, side by side in
one process: the same chains (same starts, same keys, same warmup) sample with
``length_jitter: none`` (round(L/eps) steps, the step size jittered +-10%) and
``length_jitter: uniform`` (steps uniform on 1..2L/eps-1, the trajectory randomization
BlackJAX's dynamic MAMS kernel uses). For each case it prints bulk and tail ESS per
sampling gradient, max R-hat and gradients per draw, medians over seeds, and the ratio
uniform / none. No timings: ESS per gradient does not depend on the machine's load.

    python -m nextstat.benchmarks.mams_length [case ...] [--seeds 42 123 777] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from ..threads import single_thread_xla
from . import write_markdown

single_thread_xla()

VARIANTS = ("none", "uniform")
DEFAULT_CASES = [
    "std_normal_d2",
    "std_normal_d10",
    "std_normal_d50",
    "eight_schools",
    "logreg_n1000_p10",
    "glm_logistic_n5000_p20",
    "neal_funnel_ncp_10d",
    "neal_funnel_10d",
]
BUDGET = (4, 1000, 1000)  # the mams-cpu suite's


def measure(case_name: str, variant: str, seed: int) -> dict[str, float]:
    from ..cases import get_case
    from ..diagnostics import run_metrics
    from ..engines import SAMPLE_METHODS, Budget, load_engine, resolve_settings

    engine = load_engine(SAMPLE_METHODS["mams"])
    settings = resolve_settings({"target_accept": 0.9, "eps_jitter": 0.1, "length_jitter": variant}, engine.name)
    budget = Budget(*BUDGET)
    result = engine.run(get_case(case_name), settings, budget, seed)
    metrics = run_metrics(result, settings["max_tree_depth"])["metrics"]
    grads = result.grad_evals_sampling
    return {
        "bulk": metrics["min_ess_bulk"] / grads,
        "tail": metrics["min_ess_tail"] / grads,
        "rhat": metrics["max_rhat"],
        "grads_per_draw": grads / (budget.chains * budget.draws),
    }


def table(cases: list[str], seeds: list[int]) -> list[str]:
    lines = [
        "| case | steps | bulk ESS/grad | tail ESS/grad | max R-hat | grads/draw | bulk ratio | tail ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case_name in cases:
        medians = {}
        for variant in VARIANTS:
            runs = [measure(case_name, variant, seed) for seed in seeds]
            medians[variant] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            medians[variant]["rhat"] = max(run["rhat"] for run in runs)
        for variant in VARIANTS:
            m = medians[variant]
            ratios = (
                f"{m['bulk'] / medians['none']['bulk']:.2f}x | {m['tail'] / medians['none']['tail']:.2f}x"
                if variant != "none"
                else " | "
            )
            lines.append(
                f"| {case_name} | {variant} | {m['bulk']:.4f} | {m['tail']:.4f} | {m['rhat']:.3f} | "
                f"{m['grads_per_draw']:.2f} | {ratios} |"
            )
            print(lines[-1], flush=True)
    return lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m nextstat.benchmarks.mams_length")
    parser.add_argument("cases", nargs="*", default=DEFAULT_CASES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 123, 777])
    parser.add_argument("--out", help="also write the table as markdown here")
    args = parser.parse_args(argv)
    lines = table(args.cases, args.seeds)
    if args.out:
        chains, warmup, draws = BUDGET
        header = [
            "# MAMS: fixed against random steps per transition",
            "",
            f"`python -m nextstat.benchmarks.mams_length --seeds {' '.join(map(str, args.seeds))}`: our MAMS "
            "(`nextstat.sample(method='mams')`'s engine, target acceptance 0.9, eps jitter 0.1), "
            f"{chains} chains x {warmup} warmup x {draws} "
            "draws, the same warmup for both rows; medians over seeds (R-hat: the maximum). `none`: round(L/eps) "
            "steps; `uniform`: steps uniform on 1..2L/eps-1 (mean L/eps). ESS is the minimum over parameters; "
            "per sampling gradient.",
            "",
        ]
        write_markdown(args.out, header, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
