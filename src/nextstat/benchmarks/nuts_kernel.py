"""Cost of one NUTS transition split into its parts: ours, BlackJAX's kernel and CmdStan,
on the same cases, at the same fixed step sizes.

Fixed step size, unit metric, no adaptation: this isolates the tree-building loop. Two
step sizes per case: a tiny one (trees of ~1,000 leaves: the per-leaf cost) and a large
one (1-3 leaves: the fixed cost of a transition). For the JAX kernels each figure is the
best of three timed runs of one compiled scan, after ``block_until_ready``; the gradient
alone is a compiled scan of ``value_and_grad`` over as many points. The split:

- gradient: the log density and its gradient, nothing else;
- per leaf: µs per gradient at the tiny step minus the gradient: the leapfrog update, the
  U-turn checks and the subtree merges, amortized over the leaves (a tree of 2^k leaves has
  2^k - 1 merges, so leaf and merge costs are not separable from trees alone);
- per transition: µs per transition at the large step minus its leaves at the per-leaf
  cost: momentum draw, tree set-up and the top-level bookkeeping.

CmdStan (where cmdstanpy finds one) runs the case's Stan program with ``metric=unit_e``,
adaptation off, the same step size and one chain of as many draws; its per-gradient cost
is its own elapsed sampling time over its leapfrog steps. Its gradient alone is not
split out: CmdStan times one cold evaluation before sampling (about 13 µs on eight
schools, ten times its whole per-leaf cost), and timing its gradient in a loop needs
BridgeStan, which cannot be built here.

    python -m nextstat.benchmarks.nuts_kernel [case ...] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from ..threads import single_thread_xla

single_thread_xla()

SETTINGS = {  # case: ((tiny step, draws), (large step, draws))
    "std_normal_d10": ((0.003, 200), (1.6, 20000)),
    "std_normal_d50": ((0.003, 200), (0.5, 5000)),
    "std_normal_d1000": ((0.003, 40), (0.3, 2000)),
    "eight_schools": ((0.003, 200), (0.35, 20000)),
    "glm_logistic_n200_p6": ((0.003, 200), (0.3, 5000)),
    "hier_logistic_ri": ((0.003, 100), (0.2, 3000)),
}


def _time(kernel, init, logdensity, dim, step_size, n_draws):
    import jax
    import jax.numpy as jnp
    import numpy as np

    state = init(jnp.zeros(dim), logdensity)

    def run(key, state):
        def one(state, draw_key):
            state, n_leapfrog = kernel(draw_key, state, step_size, jnp.ones(dim))
            return state, n_leapfrog

        return jax.lax.scan(one, state, jax.random.split(key, n_draws))[1]

    compiled = jax.jit(run).lower(jax.random.key(0), state).compile()
    best, steps = float("inf"), None
    for repeat in range(3):
        start = time.perf_counter()
        steps = jax.block_until_ready(compiled(jax.random.key(repeat), state))
        best = min(best, time.perf_counter() - start)
    steps = np.asarray(steps)
    return best, steps


def gradient_us(logdensity, dim: int, n: int = 20000) -> float:
    """µs per ``value_and_grad`` in a compiled scan over ``n`` points near the origin, best of three."""
    import jax
    import jax.numpy as jnp

    value_and_grad = jax.value_and_grad(logdensity)

    def run(points):
        def one(total, x):
            value, grad = value_and_grad(x)
            return total + value + grad[0], None

        return jax.lax.scan(one, jnp.zeros(()), points)[0]

    points = 0.1 * jax.random.normal(jax.random.key(1), (n, dim))
    compiled = jax.jit(run).lower(points).compile()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(compiled(points))
        best = min(best, time.perf_counter() - start)
    return 1e6 * best / n


def cmdstan_costs(case, step_size: float, n_draws: int) -> dict[str, float] | None:
    """CmdStan's µs per gradient and per transition at a fixed step size and unit metric,
    and its own one-gradient timing; None where no CmdStan is installed."""
    import tempfile

    import numpy as np

    from ..engines import stan_nuts

    if stan_nuts.frontend() != "cmdstanpy" or not case.stan_code:
        return None
    model, _ = stan_nuts._cmdstan_model(case)
    with tempfile.TemporaryDirectory(prefix="nextstat-kernel-") as output_dir:
        fit = model.sample(
            data=dict(case.stan_data or {}),
            chains=1,
            seed=1,
            iter_warmup=0,
            iter_sampling=n_draws,
            adapt_engaged=False,
            metric="unit_e",
            step_size=step_size,
            inits=0,
            output_dir=output_dir,
            show_progress=False,
        )
        steps = float(np.asarray(fit.draws_pd()["n_leapfrog__"]).sum())
        _, sampling_s = stan_nuts.cmdstan_elapsed(fit.time)
    return {
        "us_per_grad": 1e6 * sampling_s / steps,
        "us_per_transition": 1e6 * sampling_s / n_draws,
        "steps_per_draw": steps / n_draws,
    }


def measure(name: str) -> list[dict]:
    import blackjax

    from nextstat.cases import get_case
    from nextstat.samplers import nuts

    case = get_case(name)
    ours = nuts.build_kernel(case.log_density)
    theirs = blackjax.nuts.build_kernel()
    kernels: dict[str, tuple[Callable, Callable]] = {
        "nextstat": (
            lambda k, s, e, m, ours=ours: (lambda st, info: (st, info.n_leapfrog))(*ours(k, s, e, m)),
            nuts.init,
        ),
        "blackjax": (
            lambda k, s, e, m, theirs=theirs, density=case.log_density: (
                lambda st, info: (st, info.num_integration_steps)
            )(*theirs(k, s, density, e, m)),
            blackjax.nuts.init,
        ),
    }
    gradient = gradient_us(case.log_density, case.dim)
    rows = []
    (tiny, tiny_draws), (large, large_draws) = SETTINGS.get(name, ((0.003, 100), (0.5, 5000)))
    for label, (kernel, init) in kernels.items():
        costs = {}
        for which, step_size, n_draws in (("tiny", tiny, tiny_draws), ("large", large, large_draws)):
            seconds, steps = _time(kernel, init, case.log_density, case.dim, step_size, n_draws)
            costs[which] = (1e6 * seconds / steps.sum(), 1e6 * seconds / n_draws, float(steps.mean()))
        rows.append(_split(name, label, gradient, costs))
    stan = {
        which: cmdstan_costs(case, s, n) for which, s, n in (("tiny", tiny, tiny_draws), ("large", large, large_draws))
    }
    tiny_stan, large_stan = stan["tiny"], stan["large"]
    if tiny_stan and large_stan:
        costs = {
            which: (c["us_per_grad"], c["us_per_transition"], c["steps_per_draw"])
            for which, c in (("tiny", tiny_stan), ("large", large_stan))
        }
        rows.append(_split(name, "cmdstan", None, costs))
    return rows


def _split(case: str, kernel: str, gradient: float | None, costs) -> dict:
    """The parts of one kernel's cost; ``gradient`` None where it cannot be timed alone."""
    tiny_per_grad, _, _ = costs["tiny"]
    large_per_grad, large_per_transition, large_steps = costs["large"]
    return {
        "case": case,
        "kernel": kernel,
        "gradient_us": gradient,
        "us_per_grad_tiny": tiny_per_grad,
        "per_leaf_us": None if gradient is None else tiny_per_grad - gradient,
        "us_per_transition_large": large_per_transition,
        "steps_per_draw_large": large_steps,
        "per_transition_us": large_per_transition - large_steps * tiny_per_grad,
        "us_per_grad_large": large_per_grad,
    }


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table(rows: list[dict]) -> str:
    from tabulate import tabulate

    return tabulate(
        [
            [
                r["case"],
                r["kernel"],
                _us(r["gradient_us"]),
                f"{r['us_per_grad_tiny']:.2f}",
                _us(r["per_leaf_us"]),
                f"{r['us_per_transition_large']:.1f}",
                f"{r['steps_per_draw_large']:.1f}",
                f"{r['per_transition_us']:.1f}",
                f"{r['us_per_grad_large']:.2f}",
            ]
            for r in rows
        ],
        headers=[
            "case",
            "kernel",
            "gradient µs",
            "µs/grad, ~1000-leaf trees",
            "per leaf µs (minus gradient)",
            "µs/transition, short trees",
            "leaves/transition",
            "per transition µs (fixed)",
            "µs/grad, short trees",
        ],
        tablefmt="github",
        disable_numparse=True,
    )


def main(argv: list[str]) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    parser = argparse.ArgumentParser(prog="python -m nextstat.benchmarks.nuts_kernel")
    parser.add_argument("cases", nargs="*", default=list(SETTINGS))
    parser.add_argument("--out", help="also write the table as markdown here")
    args = parser.parse_args(argv)
    rows = []
    for name in args.cases:
        rows += measure(name)
        print(table(rows), flush=True)
    if args.out:
        header = [
            "# Where a NUTS gradient's time goes: ours, BlackJAX's kernel, CmdStan",
            "",
            f"`python -m nextstat.benchmarks.nuts_kernel {' '.join(args.cases)}`: fixed step size, unit metric, no "
            "adaptation, one chain from the origin, float64, one thread. `gradient`: the log density and its gradient "
            "alone (not split out for CmdStan: see the module's docstring). `per leaf`: µs per gradient in "
            "trees of about 1,000 leaves minus the gradient (leapfrog, U-turn checks, merges). `per transition`: "
            "µs per transition in short trees minus their leaves at the per-leaf cost (momentum, set-up, top level).",
            "",
        ]
        with open(args.out, "w") as out:
            out.write("\n".join([*header, table(rows), ""]))


if __name__ == "__main__":
    main(sys.argv[1:])
