"""A conjugate normal model for the SBC tests (and its prior alone, a case without data),
and two "samplers" of its posterior:
one exact, one overconfident (the posterior sd halved), as nextstat plug-in engines.

theta ~ N(0, 1), y_i ~ N(theta, 1) for i = 1..5: the posterior is N(sum(y) / 6, 1 / 6).
"""

import numpy as np

from nextstat.cases import Case, Reference
from nextstat.cases.base import identity
from nextstat.cases.simulation import Simulator
from nextstat.engines import EngineSpec, RunResult

N = 5


def _case(data):
    y = np.asarray(data["y"], dtype=float)

    def log_density(x):
        return -0.5 * x[0] ** 2 - 0.5 * ((y - x[0]) ** 2).sum()

    mean, sd = y.sum() / (len(y) + 1), (len(y) + 1) ** -0.5
    return Case(
        name="conjugate_normal",
        family="normal",
        parameterization="none",
        description="theta ~ N(0, 1), y ~ N(theta, 1), five observations",
        unconstrained_names=("theta",),
        param_names=("theta",),
        log_density=log_density,
        constrain=identity,
        data={"y": y.tolist()},
        reference=Reference(kind="analytic", mean={"theta": mean}, sd={"theta": sd}, mcse={"theta": 0.0}),
    )


CONJUGATE = Simulator(
    name="conjugate_normal",
    draw=lambda rng: np.array([rng.normal()]),
    simulate=lambda theta, rng: {"y": (theta[0] + rng.normal(size=N)).tolist()},
    case_for=_case,
)


#: no data: the posterior is the prior, N(0, 1), so SBC may make a replication of each chain
PRIOR_ONLY = Simulator(
    name="normal_prior",
    draw=lambda rng: np.array([rng.normal()]),
    simulate=lambda theta, rng: {},
    case_for=lambda data: _case({"y": []}),
    data_free=True,
)


def _sampler(scale: float):
    def run(case, settings, budget, seed):
        ref = case.reference
        rng = np.random.default_rng(seed)
        shape = (budget.chains, budget.draws)
        draws = ref.mean["theta"] + scale * ref.sd["theta"] * rng.standard_normal((*shape, 1))
        return RunResult(
            draws=draws,
            param_names=case.param_names,
            sample_stats={
                "n_steps": np.ones(shape, dtype=int),
                "diverging": np.zeros(shape, dtype=bool),
                "energy": draws[..., 0] ** 2,
                "acceptance_rate": np.ones(shape),
                "step_size": np.ones(shape),
            },
            grad_evals_warmup=0,
            grad_evals_sampling=int(np.prod(shape)),
            compile_s=0.0,
            warmup_s=0.0,
            sampling_s=1e-3,
        )

    return run


EXACT = EngineSpec(name="exact_posterior", run=_sampler(1.0), versions=dict, health_gate="microcanonical", nuts=False)
OVERCONFIDENT = EngineSpec(
    name="overconfident_posterior", run=_sampler(0.5), versions=dict, health_gate="microcanonical", nuts=False
)
