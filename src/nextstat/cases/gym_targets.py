"""inference-gym as a case source: ``gym:<TargetName>`` wherever a case name goes.

inference-gym (Google's benchmark targets, with ground truth from long NUTS runs) computes
its densities in float32: its constants are float32 whatever JAX's precision. Every engine
here runs in float64, so each target is written again here in float64 JAX, on the same
unconstrained space as inference-gym's default event-space bijector (softplus for scales,
a sigmoid for the AR persistence), with the data and ground truth read from the installed
inference-gym package; ``tests/cases/test_gym_targets.py`` checks each against
inference-gym's own density. The ground truth is keyed by parameter name (inference-gym's
flattened vectors order a dict's keys alphabetically, not as the model declares them).
Brownian motion's ground truth is not the posterior of its model: that case's reference
is a committed long Stan run instead (``brownian_motion_unknown_scales``).

A target with ground truth but no density written here is refused, naming those that are;
without inference-gym installed (``pip install 'nextstat[gym]'``) every ``gym:`` case is.
The ground truth gives means, their standard errors and sds, not Var[x^2]: the paper's
second-moment metric then uses the Gaussian 2 sd^4 + 4 mean^2 sd^2 and says so.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np

from .base import Case, Reference, bernoulli_logit_loglik, indexed_names
from .references import attach_reference

PREFIX = "gym:"


class GymError(ValueError):
    """A gym: case that cannot be built here."""


def _import(module: str, target: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise GymError(
            f"case '{PREFIX}{target}' needs inference-gym ({exc}); install it with pip install 'nextstat[gym]'"
        ) from None


def _ground_truth(target: str, module: str, blocks: list[tuple[str, int]]) -> Reference:
    """Means, MCSEs and sds of ``blocks`` (parameter name, size; size 0 for a scalar) from
    inference-gym's ground-truth module, in the order of ``blocks``."""
    truth = _import(f"inference_gym.targets.ground_truth.{module}", target)
    mean: dict[str, float] = {}
    sd: dict[str, float] = {}
    mcse: dict[str, float] = {}
    for name, size in blocks:
        key = f"IDENTITY_{name.upper()}"
        names = indexed_names(name, size) if size else (name,)
        for out, suffix in ((mean, "MEAN"), (mcse, "MEAN_STANDARD_ERROR"), (sd, "STANDARD_DEVIATION")):
            values = np.atleast_1d(np.asarray(getattr(truth, f"{key}_{suffix}"), dtype=float))
            if values.shape != (len(names),):
                raise GymError(f"ground truth {key}_{suffix} of '{target}' has shape {values.shape}, not {len(names)}")
            out.update(zip(names, values.tolist(), strict=True))
    return Reference(
        kind="reference-draws",
        mean=mean,
        sd=sd,
        mcse=mcse,
        source=f"inference-gym ground truth ({module}): long NUTS runs, means with their standard errors, sds",
    )


def _softplus(x):
    import jax.numpy as jnp

    return jnp.logaddexp(x, 0.0)


def _log_sigmoid(x):
    import jax.numpy as jnp

    return -jnp.logaddexp(-x, 0.0)


def _normal(x, loc, scale):
    import jax.numpy as jnp

    return -0.5 * ((x - loc) / scale) ** 2 - jnp.log(scale) - 0.5 * math.log(2 * math.pi)


def _log_normal_0_2(x):
    """LogNormal(0, 2) at x > 0."""
    import jax.numpy as jnp

    log_x = jnp.log(x)
    return -log_x - math.log(2.0) - 0.5 * math.log(2 * math.pi) - log_x**2 / 8.0


def _numpy_softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, 0.0)


BROWNIAN_MOTION_STAN = """
data {
  int<lower=1> T;
  int<lower=0> n_obs;
  array[n_obs] int<lower=1, upper=T> obs_idx;
  vector[n_obs] y;
}
parameters {
  real<lower=0> innovation_noise_scale;
  real<lower=0> observation_noise_scale;
  vector[T] locs;
}
model {
  innovation_noise_scale ~ lognormal(0, 2);
  observation_noise_scale ~ lognormal(0, 2);
  locs[1] ~ normal(0, innovation_noise_scale);
  locs[2:T] ~ normal(locs[1:(T - 1)], innovation_noise_scale);
  y ~ normal(locs[obs_idx], observation_noise_scale);
}
"""


