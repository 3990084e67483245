"""Our LAPS's warmup choices side by side, in one process: L chosen from the ensemble
against L = sqrt(d), the ensemble's metric from the chains' variance against the
Fisher minimizer, and stuck chains restarted or not (``laps.restart_stuck``). Same
starts, keys (the engine's for the seed) and budget for every variant; prints the ESS per
sampling gradient of x (min bulk ESS over parameters) and of x^2, the steps per draw and
the medians over seeds, and summed over seeds the chains restarted and the chains that
accepted under 1% of their sampling proposals (frozen).

    python -m nextstat.benchmarks.laps_warmup [case ...] [--chains 1024] [--seeds 1 2 3]
    python -m nextstat.benchmarks.laps_warmup gaussian_kappa100_d1000 --chains 256 --report-chains 256
"""

from __future__ import annotations

import argparse
import statistics

from ..threads import single_thread_xla

single_thread_xla()

VARIANTS = {  # label: run_warmup keyword arguments
    "L sqrt(d), variance": {"tune_length": False, "metric_estimator": "variance"},
    "L chosen, variance": {"tune_length": True, "metric_estimator": "variance"},
    "L chosen, fisher": {"tune_length": True, "metric_estimator": "fisher"},
    "L chosen, no restart": {"tune_length": True, "metric_estimator": "variance", "restart_stuck_chains": False},
}


def measure(case_name: str, chains: int, report: int, warmup: int, draws: int, seed: int) -> dict[str, dict]:
    import arviz as az
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..cases import get_case
    from ..engines.jax_common import SUPERCHAIN_SIZE, configure_jax, initial_points
    from ..samplers import laps
    from ..samplers.mams import build_kernel

    configure_jax("float64")
    case = get_case(case_name)
    starts = initial_points(case, seed, chains // SUPERCHAIN_SIZE)
    positions = jnp.asarray(np.repeat(starts, SUPERCHAIN_SIZE, axis=0))
    kernel = build_kernel(case.log_density)
    warmup_key, sample_key = jax.random.split(jax.random.key(seed))  # the engine's keys for this seed
    out = {}
    for label, options in VARIANTS.items():
        tuned = jax.jit(
            lambda key, x, options=options: laps.run_warmup(
                key,
                x,
                case.log_density,
                warmup,
                kernel=kernel,
                report_chains=report,
                superchain_size=SUPERCHAIN_SIZE,
                **options,
            )
        )(warmup_key, positions)
        sampled = jax.jit(
            lambda key, e: laps.sample(key, e, case.log_density, draws, kernel=kernel, report_chains=report)
        )(sample_key, tuned.ensemble)
        x = np.swapaxes(np.asarray(sampled.positions), 0, 1)
        grads = int(np.asarray(sampled.info.n_grads).sum())

        def min_ess(values):
            return float(np.min(az.ess(az.convert_to_dataset(values), method="bulk").to_array().values))

        out[label] = {
            "ess_per_grad_x": min_ess(x) / grads,
            "ess_per_grad_x2": min_ess(x**2) / grads,
            "grads_per_draw": grads / (report * draws),
            "restarted": int(np.sum(tuned.restarted)),
            "frozen": int(np.sum(np.asarray(sampled.info.accepted).mean(axis=0) < 0.01)),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=["eight_schools", "glm_logistic_n200_p6", "std_normal_d50"])
    parser.add_argument("--chains", type=int, default=1024)
    parser.add_argument("--report-chains", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    for case in args.cases:
        per_seed = [measure(case, args.chains, args.report_chains, args.warmup, args.draws, s) for s in args.seeds]
        print(
            f"\n{case} ({args.chains} chains, {args.warmup} warmup, {args.draws} draws, seeds {args.seeds}): "
            "medians over seeds"
        )
        base = statistics.median(r["L sqrt(d), variance"]["ess_per_grad_x"] for r in per_seed)
        for label in VARIANTS:
            x = statistics.median(r[label]["ess_per_grad_x"] for r in per_seed)
            x2 = statistics.median(r[label]["ess_per_grad_x2"] for r in per_seed)
            steps = statistics.median(r[label]["grads_per_draw"] for r in per_seed) / 2
            restarted = sum(r[label]["restarted"] for r in per_seed)
            frozen = sum(r[label]["frozen"] for r in per_seed)
            print(
                f"  {label:22s} ESS/grad x {x:.4f} ({x / base:.2f}x)  x^2 {x2:.4f}  min {min(x, x2):.4f}  "
                f"steps/draw {steps:.0f}  restarted {restarted}  frozen {frozen}"
            )


if __name__ == "__main__":
    main()
