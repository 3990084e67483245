"""Our MAMS with its two rules for the trajectory length, side by side in one process.

Warmup sets L at 80% from the draws of 60-80% (``samplers/mams_warmup.py``):
``mean-ess`` (the MAMS paper's adjusted tuner) takes 0.4 x the path over the ESS averaged
over parameters; ``per-parameter`` (MCLMC's tuner) averages path / ESS over parameters,
which the worst-mixing parameter dominates. Both rows run the same chains (same starts,
same keys: identical until the length is set). Per case it prints, medians over seeds:
the MAMS paper's cost (gradients per chain after warmup until the median chain's b2max and
b2avg of the second moments stay below 0.01, its code's count; "never" where the run's
draws do not get there), bulk and tail ESS per sampling gradient (minimum over
parameters), the tuned L (median over chains) and gradients per draw; then the ratio
per-parameter / mean-ess of the costs and mean-ess / per-parameter of the ESS figures (above
1: the paper's rule does better). No timings: these figures do not depend on the load.

    python -m nextstat.benchmarks.mams_length_rule [case ...] [--seeds 42 123 777]
        [--budget 16x2000x6000] [--adaptation variance] [--set KEY=VALUE ...] [--out FILE.md]

``--set`` passes further engine settings to both rows (e.g. ``length_jitter=uniform``).
"""

from __future__ import annotations

import argparse
import sys

from ..cli import UsageError, parse_settings
from ..threads import single_thread_xla
from . import mams_figures, median_cost, write_markdown

single_thread_xla()

RULES = ("mean-ess", "per-parameter")
#: the MAMS paper's Table 1 targets that need no download (the Brownian motion needs the gym extra)
DEFAULT_CASES = [
    "gaussian_kappa100_d100",
    "banana_d2",
    "rosenbrock_d36",
    "gym:BrownianMotionUnknownScalesMissingMiddleObservations",
]
COSTS = ("b2max", "b2avg")
GAINS = ("bulk", "tail")


def measure(case_name: str, rule: str, seed: int, budget: tuple[int, int, int], extra: dict) -> dict:
    from ..cases import get_case

    settings = {"target_accept": 0.9, "eps_jitter": 0.1, **extra, "length_rule": rule}
    return mams_figures(get_case(case_name), settings, budget, seed)


def _count(value: float | None) -> str:
    return "never" if value is None else f"{value:,.0f}"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None and denominator is None:
        return "—"
    if numerator is None:
        return "> run"  # the other rule never got there: this one does better by more than the run shows
    if denominator is None:
        return "< run"
    return f"{numerator / denominator:.2f}x"


def table(cases: list[str], seeds: list[int], budget: tuple[int, int, int], extra: dict) -> list[str]:
    lines = [
        "| case | L rule | grads/chain to b2max < 0.01 | to b2avg < 0.01 | bulk ESS/grad | tail ESS/grad | L | "
        "grads/draw | b2max gain | b2avg gain | bulk gain | tail gain |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    print(lines[0], flush=True)
    for case_name in cases:
        medians: dict[str, dict] = {}
        for rule in RULES:
            runs = [measure(case_name, rule, seed, budget, extra) for seed in seeds]
            medians[rule] = {key: median_cost([run[key] for run in runs]) for key in runs[0]}
        paper, mclmc = medians["mean-ess"], medians["per-parameter"]
        # costs: the MCLMC rule's over the paper's; ESS: the paper's over the MCLMC rule's
        gains = [_ratio(mclmc[k], paper[k]) for k in COSTS] + [_ratio(paper[k], mclmc[k]) for k in GAINS]
        for rule in RULES:
            m = medians[rule]
            lines.append(
                f"| {case_name} | {rule} | {_count(m['b2max'])} | {_count(m['b2avg'])} | {m['bulk']:.4f} | "
                f"{m['tail']:.4f} | {m['length']:.2f} | {m['grads_per_draw']:.1f} | "
                + (" | ".join(gains) if rule == "mean-ess" else " |  |  | ")
                + " |"
            )
            print(lines[-1], flush=True)
    return lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m nextstat.benchmarks.mams_length_rule")
    parser.add_argument("cases", nargs="*", default=DEFAULT_CASES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 123, 777])
    parser.add_argument("--budget", default="16x2000x6000", help="chains x warmup x draws")
    parser.add_argument("--adaptation", default="variance", help="MAMS's metric estimator (the engine's setting)")
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE", help="another engine setting"
    )
    parser.add_argument("--out", help="also write the table as markdown here")
    args = parser.parse_args(argv)
    from ..engines import SAMPLE_METHODS, SettingsError, resolve_settings

    try:
        extra = {"adaptation": args.adaptation, **parse_settings(args.settings)}
        resolve_settings(extra, SAMPLE_METHODS["mams"])  # a bad setting is named before any run
    except (UsageError, SettingsError) as err:
        parser.error(str(err))
    try:
        budget = tuple(int(part) for part in args.budget.split("x"))
        if len(budget) != 3:
            raise ValueError
    except ValueError:
        parser.error(f"--budget {args.budget!r}: expected chains x warmup x draws, e.g. 16x2000x6000")
    lines = table(args.cases, args.seeds, budget, extra)
    if args.out:
        header = [
            "# MAMS: the trajectory length from the mean ESS (the paper's tuner) or per parameter (MCLMC's)",
            "",
            f"`python -m nextstat.benchmarks.mams_length_rule {' '.join(args.cases)} --seeds "
            f"{' '.join(map(str, args.seeds))} --budget {args.budget} --adaptation {args.adaptation}"
            + "".join(f" --set {item}" for item in args.settings)
            + "`: our MAMS "
            "(target acceptance 0.9, eps jitter 0.1), the same chains under both rules; medians over seeds (a "
            "seed that never got there counts as the most costly). The costs are the MAMS paper's (gradients "
            "per chain after warmup until the median chain's b2 stays below 0.01); ESS is the minimum over "
            "parameters, per sampling gradient. Gains: above 1x the paper's rule does better (`> run`: only it "
            "got there).",
            "",
        ]
        write_markdown(args.out, header, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