def brownian_motion_unknown_scales() -> Case:
    """BrownianMotionUnknownScalesMissingMiddleObservations (32): two LogNormal(0, 2) scales,
    a 30-step random walk from N(0, innovation), observed with noise except steps 10-19.

    Its reference is a long Stan run of the same model (``BROWNIAN_MOTION_STAN``,
    ``references/gym_BrownianMotion...json``), not inference-gym's ground truth: that
    truth sits a median 5 and up to 16 standard errors (of the two estimates together)
    from the posterior that CmdStan, our samplers and BlackJAX's all find on this density
    (the observation noise's mean 0.101 against 0.113), so it cannot be the posterior of
    inference-gym's own model
    (``tests/cases/test_gym_targets.py`` keeps the disagreement measured). Stan's
    unconstrained space (log scales) is not this case's (softplus): the two meet on the
    constrained parameters, which is all a reference compares."""
    target = "BrownianMotionUnknownScalesMissingMiddleObservations"
    dataset = _import("inference_gym.internal.datasets.brownian_motion_missing_middle_observations", target)
    observed = np.asarray(dataset.OBSERVED_LOC, dtype=float)
    mask = ~np.isnan(observed)
    y = np.where(mask, observed, 0.0)
    steps = len(observed)
    names = ("innovation_noise_scale", "observation_noise_scale", *indexed_names("locs", steps))

    def log_density(z):
        import jax.numpy as jnp

        innovation, observation = _softplus(z[0]), _softplus(z[1])
        locs = z[2:]
        lp = _log_normal_0_2(innovation) + _log_normal_0_2(observation) + _log_sigmoid(z[0]) + _log_sigmoid(z[1])
        lp += _normal(locs[0], 0.0, innovation) + jnp.sum(_normal(locs[1:], locs[:-1], innovation))
        return lp + jnp.sum(jnp.where(mask, _normal(y, locs, observation), 0.0))

    def constrain(z: np.ndarray) -> np.ndarray:
        out = np.array(z, dtype=float, copy=True)
        out[..., :2] = _numpy_softplus(out[..., :2])
        return out

    observed_steps = np.flatnonzero(mask)
    stan_data = {
        "T": steps,
        "n_obs": len(observed_steps),
        "obs_idx": (observed_steps + 1).tolist(),
        "y": observed[observed_steps].tolist(),
    }
    case = _case(target, "brownian_motion", names, log_density, constrain, {"observed_locs": observed}, None)
    return replace(case, stan_code=BROWNIAN_MOTION_STAN, stan_data=stan_data)  # its reference: gym_case


def synthetic_item_response_theory() -> Case:
    """SyntheticItemResponseTheory (501): 400 students' abilities and 100 questions'
    difficulties, N(0, 1), a mean ability N(0.75, 1), 30,012 right-or-wrong answers."""
    target = "SyntheticItemResponseTheory"
    dataset = _import("inference_gym.internal.datasets.synthetic_item_response_theory", target)
    students = np.asarray(dataset.STUDENT_IDS, dtype=int)
    questions = np.asarray(dataset.QUESTION_IDS, dtype=int)
    correct = np.asarray(dataset.CORRECT, dtype=float)
    n_students, n_questions = int(students.max()) + 1, int(questions.max()) + 1
    names = (
        "mean_student_ability",
        *indexed_names("centered_student_ability", n_students),
        *indexed_names("question_difficulty", n_questions),
    )

    def log_density(z):
        import jax.numpy as jnp

        mean, ability, difficulty = z[0], z[1 : 1 + n_students], z[1 + n_students :]
        lp = _normal(mean, 0.75, 1.0) + jnp.sum(_normal(ability, 0.0, 1.0)) + jnp.sum(_normal(difficulty, 0.0, 1.0))
        return lp + bernoulli_logit_loglik(correct, mean + ability[students] - difficulty[questions])

    reference = _ground_truth(
        target,
        "synthetic_item_response_theory",
        [("mean_student_ability", 0), ("centered_student_ability", n_students), ("question_difficulty", n_questions)],
    )
    data = {"student_ids": students, "question_ids": questions, "correct": correct}
    return _case(target, "item_response", names, log_density, _identity, data, reference)


