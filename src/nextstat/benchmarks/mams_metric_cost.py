"""What a dense preconditioner costs our MAMS per gradient, against a diagonal one, as the
dimension grows: side by side in one process, the same kernel (``samplers.mams``) with a
diagonal inverse metric and with a dense one (applied through its Cholesky factor, as the
low-rank Fisher estimate is, factored once: d x d products with it at every step), on a standard
normal, whose gradient costs almost nothing, so that the preconditioner's share is the
largest it can be. Fixed step size and steps per draw; the two forms alternate over
``--repeats`` timed scans of ``--draws`` transitions each, after a compile; it prints the
median µs per gradient of each form and their ratio per dimension.
``adaptation="auto"`` (``nextstat_mams``) uses the dense form up to
``samplers.mams_warmup.AUTO_LOWRANK_MAX_DIM`` parameters, which this measures.

    python -m nextstat.benchmarks.mams_metric_cost [--dims 10 100 300 1000] [--draws 200] [--repeats 5]
        [--out FILE.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from ..threads import single_thread_xla
from . import write_markdown

single_thread_xla()

STEPS_PER_DRAW = 5


def time_forms(d: int, draws: int, repeats: int) -> dict[str, float]:
    """µs per gradient, median over repeats, for the diagonal and the dense form at dimension d."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    from ..samplers.mams import build_kernel, factored, init

    def logdensity(x):
        return -0.5 * jnp.sum(x**2)

    kernel = build_kernel(logdensity)
    state = init(jnp.full(d, 0.5), logdensity)
    step_size = 0.5
    length = STEPS_PER_DRAW * step_size
    # the same matrix both ways: the dense form is the diagonal written out, so both chains move
    # alike; factored once, as the engine's sampling does
    metrics = {"diagonal": jnp.ones(d), "dense": factored(jnp.eye(d))}

    def scan_for(inverse_metric):
        @jax.jit
        def run(key, state):
            def one(state, k):
                state, info = kernel(k, state, step_size, length, inverse_metric, 0.0)
                return state, info.n_grads

            return jax.lax.scan(one, state, jax.random.split(key, draws))

        return run

    runs = {form: scan_for(metric) for form, metric in metrics.items()}
    for run in runs.values():  # compile
        jax.block_until_ready(run(jax.random.key(0), state))
    per_grad: dict[str, list[float]] = {form: [] for form in runs}
    for repeat in range(repeats):
        for form, run in runs.items():
            start = time.perf_counter()
            _, grads = jax.block_until_ready(run(jax.random.key(repeat + 1), state))
            per_grad[form].append((time.perf_counter() - start) * 1e6 / float(jnp.sum(grads)))
    return {form: statistics.median(values) for form, values in per_grad.items()}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m nextstat.benchmarks.mams_metric_cost")
    parser.add_argument("--dims", nargs="+", type=int, default=[10, 100, 300, 1000])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="also write the table as markdown here")
    args = parser.parse_args(argv)
    if min(args.dims) < 1 or args.draws < 1 or args.repeats < 1:
        parser.error("--dims, --draws and --repeats must be at least 1")
    lines = ["| d | diagonal µs/grad | dense µs/grad | dense / diagonal |", "|---|---|---|---|"]
    print(lines[0], flush=True)
    for d in args.dims:
        cost = time_forms(d, args.draws, args.repeats)
        lines.append(
            f"| {d} | {cost['diagonal']:.2f} | {cost['dense']:.2f} | {cost['dense'] / cost['diagonal']:.2f}x |"
        )
        print(lines[-1], flush=True)
    if args.out:
        header = [
            "# MAMS: a dense preconditioner's cost per gradient against a diagonal one",
            "",
            f"`python -m nextstat.benchmarks.mams_metric_cost --dims {' '.join(map(str, args.dims))} --draws "
            f"{args.draws} --repeats {args.repeats}`: our MAMS kernel on a standard normal, {STEPS_PER_DRAW} "
            "integrator steps per draw at a fixed step size, the two forms alternating in one process; medians "
            "over the repeats.",
            "",
        ]
        write_markdown(args.out, header, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
