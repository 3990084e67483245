"""Our MAMS's trajectory length against its bulk and tail ESS, side by side in one process.

Warmup sets L = ``length_factor`` x the path length per effective sample of its draws
(0.4, MCLMC's and the MAMS paper's choice: ``samplers/mams_warmup.length_from_draws``).
On posteriors that the low-rank metric whitens to nearly a standard normal of a few
dimensions (posteriordb's regressions), L then comes out at one integrator step a draw,
and our NUTS's draws there are antithetic (bulk ESS above the draw count) where MAMS's are
not. This benchmark asks whether a longer L, or a random number of steps a draw
(``length_jitter: uniform``, as BlackJAX's dynamic MAMS kernel draws it), closes that gap,
and what it costs in the tails: every variant (a factor and a jitter) runs the same chains
(same starts, same keys: warmup is identical until L is set), and per case it prints bulk
and tail ESS per sampling gradient (the minimum over parameters), gradients per draw and,
where the case's reference has second moments, the MAMS paper's cost (gradients per chain
after warmup until the median chain's b2max stays below 0.01), medians over seeds; then,
over the cases, the median ratio of each variant to the first (the shipped one) and, with
``--against SUMMARY LABEL``, to that row of a committed suite summary (e.g. our low-rank
NUTS on mams-posteriordb: its medians over that suite's seeds).
No timings: these figures do not depend on the load.

    python -m nextstat.benchmarks.mams_length_factor [case ...] [--suite mams-posteriordb]
        [--variants 0.4:none 0.8:none 0.8:uniform] [--seeds 42] [--budget 4x1000x1000]
        [--against reports/mams-posteriordb/summary.json nextstat_nuts_fisher_lowrank] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from ..threads import single_thread_xla
from . import mams_figures, median_cost, write_markdown

single_thread_xla()

DEFAULT_VARIANTS = ["0.4:none", "0.6:uniform", "0.8:none", "0.8:uniform"]
GAINS = ("bulk", "tail")


def parse_variant(text: str) -> tuple[float, str]:
    """``FACTOR:JITTER`` (e.g. ``0.8:uniform``) -> (0.8, "uniform")."""
    factor, _, jitter = text.partition(":")
    try:
        return float(factor), jitter or "none"
    except ValueError:
        raise ValueError(f"variant {text!r}: expected FACTOR:JITTER, e.g. 0.8:uniform") from None


def measure(case, factor: float, jitter: str, seed: int, budget: tuple[int, int, int]) -> dict:
    settings = {"target_accept": 0.9, "eps_jitter": 0.1, "length_factor": factor, "length_jitter": jitter}
    return mams_figures(case, settings, budget, seed)


def committed_row(path: str, label: str) -> dict[str, dict[str, float]]:
    """Per case, that row's median bulk and tail ESS per gradient in a suite summary."""
    with open(path) as handle:
        rows = json.load(handle)["rows"]
    found = {
        row["case"]: {
            gain: row["metrics"][f"ess_{gain}_per_grad"]["median"]
            for gain in GAINS
            if row["metrics"].get(f"ess_{gain}_per_grad")
        }
        for row in rows
        if row["label"] == label
    }
    if not found:
        raise ValueError(f"{path}: no row labelled {label!r}")
    return found


def suite_cases(suite: str) -> list[str]:
    """A suite's cases, from ``config/suites/SUITE.yaml`` under the working directory (the repository)."""
    import yaml

    with open(f"config/suites/{suite}.yaml") as handle:
        return list(yaml.safe_load(handle)["cases"])


