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
``while_loop``: for every block of 2^k leaves that is currently open we keep a
checkpoint (its first leaf's momentum and velocity, the leaf before it, and the running
momentum sum before it), one per distinct start leaf, in slot ctz(start) (as NumPyro
indexes its iterative checkpoints by bit counts), so that when leaf n closes the blocks
of levels 1..ctz(n + 1), each closed block's three checks see exactly the states and
momentum sums Stan's recursion would. A leaf writes one slot and checks the levels that
close at it. Multinomial sampling within a subtree is done progressively (leaf n
replaces the proposal with probability w_n / sum_{i<=n} w_i), which selects each leaf
with the same probability as Stan's recursive merges."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

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
    accept_stat_symmetric: jax.Array  # mean over all leaves of 2 sigmoid(-|H0 - H|) (nuts-rs's late statistic)


class _Subtree(NamedTuple):
    """What a finished subtree hands to the top level."""

    end: PhasePoint  # the far end
    end_velocity: jax.Array
    proposal: PhasePoint  # the subtree's multinomial sample
    log_weight: jax.Array
    rho: jax.Array  # momentum sum over its leaves
    n_leaves: jax.Array
    sum_metro_prob: jax.Array
    sum_symmetric_prob: jax.Array
    divergent: jax.Array
    turning: jax.Array
    first_momentum: jax.Array  # (levels, d): checkpoint slots (see the module docstring);
    first_velocity: jax.Array  # the last row is leaf 0, next to the old trajectory


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


def _trailing_zeros(n):
    """Trailing zero bits of a non-negative int32 (32 for 0)."""
    return jax.lax.population_count((n & -n) - 1)


def _block_persists(left, right, rho, last_velocity):
    """Stan's three U-turn checks on a block ending at the current leaf. ``left`` and
    ``right`` are the checkpoints of its halves (first momentum, first velocity, momentum
    and velocity of the leaf before, momentum sum before), stacked on the first axis."""
    span = rho - left[_RHO_BEFORE]
    left_plus_first = right[_RHO_BEFORE] - left[_RHO_BEFORE] + right[_FIRST_MOM]
    last_plus_right = rho - right[_RHO_BEFORE] + right[_BEFORE_MOM]
    return (
        (_rowdot(left[_FIRST_VEL], span) > 0) & (_rowdot(span, last_velocity) > 0)  # the whole block
        & (_rowdot(left[_FIRST_VEL], left_plus_first) > 0) & (_rowdot(right[_FIRST_VEL], left_plus_first) > 0)
        & (_rowdot(right[_BEFORE_VEL], last_plus_right) > 0) & (_rowdot(last_plus_right, last_velocity) > 0)
    )  # fmt: skip


