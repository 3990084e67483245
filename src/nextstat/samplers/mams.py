"""MAMS, the Metropolis-adjusted microcanonical sampler (Robnik, Cohn-Gordon and Seljak,
arXiv:2503.01707), as pure JAX functions in the BlackJAX shape.

The velocity u is a unit vector and moves under isokinetic dynamics,
dx/dt = sigma u and du/dt = (I - u u') (sigma g) / (d - 1), where g is the gradient of
the log density and sigma = sqrt(M^-1) a diagonal preconditioner (or, for a dense M^-1,
its Cholesky factor S: dx/dt = S u and the force S' g). A transition draws a
fresh u uniformly on the sphere, integrates n = round(L / eps) steps of the minimal-norm
(McLachlan) integrator B A B A B, and accepts the end point with probability
min(1, exp(-W)), W = U(x_n) - U(x_0) + (the kinetic energy changes of every B step),
U = -log p. A NaN W rejects; W > 1000 counts as a divergence. The step size is jittered
by +-``jitter`` (uniformly) per transition to break the periodicity of a fixed L.

The B step has a closed form (overflow-free through zeta = exp(-delta)):
e = g/|g|, delta = tau |g| / (d - 1), c = u.e,
u' is proportional to e (1 - zeta) (1 + zeta + c (1 - zeta)) + 2 zeta u, and
dK = (d - 1) (delta - log 2 + log(1 + c + (1 - c) zeta^2)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

#: minimal-norm integrator coefficient (Omelyan/McLachlan): B(b1) A(1/2) B(1 - 2 b1) A(1/2) B(b1)
B1 = 0.1931833275037836
MAX_ENERGY_ERROR = 1000.0


class MAMSState(NamedTuple):
    position: jax.Array
    logdensity: jax.Array
    logdensity_grad: jax.Array


class MAMSInfo(NamedTuple):
    accept_prob: jax.Array
    accepted: jax.Array
    energy_error: jax.Array  # W of the proposal
    n_grads: jax.Array  # gradient evaluations of the transition
    divergent: jax.Array
    #: how far the chain moved (Euclidean, unconstrained): 0 when the proposal was rejected,
    #: and about 0 when eps has collapsed, whatever accept_prob says (a chain stuck at
    #: eps = 1e-80 accepts everything it proposes and goes nowhere)
    distance: jax.Array


def init(position, logdensity_fn: Callable) -> MAMSState:
    logdensity, grad = jax.value_and_grad(logdensity_fn)(position)
    return MAMSState(position, logdensity, grad)


def velocity_update(u, force, tau):
    """Isokinetic B step over time ``tau`` under the (preconditioned) force g:
    returns the new unit velocity and the kinetic energy change."""
    d = u.shape[0]
    largest = jnp.max(jnp.abs(force))
    scaled = force / jnp.where(largest > 0, largest, 1.0)  # |g| without overflow for huge gradients
    norm = largest * jnp.sqrt(jnp.sum(scaled * scaled))
    e = scaled / jnp.where(norm > 0, jnp.sqrt(jnp.sum(scaled * scaled)), 1.0)
    delta = tau * norm / (d - 1)
    zeta = jnp.exp(-delta)
    c = jnp.sum(u * e)
    new = e * (1.0 - zeta) * (1.0 + zeta + c * (1.0 - zeta)) + 2.0 * zeta * u
    new = new / jnp.sqrt(jnp.sum(new * new))
    kinetic_change = (d - 1) * (delta - jnp.log(2.0) + jnp.log(1.0 + c + (1.0 - c) * zeta**2))
    return new, kinetic_change


def random_unit_vector(key, d, dtype):
    z = jax.random.normal(key, (d,), dtype)
    return z / jnp.sqrt(jnp.sum(z * z))


class Preconditioner(NamedTuple):
    """x = S z for M^-1 = S S': ``move(u)`` = S u (a position step's direction), ``force(g)``
    = S' g (the gradient in the preconditioned space), ``whiten(x)`` = S^-1 x."""

    move: Callable
    force: Callable
    whiten: Callable


class CholeskyFactor(NamedTuple):
    """A dense inverse metric given by its lower Cholesky factor, factored once (``factored``)
    instead of at every transition: the factorization costs d^3 / 3, where a transition's
    products with it cost d^2 a gradient."""

    lower: jax.Array


def factored(inverse_metric):
    """The form the kernel takes fastest: a diagonal as it is, a dense matrix by its factor."""
    if isinstance(inverse_metric, CholeskyFactor) or inverse_metric.ndim == 1:
        return inverse_metric
    return CholeskyFactor(jnp.linalg.cholesky(inverse_metric))


