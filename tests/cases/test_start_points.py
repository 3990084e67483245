"""The shared start points: NumPy only (Stan's engine draws them without JAX), and the
same bits as the JAX-checked draw the engines used before they moved to ``cases``."""

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from nextstat.cases import Case, get_case
from nextstat.cases.base import identity
from nextstat.cases.start_points import start_points

#: sha256 (first 16 hex digits) of the points the JAX-checked draw gave for these runs,
#: recorded from ``engines.jax_common.initial_points`` as it was before the move
RECORDED = {
    ("eight_schools", 42, 4): "1d6984883767d794",
    ("glm_logistic_n200_p6", 7, 4): "93dfd6f8f878d865",
    ("neal_funnel_10d", 777, 16): "6276e35fb085d887",
    ("std_normal_d10", 0, 8): "be00a14c6e3cbf6a",
}
#: the same for a density that is -inf on half the box, so that starts are drawn again
RECORDED_REDRAWN = {1: "4d71b1bfeab6e116", 2: "afc798d956189c22", 3: "aa14b1829b1100a4"}


def _digest(points: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(points, dtype=np.float64).tobytes()).hexdigest()[:16]


def _half_plane() -> Case:
    def log_density(x):
        import jax.numpy as jnp

        return jnp.where(x[0] > 0, -jnp.inf, -0.5 * jnp.sum(x * x))

    return Case(
        name="half_plane",
        family="test",
        parameterization="none",
        description="-inf where x[0] > 0",
        unconstrained_names=("a", "b"),
        param_names=("a", "b"),
        log_density=log_density,
        constrain=identity,
    )


@pytest.mark.parametrize("run", list(RECORDED))
def test_start_points_are_the_recorded_bits_with_and_without_the_jax_check(run):
    from nextstat.engines.jax_common import configure_jax, initial_points

    configure_jax("float64")
    name, seed, chains = run
    case = get_case(name)
    assert _digest(start_points(case, seed, chains)) == RECORDED[run]  # Stan's path
    assert _digest(initial_points(case, seed, chains)) == RECORDED[run]  # the JAX engines' path


def test_a_start_where_the_density_is_not_finite_is_drawn_again_as_before():
    from nextstat.engines.jax_common import configure_jax, initial_points

    configure_jax("float64")
    case = _half_plane()
    for seed, digest in RECORDED_REDRAWN.items():
        points = initial_points(case, seed, 4)
        assert np.all(points[:, 0] <= 0) and _digest(points) == digest
    with pytest.raises(RuntimeError, match="no usable start in 100 draws"):
        start_points(case, 1, 1, usable=lambda x: False)


def test_stans_start_points_import_no_jax():
    """Stan's engine up to its frontend: the start points reach the frontend, and JAX is
    never imported on the way."""
    code = """
import hashlib, sys
import nextstat.engines.stan_nuts as stan
from nextstat.cases import get_case
from nextstat.engines import Budget, load_engine, resolve_settings

reached = {}
stan.frontend = lambda: "pystan"
stan._run_pystan = lambda case, settings, budget, seed, inits: reached.setdefault("inits", inits)
load_engine("stan_nuts").run(get_case("eight_schools"), resolve_settings({}, "stan_nuts"), Budget(4, 10, 10), 42)
print("jax" in sys.modules, hashlib.sha256(reached["inits"].tobytes()).hexdigest()[:16])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", RECORDED[("eight_schools", 42, 4)]]
