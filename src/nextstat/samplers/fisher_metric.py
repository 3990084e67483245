"""Metric estimates that minimize the Fisher divergence (Seyboldt, Carlson and Carpenter,
arXiv:2603.18845, the estimator behind nutpie), from a window of warmup draws *and the
log-density gradients already computed at them*.

Precondition x = mu + A z. The Fisher divergence between the preconditioned target and
N(0, I) is E|A' g(x) + z|^2, so draws and gradients together say how far a candidate A
is from whitening the target. Two forms:

- ``fisher_diagonal``: A = diag(s). The minimizer has a closed form,
  s_i^2 = sqrt(Var(x_i) / Var(g_i)); the inverse metric is s^2. On a Gaussian
  Var(g_i) = 1 / Var(x_i) in the independent case, so it is exact there, and it uses the
  curvature the gradients carry, which the variance estimator throws away.
- ``fisher_low_rank``: M^-1 = diag(s) (I + U (Lambda - I) U') diag(s). First the diagonal
  s as above; then, in the scaled space (x - mean) / s and (g - mean) * s, the dense
  minimizer restricted to the span of the window's scaled draws and gradients: the SPD
  geometric mean Sigma of C_x and C_g^-1 (the Sigma with Sigma C_g Sigma = C_x, the
  dense Fisher minimizer for a Gaussian fit), computed through the eigendecomposition of
  C_g. Its eigenpairs (U, Lambda) with Lambda outside [1/c, c] (c = 2) are kept, the
  others are set to 1: weak directions stay diagonal, so noise in a short window does
  not become structure.

What we chose, and why:
- Variances are population variances (divide by n), as the paper and nutpie do: the
  estimator is a ratio, and the ddof correction cancels in s but not in C_x, C_g.
- Regularization. The diagonal becomes n/(n+5) s^2 + 1e-3 * 5/(n+5), exactly Stan's
  formula with s^2 in place of the variance, so a short first window is tamed the same
  way and the `stan` and `fisher` rows differ only in the estimator. For the low-rank
  part we shrink in the geometry the estimator lives in: the scaled covariances get
  1e-3 * I (so that C_g is invertible when a window has fewer draws than dimensions),
  and the eigenvalues of Sigma are clipped to [1/100, 100] and raised to the power
  n/(n+5), the geodesic from the identity (the diagonal answer) towards Sigma on the
  SPD manifold, Stan's n/(n+5) weight again. A direction that a short window's draws
  and gradients do not both see cannot blow up, and a 500-draw window is used nearly
  as estimated. (nutpie adds the identity to both covariances with weight 1, which
  takes the square root of every eigenvalue: a pull we found too strong with Stan's
  long last window; on a Gaussian ours recovers the covariance to within a few per
  cent from 300 draws, see tests/test_fisher_metric.py.)
- s^2 is clipped to [1e-10, 1e10]: a parameter whose gradient does not move over a window
  must not give a zero or infinite metric.
- Schedule. Our NUTS estimates these on nutpie's schedule by default (``nutpie_warmup``:
  after every warmup draw, from a foreground window that a background one replaces),
  where ``shrink=False``: nutpie does not shrink, and on its short windows Stan's
  shrinkage towards 1e-3 cost our diagonal a quarter of its ESS per gradient on eight
  posteriordb posteriors (0.73x; 0.03x on a regression on a raw covariate,
  reports/posteriordb/NUTPIE_SCHEDULE.md). On Stan's windows
  (``schedule: stan``: buffers 75 / 50, doubling slow windows, one estimate at each
  window's end, then Stan's step-size heuristic and a dual-averaging restart) they are
  shrunk as above, so that the `stan` and `fisher` rows there differ only in the
  estimator.
- The low-rank form is applied as a dense d x d inverse metric (our dense-metric code
  path); at the sizes of the published cases (d <= 50) that costs less than building a
  second metric type with O(d k) products.

Each estimator is (init, add, estimate) on a fixed-size state, so it runs inside the
warmup ``scan``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .metrics import SHRINK_DRAWS, stan_shrinkage, usable_metric

EIGEN_CUTOFF = 2.0  # low-rank: eigenvalues within [1/2, 2] of the diagonal answer are set to 1
CLIP = (1e-10, 1e10)
JITTER = 1e-3  # added to the scaled covariances
MAX_EIGEN = 100.0  # low-rank eigenvalues (scaled space) are clipped to [1/100, 100]
MAX_EIGEN_UNSHRUNK = 1e4  # ... to [1e-4, 1e4] where the diagonal is not shrunk (nutpie's schedule)


class WindowEstimator(NamedTuple):
    init: Callable  # (d, dtype) -> state
    add: Callable  # (state, position, gradient) -> state
    estimate: Callable  # state -> inverse metric (vector, or matrix when dense)
    dense: bool


class Moments(NamedTuple):
    """Running sums of draws and gradients (population moments of the window)."""

    n: jax.Array
    sum_x: jax.Array
    sum_xx: jax.Array
    sum_g: jax.Array
    sum_gg: jax.Array


def _moments_init(d, dtype) -> Moments:
    zeros = jnp.zeros(d, dtype)
    return Moments(jnp.zeros((), dtype), zeros, zeros, zeros, zeros)


def _moments_add(m: Moments, x, g) -> Moments:
    return Moments(m.n + 1, m.sum_x + x, m.sum_xx + x * x, m.sum_g + g, m.sum_gg + g * g)


def _diagonal_scale2(var_x, var_g):
    """s^2 = sqrt(Var x / Var g), clipped (see the module notes)."""
    return jnp.clip(jnp.sqrt(var_x / jnp.maximum(var_g, CLIP[0])), *CLIP)


def ensemble_fisher_diagonal(positions, grads):
    """The diagonal Fisher minimizer across many chains at one moment (LAPS's warmup):
    sqrt(Var_chains(x_i) / Var_chains(g_i)), regularized like a window of that many draws."""
    scale2 = _diagonal_scale2(jnp.var(positions, axis=0), jnp.var(grads, axis=0))
    return stan_shrinkage(positions.shape[0], scale2)


def fisher_diagonal(shrink: bool = True) -> WindowEstimator:
    """``shrink``: Stan's regularization (see the module notes); off, the estimate is
    used as it stands, as nutpie does."""

    def estimate(m: Moments):
        n = m.n
        var_x = m.sum_xx / n - (m.sum_x / n) ** 2
        var_g = m.sum_gg / n - (m.sum_g / n) ** 2
        scale2 = _diagonal_scale2(var_x, var_g)
        return stan_shrinkage(n, scale2) if shrink else scale2

    return WindowEstimator(_moments_init, lambda m, x, g: _moments_add(m, x, g), estimate, dense=False)


class WindowDraws(NamedTuple):
    """The window's draws and gradients, in a buffer as long as the longest window."""

    n: jax.Array
    draws: jax.Array  # (capacity, d)
    grads: jax.Array


def spd_geometric_mean_of_inverse(c_x, c_g):
    """The SPD Sigma with Sigma C_g Sigma = C_x: C_g^-1/2 (C_g^1/2 C_x C_g^1/2)^1/2 C_g^-1/2."""
    g_values, g_vectors = jnp.linalg.eigh(c_g)
    g_half = (g_vectors * jnp.sqrt(g_values)) @ g_vectors.T
    g_inv_half = (g_vectors / jnp.sqrt(g_values)) @ g_vectors.T
    inner_values, inner_vectors = jnp.linalg.eigh(g_half @ c_x @ g_half)
    inner_half = (inner_vectors * jnp.sqrt(jnp.maximum(inner_values, 0.0))) @ inner_vectors.T
    sigma = g_inv_half @ inner_half @ g_inv_half
    return 0.5 * (sigma + sigma.T)


def low_rank_inverse_metric(draws, grads, weights, cutoff: float = EIGEN_CUTOFF, shrink: bool = True):
    """The low-rank-plus-diagonal inverse metric from the rows of ``draws`` and ``grads``
    whose ``weights`` are 1 (the window's), as a dense matrix. Rows with a non-finite draw
    or gradient are left out; where the low-rank estimate is not finite and positive
    definite, the diagonal Fisher estimate of the same rows is returned instead.
    ``shrink`` off leaves out Stan's shrinkage of the diagonal, as nutpie does, and clips
    the eigenvalues to [1e-4, 1e4] instead of [1/100, 100]: a regression on a raw
    covariate (posteriordb's kilpisjarvi, correlation -0.99996) needs eigenvalues near 224
    and 1/224, and at [1/100, 100] got a sixth of nutpie's ESS per gradient. What stays in
    both forms is scale-free: the eigenvalues' clip and their power n/(n+5) (the
    geodesic towards the diagonal answer). Without them, on the MA(1) series from far
    starts, a window whose draws barely move gives a direction a near-zero eigenvalue,
    the step size follows it down to 1e-16, and the chain never moves again (2 of 4
    chains on seeds 42 and 777); without the power alone, one chain of seed 777 stays
    on a ridge 43 nats below the mode (nutpie's own low-rank adaptation freezes 2 of 4
    chains there, and 1 of 4 on seed 123)."""
    finite = jnp.all(jnp.isfinite(draws), axis=1) & jnp.all(jnp.isfinite(grads), axis=1)
    weights = jnp.where(finite, weights, 0.0)
    draws = jnp.where(finite[:, None], draws, 0.0)
    grads = jnp.where(finite[:, None], grads, 0.0)
    n = jnp.sum(weights)
    w = weights[:, None]
    mean_x = jnp.sum(w * draws, axis=0) / n
    mean_g = jnp.sum(w * grads, axis=0) / n
    var_x = jnp.sum(w * (draws - mean_x) ** 2, axis=0) / n
    var_g = jnp.sum(w * (grads - mean_g) ** 2, axis=0) / n
    scale2 = _diagonal_scale2(var_x, var_g)
    scale2 = stan_shrinkage(n, scale2) if shrink else scale2
    scale = jnp.sqrt(scale2)
    x = w * (draws - mean_x) / scale
    g = w * (grads - mean_g) * scale
    d = draws.shape[1]
    eye = jnp.eye(d, dtype=draws.dtype)
    c_x = (x.T @ x) / n + JITTER * eye
    c_g = (g.T @ g) / n + JITTER * eye
    values, vectors = jnp.linalg.eigh(spd_geometric_mean_of_inverse(c_x, c_g))
    max_eigen = MAX_EIGEN if shrink else MAX_EIGEN_UNSHRUNK
    values = jnp.clip(values, 1.0 / max_eigen, max_eigen) ** (n / (n + SHRINK_DRAWS))
    values = jnp.where((values > 1.0 / cutoff) & (values < cutoff), 1.0, values)
    core = (vectors * values) @ vectors.T  # I + U (Lambda - I) U'
    low_rank = scale[:, None] * core * scale[None, :]
    return jnp.where(usable_metric(low_rank), low_rank, jnp.diag(scale2))


def fisher_low_rank(capacity: int, cutoff: float = EIGEN_CUTOFF, shrink: bool = True) -> WindowEstimator:
    def init(d, dtype):
        return WindowDraws(jnp.zeros((), jnp.int32), jnp.zeros((capacity, d), dtype), jnp.zeros((capacity, d), dtype))

    def add(buffer: WindowDraws, x, g):
        slot = jnp.minimum(buffer.n, capacity - 1)
        return WindowDraws(buffer.n + 1, buffer.draws.at[slot].set(x), buffer.grads.at[slot].set(g))

    def estimate(buffer: WindowDraws):
        weights = (jnp.arange(capacity) < buffer.n).astype(buffer.draws.dtype)
        return low_rank_inverse_metric(buffer.draws, buffer.grads, weights, cutoff, shrink)

    return WindowEstimator(init, add, estimate, dense=True)