def stochastic_volatility_sp500() -> Case:
    """StochasticVolatilitySP500 (2519): persistence 2 Beta(20, 1.5) - 1, mean log volatility
    Cauchy(0, 5), shock scale HalfCauchy(0, 2), a centered AR(1) log volatility over 2,516
    days of S&P 500 returns (closing price differences, centered)."""
    target = "StochasticVolatilitySP500"
    dataset = _import("inference_gym.internal.datasets.sp500_closing_prices", target)
    returns = np.diff(np.asarray(dataset.CLOSING_PRICES, dtype=float))
    returns = returns - returns.mean()
    days = len(returns)
    names = (
        "persistence_of_volatility",
        "mean_log_volatility",
        "white_noise_shock_scale",
        *indexed_names("log_volatility", days),
    )
    beta_norm = math.lgamma(21.5) - math.lgamma(20.0) - math.lgamma(1.5)

    def log_density(z):
        import jax.numpy as jnp

        log_b, log_1mb = _log_sigmoid(z[0]), _log_sigmoid(-z[0])  # p = 2 b - 1 with b = sigmoid(z[0])
        persistence = 2.0 * jnp.exp(log_b) - 1.0
        mean, shock = z[1], _softplus(z[2])
        h = z[3:]
        lp = beta_norm + 19.0 * log_b + 0.5 * log_1mb - math.log(2.0)  # b ~ Beta(20, 1.5), p's density half b's
        lp += math.log(2.0) + log_b + log_1mb  # d p / d z[0] = 2 b (1 - b)
        lp += -math.log(5.0 * math.pi) - jnp.log1p((mean / 5.0) ** 2)  # Cauchy(0, 5)
        lp += -math.log(math.pi) - jnp.log1p((shock / 2.0) ** 2) + _log_sigmoid(z[2])  # HalfCauchy(0, 2), softplus
        lp += _normal(h[0], mean, shock / jnp.sqrt(1.0 - persistence**2))
        lp += jnp.sum(_normal(h[1:], mean + persistence * (h[:-1] - mean), shock))
        return lp + jnp.sum(_normal(returns, 0.0, jnp.exp(h / 2.0)))

    def constrain(z: np.ndarray) -> np.ndarray:
        out = np.array(z, dtype=float, copy=True)
        out[..., 0] = 2.0 / (1.0 + np.exp(-out[..., 0])) - 1.0
        out[..., 2] = _numpy_softplus(out[..., 2])
        return out

    reference = _ground_truth(
        target,
        "stochastic_volatility_sp500",
        [
            ("persistence_of_volatility", 0),
            ("mean_log_volatility", 0),
            ("white_noise_shock_scale", 0),
            ("log_volatility", days),
        ],
    )
    return _case(
        target, "stochastic_volatility", names, log_density, constrain, {"centered_returns": returns}, reference
    )


def _identity(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=float)


def _case(
    target: str,
    family: str,
    names: tuple[str, ...],
    log_density: Callable[[Any], Any],
    constrain: Callable[[np.ndarray], np.ndarray],
    data: dict[str, np.ndarray],
    reference: Reference | None,
) -> Case:
    version = _installed_version()
    return Case(
        name=PREFIX + target,
        family=family,
        parameterization="centered" if family != "item_response" else "none",
        description=f"inference-gym {version} {target} ({len(names)}), in float64 JAX on its unconstrained space.",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=constrain,
        # NaN (unobserved) is not JSON: null in the hashed data
        data={
            k: [None if isinstance(v, float) and math.isnan(v) else v for v in np.asarray(a).tolist()]
            for k, a in data.items()
        },
        reference=reference,
        source=f"inference-gym {version}",
        dataset_name=f"inference-gym:{target}",
        missing_jax_density=None,
    )


def _json_values(values: np.ndarray) -> list:
    """An array as a JSON list for the dataset's hash: NaN (unobserved) is not JSON, so null."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in np.asarray(values).tolist()]


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inference-gym")
    except PackageNotFoundError:
        return "(version unknown)"


#: the targets written here, by inference-gym's class name
TARGETS: dict[str, Callable[[], Case]] = {
    "BrownianMotionUnknownScalesMissingMiddleObservations": brownian_motion_unknown_scales,
    "SyntheticItemResponseTheory": synthetic_item_response_theory,
    "StochasticVolatilitySP500": stochastic_volatility_sp500,
}


def gym_case(target: str) -> Case:
    """The target's case with its reference: inference-gym's ground truth, or a committed
    long Stan run where the case has none (read each time, not cached with the case)."""
    if target not in TARGETS:
        raise GymError(
            f"case '{PREFIX}{target}': no float64 density of that inference-gym target is written in nextstat "
            f"(written: {', '.join(TARGETS)})"
        )
    return attach_reference(_built(target))


@cache
def _built(target: str) -> Case:
    return TARGETS[target]()
