"""The No-U-Turn sampler as Stan runs it (stan-dev/stan ``base_nuts.hpp``), in JAX.

One transition from q0: draw p ~ N(0, M); then, while fewer than ``max_tree_depth``
doublings have been made, pick a direction at random and build a subtree of 2^depth
leapfrog steps from that end of the trajectory.

- Inside a subtree, states are sampled multinomially (each leaf with probability
  proportional to exp(H0 - H)), and every merge of two halves is checked for a U-turn
  three ways (stan-dev/stan#2800): the whole span; the left half plus the first state of
  the right half; the last state of the left half plus the right half. A divergence
  (H - H0 > 1000, NaN counting as +inf) or a U-turn invalidates the subtree, and nothing
  is taken from it.
- At the top level the join is *progressive*: the subtree's sample replaces the current
  one with probability min(1, W_subtree / W_old). Then the same three checks run on the
  merged trajectory.

Stan builds subtrees recursively. Here a subtree is built leaf by leaf in a
``while_loop``: for every tree level k we keep a checkpoint of the block of 2^k leaves
that is currently open (its first leaf's momentum and velocity, the leaf before it, and
the running momentum sum before it), so that when leaf n closes blocks at levels
1..depth, each closed block's three checks see exactly the states and momentum sums
Stan's recursion would. Multinomial sampling within a subtree is done progressively
(leaf n replaces the proposal with probability w_n / sum_{i<=n} w_i), which selects each
leaf with the same probability as Stan's recursive merges.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from .integrators import PhasePoint, leapfrog
from .metrics import euclidean

MAX_DELTA_H = 1000.0


class NUTSState(NamedTuple):
    position: jax.Array
    logdensity: jax.Array
    logdensity_grad: jax.Array


class NUTSInfo(NamedTuple):
    n_leapfrog: jax.Array  # leapfrog steps (= gradient evaluations), rejected subtree included
    tree_depth: jax.Array  # valid doublings
    divergent: jax.Array
    energy: jax.Array  # H at the chosen state (Stan's energy__)
    accept_stat: jax.Array  # mean over all leaves of min(1, exp(H0 - H))


class _Subtree(NamedTuple):
    end: PhasePoint  # the latest leaf, the subtree's far end
    end_velocity: jax.Array
    proposal: PhasePoint
    log_weight: jax.Array
    rho: jax.Array  # momentum sum over the leaves so far
    n_leaves: jax.Array
    sum_metro_prob: jax.Array
    divergent: jax.Array
    turning: jax.Array
    # per-level checkpoints of the open block at level k (block size 2^k)
    first_momentum: jax.Array  # (levels, d)
    first_velocity: jax.Array  # (levels, d)
    before_momentum: jax.Array  # (levels, d): the leaf just before the block
    before_velocity: jax.Array  # (levels, d)
    rho_before: jax.Array  # (levels, d): momentum sum before the block
    key: jax.Array


class _Trajectory(NamedTuple):
    backward: PhasePoint
    forward: PhasePoint
    backward_velocity: jax.Array
    forward_velocity: jax.Array
    sample: PhasePoint
    log_weight: jax.Array
    rho: jax.Array
    depth: jax.Array
    n_leapfrog: jax.Array
    sum_metro_prob: jax.Array
    divergent: jax.Array
    stop: jax.Array
    key: jax.Array


def init(position, logdensity_fn: Callable) -> NUTSState:
    logdensity, grad = jax.value_and_grad(logdensity_fn)(position)
    return NUTSState(position, logdensity, grad)


def join_probability(log_weight_old, log_weight_subtree, top_level_join: str = "progressive"):
    """Probability that a valid new subtree's sample replaces the current one.

    Progressive (Stan): min(1, W_subtree / W_old), so with equal weights the new subtree
    always wins. Multinomial: W_subtree / (W_old + W_subtree), a coin flip at equal weights.
    """
    if top_level_join == "progressive":
        return jnp.minimum(1.0, jnp.exp(log_weight_subtree - log_weight_old))
    return jnp.exp(log_weight_subtree - jnp.logaddexp(log_weight_old, log_weight_subtree))


def _rowdot(a, b):
    """Dot products along the last axis as multiply-and-sum: XLA fuses it into the loop
    body, where a small ``dot`` would be a separate library call on every leapfrog step."""
    return jnp.sum(a * b, axis=-1)


def no_u_turn(velocity_minus, velocity_plus, rho):
    """Generalized criterion: the span keeps going while both ends' velocities point along rho."""
    return (_rowdot(velocity_plus, rho) > 0) & (_rowdot(velocity_minus, rho) > 0)