def preconditioner(inverse_metric) -> Preconditioner:
    """S from the inverse metric: sqrt of a diagonal (a vector), or the lower Cholesky factor
    of a dense one (a d x d matrix, e.g. the low-rank Fisher estimate made dense, or its
    ``CholeskyFactor`` already)."""
    if not isinstance(inverse_metric, CholeskyFactor) and inverse_metric.ndim == 1:
        sigma = jnp.sqrt(inverse_metric)
        return Preconditioner(lambda u: sigma * u, lambda g: sigma * g, lambda x: x / sigma)
    chol = factored(inverse_metric).lower
    return Preconditioner(
        lambda u: chol @ u,
        lambda g: chol.T @ g,
        lambda x: jax.scipy.linalg.solve_triangular(chol, x, lower=True),
    )


def integrate(logdensity_fn: Callable):
    """``trajectory(state, u, step_size, n_steps, inverse_metric) -> (state, u, kinetic
    change)``: n steps of the minimal-norm integrator, two gradients per step (the last B
    of a step and the first B of the next share their gradient)."""
    value_and_grad = jax.value_and_grad(logdensity_fn)

    def trajectory(state: MAMSState, u, step_size, n_steps, inverse_metric):
        scale = preconditioner(inverse_metric)

        def position_update(x, u, tau):
            x = x + tau * scale.move(u)
            logdensity, grad = value_and_grad(x)
            return x, logdensity, grad

        def one_step(_, carry):
            x, logdensity, grad, u, kinetic = carry
            u, dk1 = velocity_update(u, scale.force(grad), B1 * step_size)
            x, logdensity, grad = position_update(x, u, 0.5 * step_size)
            u, dk2 = velocity_update(u, scale.force(grad), (1.0 - 2.0 * B1) * step_size)
            x, logdensity, grad = position_update(x, u, 0.5 * step_size)
            u, dk3 = velocity_update(u, scale.force(grad), B1 * step_size)
            return x, logdensity, grad, u, kinetic + dk1 + dk2 + dk3

        zero = jnp.zeros((), state.position.dtype)
        x, logdensity, grad, u, kinetic = jax.lax.fori_loop(
            0, n_steps, one_step, (state.position, state.logdensity, state.logdensity_grad, u, zero)
        )
        return MAMSState(x, logdensity, grad), u, kinetic

    return trajectory


def find_reasonable_step_size(
    key, kernel: Callable, state: MAMSState, step_size, inverse_metric, max_iterations: int = 200
):
    """Stan's step-size heuristic for MAMS: move eps by factors of 2 from ``step_size``
    until one transition of a single integrator step (no jitter) crosses acceptance 0.8.
    200 factors of two span 1e-60 to 1e60. Returns (eps, gradient evaluations spent)."""
    from .step_size import LOG_08, double_or_halve

    def log_accept(key, eps):
        _, info = kernel(key, state, eps, eps, inverse_metric, 0.0)
        return -info.energy_error

    eps, evaluations = double_or_halve(key, step_size, log_accept, LOG_08, max_iterations)
    return eps, 2 * evaluations


def random_trajectory_length(key, trajectory_length, step_size):
    """A trajectory length drawn per transition: ``n * step_size`` with n uniform on
    {1, ..., 2m - 1} (continuously: ``floor(1 + U (2m - 1))``), m = L / eps, so the mean
    number of steps stays m while no two transitions need share a period. Passing it as
    the kernel's ``trajectory_length`` makes the kernel take exactly n steps."""
    mean_steps = jnp.maximum(trajectory_length / step_size, 1.0)
    u = jax.random.uniform(key, (), jnp.result_type(step_size))
    return jnp.floor(1.0 + u * (2.0 * mean_steps - 1.0)) * step_size


def build_kernel(logdensity_fn: Callable, max_steps: int = 1024):
    """``kernel(key, state, step_size, trajectory_length, inverse_metric, jitter) -> (state, info)``."""
    trajectory = integrate(logdensity_fn)

    def kernel(key, state: MAMSState, step_size, trajectory_length, inverse_metric, jitter=0.1):
        velocity_key, jitter_key, accept_key = jax.random.split(key, 3)
        d = state.position.shape[0]
        dtype = state.position.dtype
        n_steps = jnp.clip(jnp.round(trajectory_length / step_size), 1, max_steps).astype(jnp.int32)
        eps = step_size * (1.0 + jitter * jax.random.uniform(jitter_key, (), dtype, -1.0, 1.0))
        u = random_unit_vector(velocity_key, d, dtype)
        proposal, _, kinetic = trajectory(state, u, eps, n_steps, inverse_metric)
        energy_error = -(proposal.logdensity - state.logdensity) + kinetic
        energy_error = jnp.where(jnp.isnan(energy_error), jnp.inf, energy_error)
        accept_prob = jnp.minimum(1.0, jnp.exp(-energy_error))
        accepted = jax.random.uniform(accept_key, (), dtype) < accept_prob
        new = jax.tree.map(lambda a, b: jnp.where(accepted, a, b), proposal, state)
        distance = jnp.where(accepted, jnp.sqrt(jnp.sum((proposal.position - state.position) ** 2)), 0.0)
        info = MAMSInfo(accept_prob, accepted, energy_error, 2 * n_steps, energy_error > MAX_ENERGY_ERROR, distance)
        return new, info

    return kernel
