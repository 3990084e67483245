"""Cases that can simulate, for simulation-based calibration (``nextstat sbc``).

A ``Simulator`` draws the parameters from the prior, simulates data given them, and builds
the case conditioned on that data: SBC then samples each replication's posterior and
ranks the true parameters among the draws. Built in: eight schools (non-centered) and the
non-centered funnel (no data: its posterior is its prior, so it checks the sampler alone).
A user's file offers one as ``path/to/file.py:NAME`` (a ``Simulator``, or a function
returning one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .base import Case


@dataclass(frozen=True)
class Simulator:
    name: str
    #: a prior draw of the constrained parameters, in the order of the case's ``param_names``
    draw: Callable[[np.random.Generator], np.ndarray]
    #: data given those parameters (JSON-serializable values)
    simulate: Callable[[np.ndarray, np.random.Generator], dict[str, Any]]
    #: the case conditioned on that data
    case_for: Callable[[dict[str, Any]], Case]


def eight_schools_simulator() -> Simulator:
    from .eight_schools import SIGMA, eight_schools

    sigma = np.array(SIGMA)

    def draw(rng: np.random.Generator) -> np.ndarray:
        mu = rng.normal(0.0, 5.0)
        tau = abs(5.0 * rng.standard_cauchy())
        return np.array([mu, tau, *rng.normal(size=len(sigma))])

    def simulate(theta: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        mu, tau, theta_tilde = theta[0], theta[1], theta[2:]
        return {"y": (mu + tau * theta_tilde + sigma * rng.normal(size=len(sigma))).tolist()}

    return Simulator("eight_schools", draw, simulate, lambda data: eight_schools(tuple(data["y"])))


def funnel_ncp_simulator(d: int = 10) -> Simulator:
    from .funnel import neal_funnel_ncp

    case = neal_funnel_ncp(d)

    def draw(rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.normal(0.0, 3.0), *rng.normal(size=d - 1)])

    return Simulator(case.name, draw, lambda theta, rng: {}, lambda data: case)


SIMULATORS: dict[str, Callable[[], Simulator]] = {
    "eight_schools": eight_schools_simulator,
    "neal_funnel_ncp_10d": funnel_ncp_simulator,
}


def get_simulator(spec: str) -> Simulator:
    """A built-in simulating case by name, or ``path/to/file.py:NAME``."""
    from . import CaseError

    if spec in SIMULATORS:
        return SIMULATORS[spec]()
    if ".py:" in spec:
        from ..user_code import load_named

        return replace(load_named(spec, "simulator", Simulator, CaseError), name=spec)
    raise CaseError(
        f"case '{spec}' cannot simulate: expected one of {', '.join(SIMULATORS)} or path/to/file.py:NAME "
        "(a nextstat.cases.simulation.Simulator)"
    )
