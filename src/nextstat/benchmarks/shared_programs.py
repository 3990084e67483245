"""What one compile for every SBC replication saves, engine by engine, in one process:
replications of a simulating case run afresh (each run compiles its own programs, as
the timing protocol has every run do) against inside ``programs_shared_across_data``
(one compile per program structure, the data as arguments), the same replications,
seeds and budget both ways. Prints seconds per replication (median, the first one left
out: it compiles both ways), in how many replications the draws were bit-identical, and
how far apart the two ways' posterior means are at most, in posterior sds. Where XLA
folds arithmetic on the data it closes over (eight schools divides by its sigma), the two
programs' gradients differ in their last bits, and a chain's path then leaves the other's:
the same sampler, another path.

    python -m nextstat.benchmarks.shared_programs [--case glm_logistic_n200_p6] [--replications 5]
        [--engines nextstat_nuts nextstat_mams ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

from ..threads import single_thread_xla

single_thread_xla()

MANY_CHAIN = {"nextstat_laps", "blackjax_laps", "blackjax_mams"}
DEFAULT_ENGINES = [
    "nextstat_nuts", "nextstat_mams", "nextstat_laps", "numpyro_nuts", "emcee_ensemble", "nutpie_nuts",
    "blackjax_nuts", "blackjax_mams",
]  # fmt: skip


def measure(case_spec: str, engine_name: str, replications: int) -> dict:
    import contextlib

    import numpy as np

    from ..cases.simulation import get_simulator
    from ..engines import Budget, load_engine, resolve_settings
    from ..engines.jax_common import programs_shared_across_data
    from ..sbc import _replication_rng

    simulator = get_simulator(case_spec)
    cases = []
    for r in range(replications):
        rng = _replication_rng(42, r)
        truth = simulator.draw(rng)
        cases.append(simulator.case_for(simulator.simulate(truth, rng)))
    many = engine_name in MANY_CHAIN
    settings = resolve_settings({"chain_method": "vectorized", "report_chains": 32} if many else {}, engine_name)
    budget = Budget.parse("32x300x300" if many else "4x300x300")
    engine = load_engine(engine_name)
    out: dict = {}
    for mode, context in (("afresh", contextlib.nullcontext), ("shared", programs_shared_across_data)):
        seconds, draws = [], []
        with context():
            for r, case in enumerate(cases):
                began = time.perf_counter()
                draws.append(np.asarray(engine.run(case, settings, budget, 42 + r).draws))
                seconds.append(time.perf_counter() - began)
        out[mode] = (statistics.median(seconds[1:]), draws)
    pairs = list(zip(out["afresh"][1], out["shared"][1], strict=True))
    identical = sum(np.array_equal(a, b) for a, b in pairs)
    apart = max(float(np.max(np.abs(a.mean((0, 1)) - b.mean((0, 1))) / a.std((0, 1)))) for a, b in pairs)
    return {
        "afresh_s": out["afresh"][0], "shared_s": out["shared"][0], "identical": identical, "apart": apart,
        "budget": budget.spec,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="glm_logistic_n200_p6")
    parser.add_argument("--replications", type=int, default=5)
    parser.add_argument("--engines", nargs="+", default=DEFAULT_ENGINES)
    args = parser.parse_args(argv)
    if args.replications < 2:
        parser.error("--replications: at least 2 (the first, which compiles both ways, is left out)")
    from ..engines.jax_common import configure_jax

    configure_jax("float64")
    print(f"{args.case}, {args.replications} replications, seconds per replication (median, the first left out)")
    for name in args.engines:
        m = measure(args.case, name, args.replications)
        print(
            f"  {name:16s} {m['budget']:>10s}  afresh {m['afresh_s']:6.2f} s  shared {m['shared_s']:6.2f} s  "
            f"({m['afresh_s'] / m['shared_s']:5.1f}x)  bit-identical draws in {m['identical']} of "
            f"{args.replications} replications; posterior means apart by at most {m['apart']:.3f} sd",
            flush=True,
        )


if __name__ == "__main__":
    main()