def subtree_builder(logdensity_fn: Callable, max_tree_depth: int = 10, max_delta_h: float = MAX_DELTA_H,
                    metric=euclidean):
    """Return ``build_subtree(key, start, start_velocity, depth, direction, step_size,
    inverse_metric, h0)``: 2^depth leapfrog steps from ``start`` in ``direction`` (+1/-1),
    stopping early at a divergence or a U-turn of any closed block."""
    value_and_grad = jax.value_and_grad(logdensity_fn)
    step = leapfrog(value_and_grad, metric.velocity)
    levels = max_tree_depth  # blocks of 2^0 .. 2^(max_tree_depth - 1) leaves
    block_sizes = 2 ** jnp.arange(levels)

    def hamiltonian(point: PhasePoint, inverse_metric):
        return -point.logdensity + metric.kinetic_energy(inverse_metric, point.momentum)

    def build_subtree(key, start: PhasePoint, start_velocity, depth, direction, step_size, inverse_metric, h0):
        n_total = 2**depth
        d = start.position.shape[0]
        zeros = jnp.zeros((levels, d), start.position.dtype)
        initial = _Subtree(
            end=start, end_velocity=start_velocity, proposal=start,
            log_weight=jnp.array(-jnp.inf, h0.dtype), rho=jnp.zeros_like(start.momentum),
            n_leaves=jnp.array(0), sum_metro_prob=jnp.zeros_like(h0),
            divergent=jnp.array(False), turning=jnp.array(False),
            first_momentum=zeros, first_velocity=zeros, before_momentum=zeros, before_velocity=zeros,
            rho_before=zeros, key=key,
        )  # fmt: skip

        def keep_going(tree: _Subtree):
            return (tree.n_leaves < n_total) & ~tree.divergent & ~tree.turning

        def add_leaf(tree: _Subtree) -> _Subtree:
            n = tree.n_leaves
            point = step(tree.end, direction * step_size, inverse_metric)
            velocity = metric.velocity(inverse_metric, point.momentum)
            h = hamiltonian(point, inverse_metric)
            h = jnp.where(jnp.isnan(h), jnp.inf, h)
            divergent = (h - h0) > max_delta_h
            log_w = h0 - h
            log_weight = jnp.logaddexp(tree.log_weight, log_w)
            metro_prob = jnp.where(log_w > 0, 1.0, jnp.exp(log_w))
            key, accept_key = jax.random.split(tree.key)
            take = jax.random.uniform(accept_key) < jnp.exp(log_w - log_weight)
            proposal = jax.tree.map(lambda new, old: jnp.where(take, new, old), point, tree.proposal)

            # open the blocks that start at this leaf
            opens = (n % block_sizes == 0)[:, None]
            first_momentum = jnp.where(opens, point.momentum, tree.first_momentum)
            first_velocity = jnp.where(opens, velocity, tree.first_velocity)
            before_momentum = jnp.where(opens, tree.end.momentum, tree.before_momentum)
            before_velocity = jnp.where(opens, tree.end_velocity, tree.before_velocity)
            rho_before = jnp.where(opens, tree.rho, tree.rho_before)
            rho = tree.rho + point.momentum

            # close the blocks of levels 1..depth that end at this leaf: Stan's three checks
            closes = ((n + 1) % block_sizes[1:] == 0) & (jnp.arange(1, levels) <= depth)
            span = rho - rho_before[1:]
            left = rho_before[:-1] - rho_before[1:]  # the right half opened at level k-1
            right = rho - rho_before[:-1]
            whole = (_rowdot(first_velocity[1:], span) > 0) & (_rowdot(span, velocity) > 0)
            left_plus = (_rowdot(first_velocity[1:], left + first_momentum[:-1]) > 0) & (
                _rowdot(first_velocity[:-1], left + first_momentum[:-1]) > 0)
            plus_right = (_rowdot(before_velocity[:-1], right + before_momentum[:-1]) > 0) & (
                _rowdot(right + before_momentum[:-1], velocity) > 0)
            turning = jnp.any(closes & ~(whole & left_plus & plus_right))

            return _Subtree(
                end=point, end_velocity=velocity, proposal=proposal, log_weight=log_weight, rho=rho,
                n_leaves=n + 1, sum_metro_prob=tree.sum_metro_prob + metro_prob,
                divergent=tree.divergent | divergent, turning=turning,
                first_momentum=first_momentum, first_velocity=first_velocity,
                before_momentum=before_momentum, before_velocity=before_velocity, rho_before=rho_before, key=key,
            )  # fmt: skip

        return jax.lax.while_loop(keep_going, add_leaf, initial)

    return build_subtree