def table(cases, variants, seeds, budget, against=None) -> list[str]:
    from ..cases import get_case
    from ..moment_bias import second_moment_targets

    names = [f"{factor:g}:{jitter}" for factor, jitter in variants]
    header = "| case | " + " | ".join(f"{name} bulk | tail | grads/draw | b2max cost" for name in names) + " |"
    lines = [header, "|---|" + "---|---|---|---|" * len(variants)]
    print(lines[0], flush=True)
    medians: dict[str, list[dict]] = {}
    for case_name in cases:
        case = get_case(case_name)
        row = []
        for factor, jitter in variants:
            runs = [measure(case, factor, jitter, seed, budget) for seed in seeds]
            row.append({key: median_cost([run[key] for run in runs]) for key in runs[0]})
        medians[case_name] = row
        known = second_moment_targets(case.reference, case.param_names) is not None
        cells = " | ".join(
            f"{m['bulk']:.4f} | {m['tail']:.4f} | {m['grads_per_draw']:.1f} | {_cost(m['b2max'], known)}" for m in row
        )
        lines.append(f"| {case_name} | {cells} |")
        print(lines[-1], flush=True)
    lines += ["", "| variant | " + " | ".join(f"{gain} over {names[0]}" for gain in GAINS)]
    if against:
        lines[-1] += " | " + " | ".join(f"{gain} over {against[1]}" for gain in GAINS)
    lines[-1] += " |"
    lines.append("|---|" + "---|" * (len(GAINS) * (2 if against else 1)))
    reference = committed_row(*against) if against else {}
    for index, name in enumerate(names):
        ratios = [_spread([medians[c][index][g] / medians[c][0][g] for c in cases]) for g in GAINS]
        if against:
            ratios += [
                _spread([medians[c][index][g] / reference[c][g] for c in cases if reference.get(c, {}).get(g)])
                for g in GAINS
            ]
        lines.append(f"| {name} | " + " | ".join(ratios) + " |")
        print(lines[-1], flush=True)
    return lines


def _cost(value: float | None, known: bool) -> str:
    """A b2 cost: "—" where the case has no second moments, "never" where the run did not get there."""
    if not known:
        return "—"
    return "never" if value is None else f"{value:,.0f}"


def _spread(ratios: list[float]) -> str:
    """Median [quartiles] of ratios, and how many are below 1."""
    if not ratios:
        return "—"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}x"
    q1, q2, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return f"{q2:.2f}x [{q1:.2f}, {q3:.2f}], < 1 on {sum(r < 1 for r in ratios)}/{len(ratios)}"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m nextstat.benchmarks.mams_length_factor")
    parser.add_argument("cases", nargs="*")
    parser.add_argument("--suite", help="also take this suite's cases (config/suites/SUITE.yaml)")
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help="FACTOR:JITTER, the first the baseline")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument("--budget", default="4x1000x1000", help="chains x warmup x draws")
    parser.add_argument("--against", nargs=2, metavar=("SUMMARY", "LABEL"), help="a committed suite summary's row")
    parser.add_argument("--out", help="also write the tables as markdown here")
    args = parser.parse_args(argv)
    try:
        variants = [parse_variant(text) for text in args.variants]
        budget = tuple(int(part) for part in args.budget.split("x"))
        if len(budget) != 3:
            raise ValueError(f"--budget {args.budget!r}: expected chains x warmup x draws, e.g. 4x1000x1000")
        cases = args.cases + (suite_cases(args.suite) if args.suite else [])
        if not cases:
            raise ValueError("name cases or --suite")
        if args.against:
            committed_row(*args.against)
    except (ValueError, OSError) as err:
        parser.error(str(err))
    lines = table(cases, variants, args.seeds, budget, args.against)
    if args.out:
        header = [
            "# MAMS: the trajectory length's factor and jitter against bulk and tail ESS",
            "",
            "`python -m nextstat.benchmarks.mams_length_factor"
            + "".join(f" {case}" for case in args.cases)
            + (f" --suite {args.suite}" if args.suite else "")
            + f" --variants {' '.join(args.variants)} --seeds {' '.join(map(str, args.seeds))} --budget {args.budget}"
            + (f" --against {' '.join(args.against)}" if args.against else "")
            + "`: our MAMS as it ships (target acceptance 0.9, eps jitter 0.1, its default metric), L = FACTOR x "
            "the path per effective sample of warmup's draws, steps a draw round(L / eps) (`none`) or uniform "
            "on 1..2L/eps-1 (`uniform`); the same chains under every variant; ESS per sampling gradient is the "
            "minimum over parameters, medians over seeds.",
            "",
        ]
        write_markdown(args.out, header, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
