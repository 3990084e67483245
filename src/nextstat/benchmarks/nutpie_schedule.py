"""What each element of nutpie's schedule buys our NUTS, side by side with nutpie itself.

Our NUTS with a Fisher metric (diagonal or low-rank) on nutpie's schedule, once with every
element as nutpie has it and once with each element switched off (``NutpieOptions``), and on
Stan's windows; nutpie 0.16.8 on the same JAX densities with the matching adaptation (its
default diagonal, or its low-rank). Every run starts from the suite's points for its seed,
and is scored like the posteriordb suite: min bulk and tail ESS over the constrained
parameters per sampling gradient, and bulk per gradient with warmup counted; per posterior
the median over seeds, then the ratio to nutpie's, then the median over posteriors.

    python -m nextstat.benchmarks.nutpie_schedule [pdb:NAME ...] [--adaptation fisher|fisher-lowrank]
        [--seeds 42 123 777] [--posteriordb DIR] [--variants all no-symmetric ... stan-windows] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

from ..threads import single_thread_xla

single_thread_xla()

from ..samplers.nutpie_warmup import NutpieOptions  # noqa: E402  (after the XLA flags)
from . import our_nuts_chains, ratio_summary_cells  # noqa: E402

#: posteriors that span the posteriordb suite: the four where our diagonal Fisher metric was
#: furthest behind nutpie's (unscaled regressions), and four typical ones
POSTERIORS = (
    "pdb:kilpisjarvi_mod-kilpisjarvi",
    "pdb:sblri-blr",
    "pdb:earnings-log10earn_height",
    "pdb:earnings-logearn_height",
    "pdb:nes1972-nes",
    "pdb:kidiq-kidscore_momhsiq",
    "pdb:mesquite-logmesquite_logvas",
    "pdb:gp_pois_regr-gp_regr",
)
NUTPIE = "nutpie"
STAN_WINDOWS = "ours, Stan's windows"
OURS = "ours, nutpie's schedule"
#: our variants by their command-line name: the full schedule, each element off in turn,
#: every element off at once (Stan's step-size rules and shrinkage on nutpie's metric
#: updates: this schedule before the step-size rules and the unshrunk estimates were
#: added), and Stan's windows
VARIANTS: dict[str, tuple[str, NutpieOptions | None]] = {
    "all": (OURS, NutpieOptions()),
    "no-symmetric": ("  without the symmetric late statistic", NutpieOptions(symmetric_late=False)),
    "no-jitter": ("  without step-size jitter", NutpieOptions(step_size_jitter=0.0)),
    "restart": ("  with a restart at the final window", NutpieOptions(restart_final_window=True)),
    "shrink": ("  with Stan's shrinkage of each estimate", NutpieOptions(stan_shrinkage=True)),
    "no-start": ("  without the start in the first estimate", NutpieOptions(start_in_estimate=False)),
    "no-switching": ("  without switching (every draw in one estimate)", NutpieOptions(switching=False)),
    "stan-search": (
        "  with Stan's step-size heuristic at the start and first update",
        NutpieOptions(step_size_search="stan"),
    ),
    "none": (
        "  with none of the six step-size and estimate elements",
        NutpieOptions(
            symmetric_late=False,
            step_size_jitter=0.0,
            restart_final_window=True,
            max_step_size=math.inf,
            stan_shrinkage=True,
            start_in_estimate=False,
            step_size_search="stan",
        ),
    ),
    "stan-windows": (STAN_WINDOWS, None),
}
SCORES = ("bulk", "tail", "bulk_with_warmup")


def run_ours(case, seed: int, budget, adaptation: str, options: NutpieOptions | None):
    """Our NUTS over the budget's chains, on nutpie's schedule with ``options`` (None:
    Stan's windows): (constrained draws, warmup gradients, sampling gradients, median
    final step size)."""
    from ..samplers.nutpie_warmup import run_nutpie_warmup
    from ..samplers.stan_warmup import run_warmup

    def warm(key, position, kernel):
        common = {"kernel": kernel, "adaptation": adaptation}
        if options is None:
            return run_warmup(key, position, case.log_density, budget.warmup, **common)
        return run_nutpie_warmup(key, position, case.log_density, budget.warmup, options=options, **common)

    ran = our_nuts_chains(case, seed, budget.chains, budget.draws, warm)
    return (
        case.constrain(ran.positions),
        ran.warmup_grads,
        ran.sampling_grads,
        statistics.median(ran.step_sizes),
    )


def run_nutpie(case, seed: int, budget, adaptation: str):
    from ..engines.base import resolve_settings
    from ..engines.nutpie_nuts import ENGINE

    result = ENGINE.run(case, resolve_settings({"adaptation": adaptation}, ENGINE.name), budget, seed)
    step_sizes = result.engine_info.get("step_size_per_chain", [math.nan])
    return result.draws, result.grad_evals_warmup, result.grad_evals_sampling, statistics.median(step_sizes)


def score(case, draws, warmup_grads: int, sampling_grads: int, step_size: float) -> dict[str, float]:
    from . import min_bulk_and_tail_ess

    bulk, tail = min_bulk_and_tail_ess(draws, case.param_names)
    return {
        "bulk": bulk / sampling_grads,
        "tail": tail / sampling_grads,
        "bulk_with_warmup": bulk / (warmup_grads + sampling_grads),
        "step_size": step_size,
    }


def measure(name: str, seeds, budget, adaptation: str, variants, log) -> dict[str, list[dict[str, float]]]:
    """Scores per seed, keyed by the variants' labels (and nutpie's)."""
    from ..cases import get_case

    case = get_case(name)
    started = time.perf_counter()
    scores = {NUTPIE: [score(case, *run_nutpie(case, seed, budget, adaptation)) for seed in seeds]}
    log(f"{name} {NUTPIE}: {time.perf_counter() - started:.0f} s")
    for variant in variants:
        label, options = VARIANTS[variant]
        started = time.perf_counter()
        scores[label] = [score(case, *run_ours(case, seed, budget, adaptation, options)) for seed in seeds]
        log(f"{name} {label.strip()}: {time.perf_counter() - started:.0f} s")
    return scores


def tables(results: dict[str, dict[str, list[dict[str, float]]]], labels) -> str:
    from tabulate import tabulate

    median = statistics.median
    ratios: dict[str, dict[str, list[float]]] = {v: {k: [] for k in (*SCORES, "step_size")} for v in labels}
    rows = []
    for name, scores in results.items():
        base = {k: median(s[k] for s in scores[NUTPIE]) for k in (*SCORES, "step_size")}
        rows.append([name, NUTPIE, f"{base['bulk']:.4f}", "1", "1", "1", f"{base['step_size']:.3g}"])
        for variant in labels:
            mine = {k: median(s[k] for s in scores[variant]) for k in base}
            for k in base:
                ratios[variant][k].append(mine[k] / base[k])
            rows.append(
                [
                    "",
                    variant,
                    f"{mine['bulk']:.4f}",
                    f"{mine['bulk'] / base['bulk']:.2f}x",
                    f"{mine['bulk_with_warmup'] / base['bulk_with_warmup']:.2f}x",
                    f"{mine['tail'] / base['tail']:.2f}x",
                    f"{mine['step_size'] / base['step_size']:.2f}x",
                ]
            )
    headers = ["posterior", "sampler", "bulk ESS/grad", "vs nutpie", "with warmup grads", "tail", "step size"]
    per_posterior = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    summary = tabulate(
        [[variant, *ratio_summary_cells(r), f"{median(r['step_size']):.2f}x"] for variant, r in ratios.items()],
        headers=[
            "ours against nutpie",
            "bulk ESS/grad: median over posteriors",
            "worst",
            "with warmup grads",
            "tail: median",
            "tail: worst",
            "final step size",
        ],
        tablefmt="github",
        disable_numparse=True,
    )
    return summary + "\n\nPer posterior (medians over seeds):\n\n" + per_posterior


def main(argv: list[str] | None = None) -> None:
    from ..engines.base import Budget

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("posteriors", nargs="*", default=list(POSTERIORS))
    parser.add_argument("--adaptation", choices=("fisher", "fisher-lowrank"), default="fisher")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 123, 777])
    parser.add_argument("--budget", default="4x1000x1000", help="chains x warmup x draws (the posteriordb suite's)")
    parser.add_argument("--posteriordb", help="a posteriordb directory (default: $NEXTSTAT_POSTERIORDB)")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        metavar="VARIANT",
        help="our variants to run (default: all of them): " + ", ".join(VARIANTS),
    )
    parser.add_argument("--out", help="also write the tables here (markdown)")
    args = parser.parse_args(argv)
    if args.posteriordb:
        os.environ["NEXTSTAT_POSTERIORDB"] = str(Path(args.posteriordb).resolve())
    budget = Budget.parse(args.budget)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    results = {name: measure(name, args.seeds, budget, args.adaptation, args.variants, log) for name in args.posteriors}
    header = (
        f"Our NUTS ({args.adaptation}) against nutpie 0.16.8 ({args.adaptation}: "
        f"{'its default diagonal' if args.adaptation == 'fisher' else 'its low-rank'}), {budget.chains} chains x "
        f"{budget.warmup} warmup x {budget.draws} draws, seeds {', '.join(map(str, args.seeds))}, the suite's "
        "starting points; ratios of medians over seeds, then medians over posteriors."
    )
    text = header + "\n\n" + tables(results, [VARIANTS[v][0] for v in args.variants]) + "\n"
    print(text)
    if args.out:
        command = shlex.join(["python", "-m", "nextstat.benchmarks.nutpie_schedule", *(argv or sys.argv[1:])])
        Path(args.out).write_text(f"# nutpie's schedule, element by element: `{command}`\n\n" + text)


if __name__ == "__main__":
    main()