def build_kernel(
    logdensity_fn: Callable,
    max_tree_depth: int = 10,
    max_delta_h: float = MAX_DELTA_H,
    top_level_join: str = "progressive",
    metric=euclidean,
):
    """Return ``kernel(key, state, step_size, inverse_metric) -> (state, info)``.

    ``top_level_join="multinomial"`` joins subtrees at the top like the inner merges
    (probability W_subtree / (W_old + W_subtree)); it exists to show, in the harness, what
    the progressive join buys, and is never the default.
    """
    if top_level_join not in ("progressive", "multinomial"):
        raise ValueError(f"top_level_join={top_level_join!r}: expected 'progressive' or 'multinomial'")
    build_subtree = subtree_builder(logdensity_fn, max_tree_depth, max_delta_h, metric)

    def hamiltonian(point: PhasePoint, inverse_metric):
        return -point.logdensity + metric.kinetic_energy(inverse_metric, point.momentum)

    def kernel(key, state: NUTSState, step_size, inverse_metric):
        momentum_key, tree_key = jax.random.split(key)
        p0 = metric.sample_momentum(momentum_key, inverse_metric, state.position)
        point = PhasePoint(state.position, p0, state.logdensity, state.logdensity_grad)
        velocity0 = metric.velocity(inverse_metric, p0)
        h0 = hamiltonian(point, inverse_metric)
        initial = _Trajectory(
            backward=point, forward=point, backward_velocity=velocity0, forward_velocity=velocity0,
            sample=point, log_weight=jnp.zeros_like(h0), rho=p0, depth=jnp.array(0), n_leapfrog=jnp.array(0),
            sum_metro_prob=jnp.zeros_like(h0), divergent=jnp.array(False), stop=jnp.array(False), key=tree_key,
        )  # fmt: skip

        def keep_going(traj: _Trajectory):
            return (traj.depth < max_tree_depth) & ~traj.stop

        def double(traj: _Trajectory) -> _Trajectory:
            key, direction_key, subtree_key, join_key = jax.random.split(traj.key, 4)
            forward = jax.random.uniform(direction_key) > 0.5
            pick = lambda a, b: jax.tree.map(lambda x, y: jnp.where(forward, x, y), a, b)  # noqa: E731
            start, start_velocity = pick(traj.forward, traj.backward), pick(traj.forward_velocity, traj.backward_velocity)
            far_velocity = pick(traj.backward_velocity, traj.forward_velocity)  # the old trajectory's other end
            sub = build_subtree(subtree_key, start, start_velocity, traj.depth, jnp.where(forward, 1.0, -1.0),
                                step_size, inverse_metric, h0)
            valid = ~sub.divergent & ~sub.turning

            log_weight = jnp.logaddexp(traj.log_weight, sub.log_weight)
            accept = join_probability(traj.log_weight, sub.log_weight, top_level_join)
            take = valid & (jax.random.uniform(join_key) < accept)
            sample = jax.tree.map(lambda new, old: jnp.where(take, new, old), sub.proposal, traj.sample)

            # Stan's three checks on the merged trajectory (old O, new subtree S)
            rho = traj.rho + sub.rho
            first_momentum, first_velocity = sub.first_momentum[0], sub.first_velocity[0]  # S's leaf next to O
            whole = no_u_turn(far_velocity, sub.end_velocity, rho)
            old_plus_first = no_u_turn(far_velocity, first_velocity, traj.rho + first_momentum)
            last_plus_new = no_u_turn(start_velocity, sub.end_velocity, sub.rho + start.momentum)
            persist = whole & old_plus_first & last_plus_new

            new_forward = jax.tree.map(lambda s, f: jnp.where(forward, s, f), sub.end, traj.forward)
            new_backward = jax.tree.map(lambda s, b: jnp.where(forward, b, s), sub.end, traj.backward)
            keep = lambda new, old: jax.tree.map(lambda x, y: jnp.where(valid, x, y), new, old)  # noqa: E731
            return _Trajectory(
                backward=keep(new_backward, traj.backward),
                forward=keep(new_forward, traj.forward),
                backward_velocity=keep(jnp.where(forward, traj.backward_velocity, sub.end_velocity), traj.backward_velocity),
                forward_velocity=keep(jnp.where(forward, sub.end_velocity, traj.forward_velocity), traj.forward_velocity),
                sample=sample,
                log_weight=jnp.where(valid, log_weight, traj.log_weight),
                rho=jnp.where(valid, rho, traj.rho),
                depth=traj.depth + valid.astype(traj.depth.dtype),
                n_leapfrog=traj.n_leapfrog + sub.n_leaves,
                sum_metro_prob=traj.sum_metro_prob + sub.sum_metro_prob,
                divergent=traj.divergent | sub.divergent,
                stop=~valid | ~persist,
                key=key,
            )

        traj = jax.lax.while_loop(keep_going, double, initial)
        chosen = traj.sample
        info = NUTSInfo(
            n_leapfrog=traj.n_leapfrog,
            tree_depth=traj.depth,
            divergent=traj.divergent,
            energy=hamiltonian(chosen, inverse_metric),
            accept_stat=traj.sum_metro_prob / jnp.maximum(traj.n_leapfrog, 1),
        )
        return NUTSState(chosen.position, chosen.logdensity, chosen.logdensity_grad), info

    return kernel