def hash_counter(seed, counter):
    """32 random bits from a 32-bit seed and a counter: the SplitMix32 / MurmurHash3
    finalizer of seed + counter * golden ratio."""
    x = seed + jnp.asarray(counter).astype(jnp.uint32) * jnp.uint32(0x9E3779B9)
    x = (x ^ (x >> 16)) * jnp.uint32(0x85EBCA6B)
    x = (x ^ (x >> 13)) * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def uniform_from_counter(seed, counter):
    """A uniform in [0, 1) (24 random bits) from a seed and a counter.

    A transition needs a uniform per leaf and three per doubling. JAX's threefry runs
    as a loop of rounds on CPU, and calling it that often costs more than the leapfrog
    steps; this hash fuses into the surrounding code. The seed of each transition comes
    from threefry, so streams never repeat across transitions or chains. (Stan draws
    these uniforms from an L'Ecuyer combined LCG.)
    """
    return (hash_counter(seed, counter) >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


def standard_normal_from_bits(hi, lo, dtype):
    """N(0, 1) draws from pairs of 32-bit words: a 53-bit uniform in (0, 1) through the
    inverse normal CDF (tails exact to about 8 sd, the float64 limit)."""
    uniform = ((hi >> 5).astype(jnp.float64) * 67108864.0 + (lo >> 6).astype(jnp.float64) + 0.5) / 9007199254740992.0
    return jax.scipy.special.ndtri(uniform).astype(dtype)


def momentum_and_seed(key, inverse_metric, position, metric=euclidean):
    """p ~ N(0, M) and a 32-bit seed for the rest of the transition, from one threefry
    call (2d + 1 words): threefry runs as a loop on CPU, so each call costs microseconds."""
    d = position.shape[0]
    bits = jax.random.bits(key, (2 * d + 1,), dtype=jnp.uint32)
    z = standard_normal_from_bits(bits[:d], bits[d : 2 * d], position.dtype)
    return metric.scale_momentum(inverse_metric, z), bits[-1]


# rows of the packed per-leaf state
_POS, _MOM, _GRAD, _VEL, _RHO, _PROP_POS, _PROP_MOM, _PROP_GRAD = range(8)
# rows of the packed trajectory: two ends of 4 rows each (as above), the sample, rho
_T_BACKWARD, _T_FORWARD, _T_SAMPLE, _T_RHO = 0, 4, 8, 11
# entries of the trajectory's packed scalars
(_T_BACKWARD_LOGDENSITY, _T_FORWARD_LOGDENSITY, _T_SAMPLE_LOGDENSITY, _T_LOG_WEIGHT, _T_SUM_METRO, _T_SUM_SYMMETRIC) = (
    range(6)
)
# rows of the packed checkpoints
_FIRST_MOM, _FIRST_VEL, _BEFORE_MOM, _BEFORE_VEL, _RHO_BEFORE = range(5)
# entries of the packed scalars
_LOGDENSITY, _PROP_LOGDENSITY, _LOG_WEIGHT, _SUM_METRO, _SUM_SYMMETRIC = range(5)


def packed_subtree_builder(
    logdensity_fn: Callable, max_tree_depth: int = 10, max_delta_h: float = MAX_DELTA_H, metric=euclidean
):
    """Return ``build_packed(seed, start_rows, start_logdensity, depth, direction, step_size,
    inverse_metric, h0)``: 2^depth leapfrog steps from a trajectory end in ``direction``
    (+1/-1), stopping early at a divergence or a U-turn of any closed block. Returns the
    loop's final carry: (leaves, [divergent, turning], rows, scalars, checkpoints).

    The loop carries a few packed arrays rather than a tree of small ones: on CPU every
    separate array in a ``while_loop`` body costs a buffer copy and a dispatch per step,
    which for small models is most of a leapfrog step's time.
    """
    step = leapfrog(jax.value_and_grad(logdensity_fn), metric.velocity)
    levels = max_tree_depth  # blocks of 2^0 .. 2^(max_tree_depth - 1) leaves

    def _slot(start_leaf):
        """Checkpoint slot of the blocks starting at ``start_leaf``: ctz(start_leaf), the
        top slot for leaf 0. Blocks open at the same time start at leaves with different
        ctz, and a slot is rewritten only after every block that used it has closed."""
        return jnp.minimum(_trailing_zeros(start_leaf), levels - 1)

    def build_packed(seed, start_rows, start_logdensity, depth, direction, step_size, inverse_metric, h0):
        """The loop itself, on packed arrays: ``start_rows`` is (position, momentum, gradient,
        velocity) of the trajectory end it grows from. Returns the final carry."""
        n_total = 2**depth
        dtype = start_rows.dtype
        eps = direction * step_size
        vec0 = jnp.concatenate([start_rows, jnp.zeros_like(start_rows[:1]), start_rows[:3]])
        zero = jnp.zeros((), dtype)
        scalars0 = jnp.stack([start_logdensity, start_logdensity, jnp.array(-jnp.inf, dtype), zero, zero])
        checkpoints0 = jnp.zeros((levels, 5, start_rows.shape[1]), dtype)
        # carry: (leaves done, stop flags [divergent, turning], vectors, scalars, checkpoints)
        initial = (jnp.array(0), jnp.zeros(2, bool), vec0, scalars0, checkpoints0)

        def keep_going(carry):
            n, flags, *_ = carry
            return (n < n_total) & ~jnp.any(flags)

        def add_leaf(carry):
            n, flags, vec, scalars, checkpoints = carry
            q, p, logdensity, grad = step(
                PhasePoint(vec[_POS], vec[_MOM], scalars[_LOGDENSITY], vec[_GRAD]), eps, inverse_metric
            )
            velocity = metric.velocity(inverse_metric, p)
            h = -logdensity + metric.kinetic_energy(inverse_metric, p)
            h = jnp.where(jnp.isnan(h), jnp.inf, h)
            divergent = (h - h0) > max_delta_h
            # multinomial sampling, progressively: leaf n wins with probability w_n / sum_{i<=n} w_i
            log_w = h0 - h
            log_weight = jnp.logaddexp(scalars[_LOG_WEIGHT], log_w)
            take = uniform_from_counter(seed, n).astype(dtype) < jnp.exp(log_w - log_weight)
            rho_before_leaf = vec[_RHO]
            rho = rho_before_leaf + p
            new_vec = jnp.stack([
                q, p, grad, velocity, rho,
                jnp.where(take, q, vec[_PROP_POS]), jnp.where(take, p, vec[_PROP_MOM]),
                jnp.where(take, grad, vec[_PROP_GRAD]),
            ])  # fmt: skip
            new_scalars = jnp.stack([
                logdensity, jnp.where(take, logdensity, scalars[_PROP_LOGDENSITY]), log_weight,
                scalars[_SUM_METRO] + jnp.where(log_w > 0, 1.0, jnp.exp(log_w)),
                scalars[_SUM_SYMMETRIC] + 2.0 * jax.nn.sigmoid(-jnp.abs(log_w)),
            ])  # fmt: skip
            # this leaf opens the blocks of levels 0..ctz(n): store it once, in slot ctz(n)
            leaf_rows = jnp.stack([p, velocity, vec[_MOM], vec[_VEL], rho_before_leaf])[None]
            checkpoints = jax.lax.dynamic_update_slice_in_dim(checkpoints, leaf_rows, _slot(n), axis=0)
            # close the blocks of levels 1..K, K = ctz(n + 1), that end at this leaf, Stan's
            # three checks on each: level k's right half was opened in slot k - 1, its left
            # half in slot k (for k = K, in slot ctz of its start). Half the leaves close no
            # block and K averages 1, so a loop over the closing levels does ~d work per
            # leaf, where checking every level at once would do ~levels * d.
            n_closing = _trailing_zeros(n + 1)
            top_slot = _slot(n + 1 - 2**n_closing)

            def check_level(level_turning):
                level, _ = level_turning
                left = jax.lax.dynamic_index_in_dim(
                    checkpoints, jnp.where(level == n_closing, top_slot, level), keepdims=False
                )
                right = jax.lax.dynamic_index_in_dim(checkpoints, level - 1, keepdims=False)
                return level + 1, ~_block_persists(left, right, rho, velocity)

            _, turning = jax.lax.while_loop(
                lambda lt: (lt[0] <= n_closing) & ~lt[1], check_level, (jnp.ones_like(n_closing), jnp.zeros((), bool))
            )
            return n + 1, jnp.stack([flags[0] | divergent, turning]), new_vec, new_scalars, checkpoints

        return jax.lax.while_loop(keep_going, add_leaf, initial)

    return build_packed


def subtree_builder(
    logdensity_fn: Callable, max_tree_depth: int = 10, max_delta_h: float = MAX_DELTA_H, metric=euclidean
):
    """``build_subtree(seed, start, start_velocity, depth, direction, step_size, inverse_metric,
    h0) -> _Subtree``: the packed builder with named inputs and outputs (for tests and readers)."""
    build_packed = packed_subtree_builder(logdensity_fn, max_tree_depth, max_delta_h, metric)

    def build_subtree(seed, start: PhasePoint, start_velocity, depth, direction, step_size, inverse_metric, h0):
        start_rows = jnp.stack([start.position, start.momentum, start.logdensity_grad, start_velocity])
        n, flags, vec, scalars, checkpoints = build_packed(
            seed, start_rows, start.logdensity, depth, direction, step_size, inverse_metric, h0
        )
        return _Subtree(
            end=PhasePoint(vec[_POS], vec[_MOM], scalars[_LOGDENSITY], vec[_GRAD]),
            end_velocity=vec[_VEL],
            proposal=PhasePoint(vec[_PROP_POS], vec[_PROP_MOM], scalars[_PROP_LOGDENSITY], vec[_PROP_GRAD]),
            log_weight=scalars[_LOG_WEIGHT],
            rho=vec[_RHO],
            n_leaves=n,
            sum_metro_prob=scalars[_SUM_METRO],
            sum_symmetric_prob=scalars[_SUM_SYMMETRIC],
            divergent=flags[0],
            turning=flags[1],
            first_momentum=checkpoints[:, _FIRST_MOM],
            first_velocity=checkpoints[:, _FIRST_VEL],
        )

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
    build_packed = packed_subtree_builder(logdensity_fn, max_tree_depth, max_delta_h, metric)

    def kernel(key, state: NUTSState, step_size, inverse_metric):
        p0, seed = momentum_and_seed(key, inverse_metric, state.position)
        velocity0 = metric.velocity(inverse_metric, p0)
        h0 = -state.logdensity + metric.kinetic_energy(inverse_metric, p0)
        end = jnp.stack([state.position, p0, state.logdensity_grad, velocity0])
        rows0 = jnp.concatenate([end, end, end[:3], p0[None]])  # backward end, forward end, sample, rho
        zero = jnp.zeros_like(h0)
        # backward, forward, sample log densities; log W; the two acceptance sums
        scalars0 = jnp.stack([state.logdensity, state.logdensity, state.logdensity, zero, zero, zero])
        # carry: (depth, leapfrog steps, [divergent, stop], rows, scalars)
        initial = (jnp.array(0), jnp.array(0), jnp.zeros(2, bool), rows0, scalars0)

        def keep_going(carry):
            depth, _, flags, *_ = carry
            return (depth < max_tree_depth) & ~flags[1]

        def double(carry):
            depth, n_leapfrog, flags, rows, scalars = carry
            counter = 3 * depth  # three random numbers per doubling
            forward = uniform_from_counter(seed, counter) > 0.5
            end_row = jnp.where(forward, _T_FORWARD, _T_BACKWARD)
            start_rows = jax.lax.dynamic_slice_in_dim(rows, end_row, 4)
            far_velocity = rows[jnp.where(forward, _T_BACKWARD, _T_FORWARD) + _VEL]  # the old trajectory's other end
            end_scalar = jnp.where(forward, _T_FORWARD_LOGDENSITY, _T_BACKWARD_LOGDENSITY)
            n, sub_flags, vec, sub, checkpoints = build_packed(
                hash_counter(seed, counter + 1),
                start_rows,
                scalars[end_scalar],
                depth,
                jnp.where(forward, 1.0, -1.0),
                step_size,
                inverse_metric,
                h0,
            )
            valid = ~jnp.any(sub_flags)

            log_weight = jnp.logaddexp(scalars[_T_LOG_WEIGHT], sub[_LOG_WEIGHT])
            accept = join_probability(scalars[_T_LOG_WEIGHT], sub[_LOG_WEIGHT], top_level_join)
            take = valid & (uniform_from_counter(seed, counter + 2).astype(accept.dtype) < accept)

            # Stan's three checks on the merged trajectory (old O, new subtree S). S's leaf next
            # to O is the first leaf of the block that spans the whole subtree (level ``depth``);
            # leaf 0 sits in the top checkpoint slot.
            rho_old = rows[_T_RHO]
            rho = rho_old + vec[_RHO]
            first_momentum, first_velocity = checkpoints[-1, _FIRST_MOM], checkpoints[-1, _FIRST_VEL]
            persist = (
                no_u_turn(far_velocity, vec[_VEL], rho)
                & no_u_turn(far_velocity, first_velocity, rho_old + first_momentum)
                & no_u_turn(start_rows[_VEL], vec[_VEL], vec[_RHO] + start_rows[_MOM])
            )

            grown = jax.lax.dynamic_update_slice_in_dim(rows, vec[:4], end_row, 0)
            grown = grown.at[_T_SAMPLE : _T_SAMPLE + 3].set(
                jnp.where(take, vec[_PROP_POS : _PROP_GRAD + 1], rows[_T_SAMPLE : _T_SAMPLE + 3])
            )
            grown = grown.at[_T_RHO].set(rho)
            grown_scalars = (
                scalars.at[end_scalar]
                .set(sub[_LOGDENSITY])
                .at[_T_SAMPLE_LOGDENSITY]
                .set(jnp.where(take, sub[_PROP_LOGDENSITY], scalars[_T_SAMPLE_LOGDENSITY]))
                .at[_T_LOG_WEIGHT]
                .set(log_weight)
            )
            new_scalars = (
                jnp.where(valid, grown_scalars, scalars)
                .at[_T_SUM_METRO]
                .add(sub[_SUM_METRO])
                .at[_T_SUM_SYMMETRIC]
                .add(sub[_SUM_SYMMETRIC])
            )
            new_flags = jnp.stack([flags[0] | sub_flags[0], ~valid | ~persist])
            return (
                depth + valid.astype(depth.dtype),
                n_leapfrog + n,
                new_flags,
                jnp.where(valid, grown, rows),
                new_scalars,
            )

        depth, n_leapfrog, flags, rows, scalars = jax.lax.while_loop(keep_going, double, initial)
        position, momentum, grad = rows[_T_SAMPLE], rows[_T_SAMPLE + 1], rows[_T_SAMPLE + 2]
        logdensity = scalars[_T_SAMPLE_LOGDENSITY]
        info = NUTSInfo(
            n_leapfrog=n_leapfrog,
            tree_depth=depth,
            divergent=flags[0],
            energy=-logdensity + metric.kinetic_energy(inverse_metric, momentum),
            accept_stat=scalars[_T_SUM_METRO] / jnp.maximum(n_leapfrog, 1),
            accept_stat_symmetric=scalars[_T_SUM_SYMMETRIC] / jnp.maximum(n_leapfrog, 1),
        )
        return NUTSState(position, logdensity, grad), info

    return kernel
