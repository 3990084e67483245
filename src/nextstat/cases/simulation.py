"""Cases that can simulate, for simulation-based calibration (``nextstat sbc``).

A ``Simulator`` draws the parameters from the prior, simulates data given them, and builds
the case conditioned on that data: SBC then samples each replication's posterior and
ranks the true parameters among the draws. Built in: eight schools (non-centered), the
funnel, centered and non-centered (no data: its posterior is its prior, so it checks the
sampler alone),
the logistic regression on 200 rows x 6 covariates and the hierarchical logistic model
(their covariates and groups held fixed, outcomes simulated).
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
    #: no data: the posterior is the prior, the case the same in every replication (SBC
    #: can then make a replication of each chain of one run)
    data_free: bool = False


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

    return Simulator(case.name, draw, lambda theta, rng: {}, lambda data: case, data_free=True)


def funnel_simulator(d: int = 10) -> Simulator:
    """The centered funnel: the same distribution as the non-centered one, drawn as v and
    x_i = exp(v / 2) z_i; SBC on both tells a sampler's fault from its geometry's."""
    from .funnel import neal_funnel

    case = neal_funnel(d)

    def draw(rng: np.random.Generator) -> np.ndarray:
        v = rng.normal(0.0, 3.0)
        return np.array([v, *(np.exp(v / 2.0) * rng.normal(size=d - 1))])

    return Simulator(case.name, draw, lambda theta, rng: {}, lambda data: case, data_free=True)


def _bernoulli_logit(eta: np.ndarray, rng: np.random.Generator) -> list[int]:
    return (rng.uniform(size=len(eta)) < 1.0 / (1.0 + np.exp(-eta))).astype(int).tolist()


def glm_logistic_simulator(n: int, p: int) -> Simulator:
    """The case's covariates held fixed (as regression SBC does); intercept and
    coefficients from their N(0, 1) priors, outcomes simulated."""
    from .case_data import load_case_data
    from .glm_logistic import glm_logistic_given

    name = f"glm_logistic_n{n}_p{p}"
    design = load_case_data(name)
    X = np.asarray(design["X"], dtype=float)

    def simulate(theta: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        return {**design, "y": _bernoulli_logit(theta[0] + X @ theta[1:], rng)}

    return Simulator(name, lambda rng: rng.normal(size=p + 1), simulate, lambda data: glm_logistic_given(name, data))


def hier_logistic_simulator() -> Simulator:
    """The case's groups and covariate held fixed; mean intercept and slope ~ N(0, 2), group
    scale ~ half-N(0, 1), offsets ~ N(0, 1) (the model's priors), outcomes simulated."""
    from .case_data import load_case_data
    from .hier_logistic import GROUPS, hier_logistic_given

    design = load_case_data("hier_logistic_ri")
    group, x = np.asarray(design["group"]) - 1, np.asarray(design["x"], dtype=float)

    def draw(rng: np.random.Generator) -> np.ndarray:
        return np.array([rng.normal(0.0, 2.0), rng.normal(0.0, 2.0), abs(rng.normal()), *rng.normal(size=GROUPS)])

    def simulate(theta: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        mu_alpha, beta, sigma, z = theta[0], theta[1], theta[2], theta[3:]
        return {**design, "y": _bernoulli_logit(mu_alpha + sigma * z[group] + beta * x, rng)}

    return Simulator("hier_logistic_ri", draw, simulate, hier_logistic_given)


SIMULATORS: dict[str, Callable[[], Simulator]] = {
    "eight_schools": eight_schools_simulator,
    "neal_funnel_ncp_10d": funnel_ncp_simulator,
    "neal_funnel_10d": funnel_simulator,
    "glm_logistic_n200_p6": lambda: glm_logistic_simulator(200, 6),
    "hier_logistic_ri": hier_logistic_simulator,
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
