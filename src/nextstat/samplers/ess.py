"""Effective sample size in JAX, for tuning inside a traced warmup.

Stan's estimator (Geyer's initial monotone sequence; Stan reference manual, "Effective
sample size"), computed as BlackJAX's ``diagnostics.effective_sample_size`` computes it,
so that a warmup tuned with either gives the same numbers:

- autocovariances of each chain by FFT, averaged over chains; rho_t = 1 - (var0 -
  acov_t) / var+, with var+ the within-chain variance plus the between-chain variance of
  the chain means (Gelman et al., BDA3);
- the autocorrelations summed in pairs P_k = rho_2k + rho_2k+1 while every pair so far is
  positive (Geyer's initial positive sequence), plus the next even lag where it is positive;
- the pairs then made non-increasing (Geyer's initial monotone sequence);
- tau = -1 + 2 sum(rho) - rho at that next even lag, floored at 1 / log10(chains x draws);
  ESS = chains x draws / tau.

A coordinate whose draws never differ from their chain's first has ESS 0; one with a NaN
draw has ESS NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.fft import next_fast_len


def _mean_autocovariance(centered) -> jax.Array:
    """Biased autocovariance of each chain at lags 0..n-1 by FFT, averaged over chains:
    (chain, draw, ...) -> (draw, ...)."""
    n = centered.shape[1]
    size = next_fast_len(2 * n, real=True)
    spectrum = jnp.fft.rfft(centered, n=size, axis=1)
    spectrum = spectrum * jnp.conjugate(spectrum)
    acov = jnp.fft.irfft(spectrum, n=size, axis=1)[:, :n] / n
    return jnp.mean(acov, axis=0)


def effective_sample_size(chains) -> jax.Array:
    """ESS of every coordinate of ``chains`` (chain, draw, ...); returns shape (...)."""
    chains = jnp.asarray(chains)
    m, n = chains.shape[:2]
    if n < 2:
        raise ValueError(f"effective sample size needs at least 2 draws per chain, got {n}")
    varies = jnp.any(chains != chains[:, :1], axis=(0, 1))
    chain_means = jnp.mean(chains, axis=1, keepdims=True)
    acov = _mean_autocovariance(chains - chain_means)
    var0 = acov[0] * n / (n - 1.0)
    degenerate = jnp.isfinite(var0) & (~varies | (var0 <= 0.0))
    pooled = var0 * (n - 1.0) / n
    if m > 1:
        pooled = pooled + jnp.var(chain_means[:, 0], axis=0, ddof=1)
    pooled = jnp.where(degenerate, jnp.ones_like(pooled), pooled)

    n_even = n - n % 2
    rho = jnp.concatenate([jnp.ones_like(var0)[None], 1.0 - (var0 - acov[1:n_even]) / pooled])
    rho_even, rho_odd = rho[0::2], rho[1::2]

    # Geyer's initial positive sequence: the pairs up to the first that is not positive
    positive = jnp.cumsum(rho_even + rho_odd <= 0.0, axis=0) == 0
    n_pairs = rho_even.shape[0]
    lag = jnp.arange(n_pairs).reshape((n_pairs,) + (1,) * (rho.ndim - 1))
    next_pair = jnp.maximum(jnp.sum(positive, axis=0) - 1, 0) + 1  # the even lag after the sequence
    rho_odd = jnp.where(positive, rho_odd, 0.0)
    rho_even = jnp.where(positive | ((lag == next_pair) & (rho_even > 0)), rho_even, 0.0)

    # Geyer's initial monotone sequence: a pair above the running minimum becomes it
    pairs = rho_even + rho_odd
    running_min = jax.lax.cummin(pairs, axis=0)
    capped = pairs > running_min
    rho_even = jnp.where(capped, running_min / 2.0, rho_even)
    rho_odd = jnp.where(capped, running_min / 2.0, rho_odd)

    at_next = jnp.take_along_axis(rho_even, jnp.minimum(next_pair, n_pairs - 1)[None], axis=0)[0]
    tau = -1.0 + 2.0 * jnp.sum(rho_even + rho_odd, axis=0) - at_next
    tau = jnp.maximum(tau, float(1 / np.log10(m * n)))
    ess = jnp.where(degenerate, 0.0, m * n / tau)
    return jnp.where(jnp.any(jnp.isnan(chains), axis=(0, 1)), jnp.nan, ess)
