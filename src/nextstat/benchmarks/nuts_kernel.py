"""Cost of one NUTS transition, ours against BlackJAX's kernel, in one process.

Fixed step size, unit metric, no adaptation: this isolates the tree-building loop.
Two step sizes per case: a tiny one (trees of ~1,000 leaves: the per-leaf cost) and a
large one (1-3 leaves: the fixed cost of a transition). Each figure is the best of three
timed runs of one compiled scan, after ``block_until_ready``.

    python -m nextstat.benchmarks.nuts_kernel [case ...]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from ..threads import single_thread_xla

single_thread_xla()

SETTINGS = {  # case: ((tiny step, draws), (large step, draws))
    "std_normal_d10": ((0.003, 200), (1.6, 20000)),
    "std_normal_d50": ((0.003, 200), (0.5, 5000)),
    "eight_schools": ((0.003, 200), (0.35, 20000)),
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


def main(cases: list[str]) -> None:
    import blackjax
    import jax

    jax.config.update("jax_enable_x64", True)
    from nextstat.cases import get_case
    from nextstat.samplers import nuts

    print(f"{'case':18s} {'kernel':9s} {'step':>6s} {'us/grad':>8s} {'us/transition':>14s} {'steps/draw':>11s}")
    for name in cases:
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
        for step_size, n_draws in SETTINGS.get(name, ((0.003, 100), (0.5, 5000))):
            for label, (kernel, init) in kernels.items():
                seconds, steps = _time(kernel, init, case.log_density, case.dim, step_size, n_draws)
                print(
                    f"{name:18s} {label:9s} {step_size:6g} {1e6 * seconds / steps.sum():8.2f} "
                    f"{1e6 * seconds / n_draws:14.1f} {steps.mean():11.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main(sys.argv[1:] or list(SETTINGS))
