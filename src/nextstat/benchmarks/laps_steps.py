"""Our LAPS with a fixed number of integrator steps per draw, side by side in one process:
after one ensemble warmup (seed by seed), the same ensemble samples with every n in
``--steps``, and the bulk and tail ESS per sampling gradient of each are printed beside
the n that the warmup's chooser (``laps.choose_trajectory_length``) picked and its
scores. It shows what a length buys on each kind of ESS: on near-Gaussian targets a
two-step move jumps to the other side of the mean (antithetic), which doubles the bulk
ESS and cuts the tail ESS by three to four, the regime BlackJAX's tuned MAMS runs in.

    python -m nextstat.benchmarks.laps_steps [case ...] [--steps 1 2 3 4] [--seeds 42 123] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

from ..threads import single_thread_xla

single_thread_xla()


def measure(case_name: str, seed: int, steps, chains: int, report: int, warmup: int, draws: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..cases import get_case
    from ..engines.jax_common import SUPERCHAIN_SIZE, configure_jax, initial_points
    from ..samplers import laps
    from ..samplers.mams import build_kernel
    from . import min_bulk_and_tail_ess

    configure_jax("float64")
    case = get_case(case_name)
    positions = jnp.asarray(np.repeat(initial_points(case, seed, chains // SUPERCHAIN_SIZE), SUPERCHAIN_SIZE, axis=0))
    kernel = build_kernel(case.log_density)
    warmup_key, sample_key, score_key = jax.random.split(jax.random.key(seed), 3)
    ensemble = jax.jit(
        lambda key, x: laps.run_warmup(key, x, case.log_density, warmup, kernel=kernel, report_chains=report)
    )(warmup_key, positions).ensemble
    chosen = float(ensemble.trajectory_length / ensemble.step_size)
    _, scores, _ = laps.choose_trajectory_length(
        score_key, laps.lockstep(kernel), ensemble.states, ensemble.step_size, ensemble.inverse_metric, 0.1
    )
    sample = jax.jit(lambda key, e: laps.sample(key, e, case.log_density, draws, kernel=kernel, report_chains=report))
    out: dict[str, Any] = {
        "chosen": chosen,
        "scores": dict(zip(laps.LENGTH_CANDIDATES, np.asarray(scores).tolist())),
        "steps": {},
    }
    for n in steps:
        sampled = sample(sample_key, ensemble._replace(trajectory_length=n * ensemble.step_size))
        info = sampled.info
        bulk, tail = min_bulk_and_tail_ess(
            case.constrain(np.swapaxes(np.asarray(sampled.positions), 0, 1)), case.param_names
        )
        grads = float(np.asarray(info.n_grads).sum())
        out["steps"][n] = {
            "bulk": bulk / grads,
            "tail": tail / grads,
            "draws": report * draws,
            "bulk_ess": bulk,
            "accept": float(np.asarray(info.accept_prob).mean()),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    from tabulate import tabulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=["std_normal_d10", "glm_logistic_n200_p6"])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 123])
    parser.add_argument("--chains", type=int, default=1024)
    parser.add_argument("--report-chains", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--out", help="also write the tables here (markdown)")
    args = parser.parse_args(argv)
    sections = [
        f"Our LAPS, {args.chains} chains ({args.report_chains} diagnosed) x {args.warmup} warmup x "
        f"{args.draws} draws, seeds {', '.join(map(str, args.seeds))}; medians over seeds. Steps are "
        "integrator steps per draw (2 gradients each)."
    ]
    for case in args.cases:
        per_seed = [
            measure(case, s, args.steps, args.chains, args.report_chains, args.warmup, args.draws) for s in args.seeds
        ]
        print(f"{case}: measured", file=sys.stderr, flush=True)
        rows = []
        for n in args.steps:
            med = {k: statistics.median(r["steps"][n][k] for r in per_seed) for k in ("bulk", "tail", "accept")}
            ess_over_draws = statistics.median(r["steps"][n]["bulk_ess"] / r["steps"][n]["draws"] for r in per_seed)
            rows.append(
                [n, f"{med['bulk']:.4f}", f"{med['tail']:.4f}", f"{ess_over_draws:.2f}", f"{med['accept']:.3f}"]
            )
        chosen = ", ".join(f"{r['chosen']:.0f}" for r in per_seed)
        table = tabulate(
            rows,
            headers=["steps/draw", "bulk ESS/grad", "tail ESS/grad", "bulk ESS / draws", "acceptance"],
            tablefmt="github",
            disable_numparse=True,
        )
        sections.append(f"**{case}**: the chooser picked {chosen} step(s) per draw (one per seed).\n\n{table}")
    text = "\n\n".join(sections) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("# LAPS steps per draw: `python -m nextstat.benchmarks.laps_steps`\n\n" + text)


if __name__ == "__main__":
    main()
