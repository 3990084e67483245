"""The logistic regression of any size: the same data bits on every machine, its density,
its limits, and its committed references at the scaling suite's sizes."""

import numpy as np
import pytest

from nextstat.cases import CaseError, get_case, is_builtin
from nextstat.sizes import family_and_size


@pytest.fixture(autouse=True)
def float64():
    import jax

    jax.config.update("jax_enable_x64", True)


def test_the_data_are_the_same_bits_on_every_machine():
    """Integers only (numpy's Generator streams are fixed across platforms), so the dataset
    hash is a constant; this one was recorded on an Intel Xeon. A float product anywhere in
    the generator (BLAS, exp) would make it differ on some CPU."""
    case = get_case("logistic_n50_d3")
    assert case.dataset_sha256 == "39d049f65d28432227f80a0c19cdbd630c0a6b8e8b5c809fb666ed7add52c553"
    X = np.asarray(case.data["X"])
    assert X.shape == (50, 3) and np.all(np.abs(X) <= 1.0)
    assert np.allclose(X * 1000, np.round(X * 1000))  # on the 0.001 grid


@pytest.mark.parametrize("d", [2, 10, 100, 1000])
def test_outcomes_stay_mixed_at_every_size(d):
    """The latent signal is scaled by isqrt(d): neither all ones nor all zeros at any size."""
    y = np.asarray(get_case(f"logistic_n1000_d{d}").data["y"])
    assert 0.35 < y.mean() < 0.65


def test_the_density_is_the_logistic_posterior_of_its_data():
    case = get_case("logistic_n200_d5")
    X, y = np.asarray(case.data["X"]), np.asarray(case.data["y"])
    beta = np.random.default_rng(1).normal(size=5)
    eta = X @ beta
    expected = np.sum(y * eta - np.logaddexp(0.0, eta)) - 0.5 * beta @ beta
    assert float(case.log_density(beta)) == pytest.approx(expected, rel=1e-12)
    assert case.stan_data is not None and case.stan_data["P"] == 5 and len(case.stan_data["X"]) == 200


def test_a_member_is_a_sized_case_swept_over_d():
    assert is_builtin("logistic_n1000_d100")
    assert family_and_size("logistic_n1000_d100") == ("logistic_n1000_d<d>", 100)


def test_a_size_too_large_to_hold_is_refused_naming_the_case():
    with pytest.raises(CaseError, match=r"logistic_n100000_d1000': .*past the 50,000,000"):
        get_case("logistic_n100000_d1000")


def test_a_size_without_a_committed_reference_runs_without_one():
    assert get_case("logistic_n300_d7").reference is None
