"""Our MAMS's far-start safeguards measured one by one, side by side in one process: the
same chains (same starts, same keys) warm up and sample with every variant, and for each
case the table prints max R-hat, max |z| against the reference, frozen chains, and bulk
ESS per sampling gradient and per gradient with warmup, medians over seeds.

Variants: ``all`` (climb, curvature start metric, step floor: the default), each with
one safeguard off, and ``none`` (all three off; Stan's step-size heuristic at the start
and the metric window in the scaled space still run).

    python -m nextstat.benchmarks.far_starts [case ...] [--seeds 42 123 777] [--out FILE.md]

Cases are built-in names or far-start cases (``ma1``, ``scaled_regression``,
``funnel_ncp_neck`` from ``cases/far_start.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any, cast

from ..threads import single_thread_xla

single_thread_xla()

VARIANTS: dict[str, dict[str, Any]] = {
    "all": {},
    "no climb": {"climb_start": False},
    "no curvature start": {"curvature_start": False},
    "no step floor": {"step_floor": 0.0},
    "none": {"climb_start": False, "curvature_start": False, "step_floor": 0.0},
}
DEFAULT_CASES = ["ma1", "scaled_regression", "funnel_ncp_neck", "eight_schools", "logreg_n1000_p10", "std_normal_d50"]


def case_by_name(name: str):
    from ..cases import get_case
    from ..cases.far_start import FAR_START_CASES

    return FAR_START_CASES[name]() if name in FAR_START_CASES else get_case(name)


def chain_runner(case, variant: dict, warmup: int, draws: int, target_accept: float):
    """One chain's warmup and sampling, jitted once for a case and variant and reused for
    every seed: (key, start) -> (positions, sampling gradients, warmup gradients)."""
    import jax

    from ..engines.jax_common import configure_jax
    from ..samplers.mams import build_kernel
    from ..samplers.mams_warmup import run_warmup

    configure_jax("float64")
    kernel = build_kernel(case.log_density)

    @jax.jit
    def run(key, position):
        warmup_key, sample_key = jax.random.split(key)
        final, info = run_warmup(
            warmup_key, position, case.log_density, warmup, target_accept=target_accept, kernel=kernel, **variant
        )

        def one(state, k):
            state, step = kernel(k, state, final.step_size, final.trajectory_length, final.inverse_metric, 0.1)
            return state, (state.position, step.n_grads)

        _, (positions, n_grads) = jax.lax.scan(one, final.state, jax.random.split(sample_key, draws))
        return positions, n_grads.sum(), info.n_grads.sum() + final.setup_grads

    return run


def measure(case, seed: int, run, chains: int) -> dict:
    import numpy as np

    from ..diagnostics import correctness, frozen_chains, parameter_summary
    from ..engines.jax_common import chain_keys, initial_points

    starts = initial_points(case, seed, chains)
    outputs = [run(key, start) for key, start in zip(chain_keys(seed, chains), starts)]
    draws_ = case.constrain(np.stack([np.asarray(o[0]) for o in outputs]))
    sampling = float(sum(int(o[1]) for o in outputs))
    warmup_grads = float(sum(int(o[2]) for o in outputs))
    # read as numbers: the min, max and ratios below take every ESS and R-hat to be finite
    summary = cast(dict[str, dict[str, float]], parameter_summary(draws_, case.param_names))
    bulk = min(p["ess_bulk"] for p in summary.values())
    verdict = correctness(summary, case.reference)
    return {
        "rhat": max(p["rhat"] for p in summary.values()),
        "max_z": verdict["max_z"],
        "frozen": frozen_chains(draws_),
        "per_grad": bulk / sampling,
        "with_warmup": bulk / (sampling + warmup_grads),
    }


def main(argv: list[str] | None = None) -> None:
    from tabulate import tabulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=DEFAULT_CASES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 123, 777])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--out", help="also write the tables here (markdown)")
    args = parser.parse_args(argv)
    sections = [
        f"# Far starts: our MAMS's warmup safeguards one by one\n\n`python -m nextstat.benchmarks.far_starts "
        f"{' '.join(args.cases)}`: {args.chains} chains x {args.warmup} warmup x {args.draws} draws, target "
        f"acceptance 0.9 (the mams-cpu suite's MAMS rows), seeds "
        f"{', '.join(map(str, args.seeds))}; medians over seeds, worst seed in brackets for R-hat and |z|, "
        "frozen chains summed over seeds. ESS is the minimum bulk ESS over parameters."
    ]
    for name in args.cases:
        case = case_by_name(name)
        rows = []
        for label in args.variants:
            run = chain_runner(case, VARIANTS[label], args.warmup, args.draws, 0.9)
            runs = [measure(case, seed, run, args.chains) for seed in args.seeds]
            rhats = [r["rhat"] for r in runs]
            zs = [r["max_z"] if r["max_z"] is not None else float("inf") for r in runs]
            rows.append(
                [
                    label,
                    f"{statistics.median(rhats):.3f} [{max(rhats):.3f}]",
                    f"{statistics.median(zs):.2f} [{max(zs):.2f}]",
                    sum(r["frozen"] for r in runs),
                    f"{statistics.median(r['per_grad'] for r in runs):.4f}",
                    f"{statistics.median(r['with_warmup'] for r in runs):.4f}",
                ]
            )
            print(f"{name} / {label}: measured", file=sys.stderr, flush=True)
        table = tabulate(
            rows,
            headers=["variant", "max R-hat", "max |z|", "frozen chains", "ESS/grad", "ESS/grad with warmup"],
            tablefmt="github",
            disable_numparse=True,
        )
        sections.append(f"## {name}\n\n{table}")
        print(f"\n{name}\n{table}", flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n\n".join(sections) + "\n")


if __name__ == "__main__":
    main()
