"""gym: cases: our float64 densities of inference-gym's targets against inference-gym's own
(float32) ones, on the same unconstrained space; their ground truth keyed by name."""

import numpy as np
import pytest

from nextstat.cases import CaseError, get_case
from nextstat.cases.gym_targets import TARGETS

inference_gym = pytest.importorskip(
    "inference_gym", reason="inference-gym is not installed here (the test extra installs it: pip install -e '.[test]')"
)


@pytest.fixture(autouse=True)
def float64():
    import jax

    jax.config.update("jax_enable_x64", True)


def _their_log_density(target: str):
    import inspect

    from inference_gym import using_jax as gym

    cls = getattr(gym.targets, target)
    # the MarkovChain form of a time series is the same density as one distribution per step, and
    # compiles in seconds where 2,516 separate steps take minutes and gigabytes
    chain = {"use_markov_chain": True} if "use_markov_chain" in inspect.signature(cls).parameters else {}
    model = gym.targets.VectorModel(cls(**chain), flatten_sample_transformations=True)
    bijector = model.default_event_space_bijector

    def log_density(z):
        return model.unnormalized_log_prob(bijector.forward(z)) + bijector.forward_log_det_jacobian(z, event_ndims=1)

    return log_density, int(np.prod(model.event_shape))


#: our coordinate order -> inference-gym's flattened one (a JointDistributionNamed flattens its
#: dict's keys alphabetically: the 400 abilities come before the mean ability)
REORDER = {"SyntheticItemResponseTheory": lambda z: np.concatenate([z[1:401], z[:1], z[401:]])}


@pytest.mark.parametrize("target", list(TARGETS))
def test_our_float64_density_is_inference_gyms(target):
    import jax

    case = get_case(f"gym:{target}")
    theirs, dim = _their_log_density(target)
    assert case.dim == dim
    reorder = REORDER.get(target, lambda z: z)
    rng = np.random.default_rng(3)
    ours_fn, their_fn = jax.jit(jax.value_and_grad(case.log_density)), jax.jit(jax.value_and_grad(theirs))
    for _ in range(3):
        z = rng.normal(scale=0.5, size=dim)
        ours_value, ours_grad = ours_fn(z)
        their_value, their_grad = their_fn(reorder(z))
        # inference-gym computes in float32: agreement to float32's precision of the sum's size
        assert abs(float(ours_value) - float(their_value)) < 1e-5 * max(1.0, abs(float(ours_value))), target
        np.testing.assert_allclose(reorder(np.asarray(ours_grad)), np.asarray(their_grad), rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("target", list(TARGETS))
def test_the_ground_truth_is_keyed_by_name_and_its_means_sit_where_the_density_is_high(target):
    """The reference's names are the case's parameters, and its means are a point of high
    density: a misordered block (an ability taken for a difficulty) would not be."""
    case = get_case(f"gym:{target}")
    ref = case.reference
    assert ref is not None and set(ref.mean) == set(case.param_names)
    assert all(ref.sd[n] > 0 and ref.mcse[n] >= 0 for n in case.param_names)
    mean = np.array([ref.mean[n] for n in case.param_names])
    unconstrained = _unconstrain(target, mean)
    np.testing.assert_allclose(case.constrain(unconstrained), mean, rtol=1e-9, atol=1e-12)
    at_mean = float(case.log_density(unconstrained))
    shuffled = np.random.default_rng(0).permutation(unconstrained)
    assert at_mean > float(case.log_density(shuffled))


def _unconstrain(target: str, x: np.ndarray) -> np.ndarray:
    z = np.array(x, dtype=float)

    def inverse_softplus(y):
        return np.log(np.expm1(y))

    if target.startswith("BrownianMotion"):
        z[:2] = inverse_softplus(z[:2])
    elif target.startswith("StochasticVolatility"):
        b = (z[0] + 1) / 2
        z[0] = np.log(b / (1 - b))
        z[2] = inverse_softplus(z[2])
    return z


def test_a_target_without_a_written_density_is_refused_naming_the_written_ones():
    with pytest.raises(CaseError, match="no float64 density of that inference-gym target.*SyntheticItemResponseTheory"):
        get_case("gym:Banana")


def test_nextstat_cases_lists_the_written_targets_where_inference_gym_is_installed():
    import json

    from conftest import nextstat

    rows = {row["case"]: row for row in json.loads(nextstat("cases", "--json", check=True).stdout)}
    for target in TARGETS:
        row = rows[f"gym:{target}"]
        assert row["jax_density"] and row["reference"].startswith("reference-draws")
        assert row["stan"] == target.startswith("BrownianMotion")  # its reference's Stan program


def test_brownian_motion_is_checked_against_a_long_stan_run_not_inference_gyms_ground_truth():
    """inference-gym's ground truth for this target is not the posterior of its model: the
    committed long CmdStan run of the same model (which our samplers and BlackJAX's agree
    with) sits a median 5 of the two standard errors from it, the observation noise 16."""
    from nextstat.cases.gym_targets import _ground_truth

    target = "BrownianMotionUnknownScalesMissingMiddleObservations"
    case = get_case(f"gym:{target}")
    assert case.reference is not None and case.reference.source.startswith("cmdstanpy NUTS")
    assert case.reference.var_sq is not None  # the paper's metric then uses the measured Var[x^2]
    truth = _ground_truth(
        target,
        "brownian_motion_unknown_scales_missing_middle_observations",
        [("innovation_noise_scale", 0), ("observation_noise_scale", 0), ("locs", 30)],
    )
    z = {
        n: (case.reference.mean[n] - truth.mean[n]) / np.hypot(case.reference.mcse[n], truth.mcse[n])
        for n in case.param_names
    }
    assert np.median(np.abs(list(z.values()))) > 3 and z["observation_noise_scale"] > 10
