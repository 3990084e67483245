"""What the settle check at the end of our MAMS's warmup does, chain by chain, side by side
with the same warmup without it (``samplers.mams_warmup.settle``).

Each chain of a run starts from the suite's starting point and key for the seed (as
``nextstat_mams`` derives them), runs warmup once with the check and once without, and
then ``--draws`` sampling transitions from each warmup's end. Per chain it prints, for
warmup without the check: the final step size, the log density where the chain ended and
the check's probe acceptance (what the check would have seen); with it: how many times it
resumed dual averaging, the step size and log density after, and the probes' last
acceptance; and both ways, the acceptance and the fraction of moves over the sampling
transitions (a frozen chain moves in none). Chains the check left alone have the same
figures both ways (their draws are the same); ``--all`` prints them too, else only the
chains where the two differ. No clocks.

    python -m nextstat.benchmarks.mams_settle [CASE] [--seed 123] [--chains 32] [--warmup 2000]
        [--draws 500] [--adaptation fisher-lowrank] [--all] [--out FILE.md]

The default case is inference-gym's Brownian motion with unknown scales (it needs the gym
extra), where one chain of seed 123 froze before the check existed.
"""

from __future__ import annotations

import argparse
import sys

from ..threads import single_thread_xla
from . import write_markdown

single_thread_xla()

DEFAULT_CASE = "gym:BrownianMotionUnknownScalesMissingMiddleObservations"
HEADER = (
    "| chain | without: eps | log density | probes accept | sampling accept | moved | "
    "with: rounds | eps | log density | probes accept | sampling accept | moved |"
)


def chains_both_ways(case_name: str, seed: int, chains: int, warmup: int, draws: int, adaptation: str) -> list[dict]:
    """Per chain, the figures the module docstring lists, with and without the check."""
    import jax
    import jax.numpy as jnp

    from ..cases import get_case
    from ..engines import resolve_settings
    from ..engines.jax_common import prepare_chains
    from ..samplers.mams import build_kernel
    from ..samplers.mams_warmup import SETTLE_SALT, probe_acceptance, run_warmup

    case = get_case(case_name)
    settings = resolve_settings({"target_accept": 0.9, "adaptation": adaptation}, "nextstat_mams")
    inits, keys = prepare_chains("nextstat_mams", case, settings, chains, seed)
    warmup_keys, sample_keys = jax.vmap(jax.random.split, out_axes=1)(keys)  # as run_chains splits them
    kernel = build_kernel(case.log_density)
    jitter = float(settings["eps_jitter"])

    def one_way(settle_check: bool):
        @jax.jit
        def run(warmup_key, sample_key, position):
            final, _ = run_warmup(
                warmup_key,
                position,
                case.log_density,
                warmup,
                target_accept=settings["target_accept"],
                jitter=jitter,
                kernel=kernel,
                adaptation=adaptation,
                settle_check=settle_check,
            )
            if settle_check:  # the check's last probes (its first, where it resumed nothing)
                probes = final.settle_acceptance
            else:  # what the check would have seen: its first probe key
                first_probe_key = jax.random.fold_in(jax.random.fold_in(warmup_key, SETTLE_SALT), 0)
                probes, _ = probe_acceptance(first_probe_key, kernel, final, jitter)

            def step(state, key):
                state, info = kernel(key, state, final.step_size, final.trajectory_length, final.factor, jitter)
                return state, (info.accept_prob, info.accepted)

            _, (accept, moved) = jax.lax.scan(step, final.state, jax.random.split(sample_key, draws))
            rounds = final.settle_rounds
            return final.step_size, final.state.logdensity, probes, rounds, jnp.mean(accept), jnp.mean(moved)

        return run

    without, with_check = one_way(False), one_way(True)
    rows = []
    for chain in range(chains):
        args = (warmup_keys[chain], sample_keys[chain], inits[chain])
        plain = [float(v) for v in without(*args)]
        checked = [float(v) for v in with_check(*args)]
        rows.append(
            {
                "chain": chain,
                "eps": plain[0],
                "logdensity": plain[1],
                "probes": plain[2],
                "accept": plain[4],
                "moved": plain[5],
                "rounds": int(checked[3]),
                "eps_checked": checked[0],
                "logdensity_checked": checked[1],
                "probes_checked": checked[2],
                "accept_checked": checked[4],
                "moved_checked": checked[5],
            }
        )
    return rows


def table(rows: list[dict], show_all: bool) -> list[str]:
    lines = [HEADER, "|" + "---|" * 12]
    for row in rows:
        if not show_all and row["rounds"] == 0:
            continue
        lines.append(
            f"| {row['chain']} | {row['eps']:.3g} | {row['logdensity']:.1f} | {row['probes']:.2f} | "
            f"{row['accept']:.2f} | {row['moved']:.2f} | {row['rounds']} | {row['eps_checked']:.3g} | "
            f"{row['logdensity_checked']:.1f} | {row['probes_checked']:.2f} | {row['accept_checked']:.2f} | "
            f"{row['moved_checked']:.2f} |"
        )
    stopped = sum(row["rounds"] > 0 for row in rows)
    frozen = sum(row["moved"] == 0.0 for row in rows)
    frozen_checked = sum(row["moved_checked"] == 0.0 for row in rows)
    lines.append("")
    lines.append(
        f"{len(rows)} chains; the check resumed warmup on {stopped}; chains that moved on none of the sampling "
        f"transitions: {frozen} without the check, {frozen_checked} with it."
    )
    return lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m nextstat.benchmarks.mams_settle", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("case", nargs="?", default=DEFAULT_CASE)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--chains", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--adaptation", default="fisher-lowrank", choices=("variance", "fisher", "fisher-lowrank"))
    parser.add_argument("--all", action="store_true", help="print every chain, not only those the check resumed")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    rows = chains_both_ways(args.case, args.seed, args.chains, args.warmup, args.draws, args.adaptation)
    header = [
        f"# The settle check on {args.case}, seed {args.seed}",
        "",
        f"`python -m nextstat.benchmarks.mams_settle {args.case} --seed {args.seed} --chains {args.chains} "
        f"--warmup {args.warmup} --draws {args.draws} --adaptation {args.adaptation}{' --all' if args.all else ''}`: "
        f"each chain's warmup without the check and with it, then {args.draws} sampling transitions from each.",
        "",
    ]
    lines = table(rows, args.all)
    print("\n".join(lines))
    if args.out:
        write_markdown(args.out, header, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
