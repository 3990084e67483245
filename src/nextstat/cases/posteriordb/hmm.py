"""posteriordb's two-state hidden Markov models: ``hmm_example``, ``hmm_drive_0``, ``hmm_drive_1``.

Each program declares the transition matrix by its rows, the simplexes ``theta1`` and
``theta2``, then its emission parameters as ordered vectors, and marginalizes the hidden
states with the forward algorithm, starting from the first emission alone (no initial
state distribution). The densities here drop the terms that are constant given the data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np

from ..base import TraceableConstrain, indexed_names
from .density import DensityBuilder, JaxDensity, ordered, positive_ordered, simplex

#: The programs assign exactly two transition rows, theta[1] = theta1 and theta[2] = theta2.
TRANSITION_ROWS = ("theta1", "theta2")
N_STATES = len(TRANSITION_ROWS)


def forward_log_likelihood(log_transition, log_emission):
    """log of the sum over state paths of prod_t transition * emission, by the forward
    recursion gamma_t[k] = log_sum_exp_j(gamma_{t-1}[j] + log_transition[j, k]) + log_emission[t, k]
    from gamma_1 = log_emission[0]; ``log_emission`` is (N, K)."""
    import jax
    from jax.scipy.special import logsumexp

    def step(gamma, log_emission_t):
        return logsumexp(gamma[:, None] + log_transition, axis=0) + log_emission_t, None

    gamma, _ = jax.lax.scan(step, log_emission[0], log_emission[1:])
    return logsumexp(gamma)


def _free_names(name: str, transform: Callable) -> tuple[str, ...]:
    """Names of the unconstrained coordinates of one two-state vector parameter."""
    if transform is simplex:
        return indexed_names(f"stick_{name}", N_STATES - 1)
    first = name if transform is ordered else f"log_{name}"
    return (f"{first}[1]", *(f"log_step_{name}[{k}]" for k in range(2, N_STATES + 1)))


def _hmm_density(
    emission_names: tuple[str, ...],
    emission_transform: Callable,
    log_prior: Callable[..., Any],
    log_emission: Callable[..., Any],
) -> JaxDensity:
    """A two-state HMM program: ``log_prior(log_theta, *emission)`` and
    ``log_emission(*emission) -> (N, K)`` in JAX, everything else shared."""
    blocks = [(name, simplex) for name in TRANSITION_ROWS] + [(name, emission_transform) for name in emission_names]
    widths = [N_STATES - 1 if transform is simplex else N_STATES for _, transform in blocks]
    starts = np.concatenate([[0], np.cumsum(widths)])

    def unpack(x, xp):
        values, log_jacobian = [], 0.0
        for (_, transform), start, stop in zip(blocks, starts[:-1], starts[1:]):
            value, block_log_jacobian = transform(x[..., start:stop], xp)
            values.append(value)
            log_jacobian = log_jacobian + block_log_jacobian
        return values, log_jacobian

    def log_density(x):
        import jax.numpy as jnp

        values, log_jacobian = unpack(x, jnp)
        log_theta = jnp.log(jnp.stack(values[: len(TRANSITION_ROWS)]))
        emission = values[len(TRANSITION_ROWS) :]
        return (
            log_jacobian + log_prior(log_theta, *emission) + forward_log_likelihood(log_theta, log_emission(*emission))
        )

    def constrain(x: np.ndarray) -> np.ndarray:
        values, _ = unpack(np.asarray(x, dtype=float), np)
        return np.concatenate(values, axis=-1)

    def traceable(x):
        import jax.numpy as jnp

        values, _ = unpack(x, jnp)
        return jnp.concatenate(values, axis=-1)

    cast(TraceableConstrain, constrain).traceable = traceable
    return JaxDensity(
        unconstrained_names=tuple(n for name, transform in blocks for n in _free_names(name, transform)),
        param_names=tuple(n for name, _ in blocks for n in indexed_names(name, N_STATES)),
        log_density=log_density,
        constrain=constrain,
    )


def _check_two_states(data: Mapping[str, Any]) -> None:
    if int(data["K"]) != N_STATES:
        raise ValueError(f"the program assigns {N_STATES} transition rows and needs K = {N_STATES}, not {data['K']}")


def _normal_prior(means: np.ndarray) -> Callable[[Any], Any]:
    """sum_k normal_lpdf(x[k] | means[k], 1), constants dropped."""

    def log_prior(x):
        return -0.5 * ((x - means) ** 2).sum()

    return log_prior


def hmm_example(data: Mapping[str, Any]) -> JaxDensity:
    """y_t ~ normal(mu[state], 1); mu positive ordered, mu[1] ~ normal(3, 1), mu[2] ~ normal(10, 1);
    no prior on the transition rows beyond their uniform (flat simplex) density."""
    _check_two_states(data)
    y = np.asarray(data["y"], dtype=float)
    mu_prior = _normal_prior(np.array([3.0, 10.0]))

    def log_emission(mu):
        return -0.5 * (y[:, None] - mu) ** 2

    def log_prior(log_theta, mu):
        return mu_prior(mu)

    return _hmm_density(("mu",), positive_ordered, log_prior, log_emission)


def _drive_density(
    data: Mapping[str, Any], emission_transform: Callable, log_emission: Callable[..., Any]
) -> JaxDensity:
    """The basketball drive programs: transition row k ~ dirichlet(alpha[k, :]), emission
    parameters phi (for 1/speed u) and lambda (for hoop distance v), each with
    [1] ~ normal(0, 1) and [2] ~ normal(3, 1)."""
    _check_two_states(data)
    concentration_minus_one = np.asarray(data["alpha"], dtype=float) - 1.0
    emission_prior = _normal_prior(np.array([0.0, 3.0]))

    def log_prior(log_theta, phi, lam):
        return (concentration_minus_one * log_theta).sum() + emission_prior(phi) + emission_prior(lam)

    return _hmm_density(("phi", "lambda"), emission_transform, log_prior, log_emission)


def hmm_drive_0(data: Mapping[str, Any]) -> JaxDensity:
    """u_t ~ exponential(phi[state]), v_t ~ exponential(lambda[state]); phi, lambda positive ordered."""
    u = np.asarray(data["u"], dtype=float)[:, None]
    v = np.asarray(data["v"], dtype=float)[:, None]

    def log_emission(phi, lam):
        import jax.numpy as jnp

        return jnp.log(phi) - u * phi + jnp.log(lam) - v * lam

    return _drive_density(data, positive_ordered, log_emission)


def hmm_drive_1(data: Mapping[str, Any]) -> JaxDensity:
    """u_t ~ normal(phi[state], tau), v_t ~ normal(lambda[state], rho), tau and rho data;
    phi, lambda ordered."""
    u = np.asarray(data["u"], dtype=float)[:, None]
    v = np.asarray(data["v"], dtype=float)[:, None]
    tau, rho = float(data["tau"]), float(data["rho"])

    def log_emission(phi, lam):
        return -0.5 * ((u - phi) / tau) ** 2 - 0.5 * ((v - lam) / rho) ** 2

    return _drive_density(data, ordered, log_emission)


DENSITIES: dict[str, DensityBuilder] = {
    "hmm_example": hmm_example,
    "hmm_drive_0": hmm_drive_0,
    "hmm_drive_1": hmm_drive_1,
}
