"""The MAMS paper's metric: gradients per chain until the second moments are right."""

import numpy as np
import pytest

from nextstat.cases import Reference
from nextstat.moment_bias import chain_moment_bias

NAMES = ("a", "b")


def _reference(sd_b: float = 1.0, var_sq: dict | None = None) -> Reference:
    return Reference(
        kind="analytic", mean={"a": 0.0, "b": 0.0}, sd={"a": 1.0, "b": sd_b}, mcse={"a": 0.0, "b": 0.0}, var_sq=var_sq
    )


def _iid(chains=16, draws=2000, scale=(1.0, 1.0), seed=0):
    return np.random.default_rng(seed).standard_normal((chains, draws, 2)) * np.asarray(scale)


def test_independent_draws_settle_after_about_a_hundred_draws_and_warmup_adds():
    draws = _iid()
    bias = chain_moment_bias(draws, np.ones(draws.shape[:2]), _reference(), NAMES, warmup_grads_per_chain=500)
    assert bias is not None and bias["chains"] == 16 and bias["parameters"] == 2
    for name in ("b2_max", "b2_avg"):
        figure = bias[name]
        # b2 of one chain after t independent draws is about chi2_1 * Var[x^2] / t / Var[x^2] = chi2_1 / t:
        # its median over chains falls under 0.01 after some tens of draws, not after a few or a thousand
        assert 10 <= figure["grads_per_chain"] <= 400, figure
        assert figure["grads_per_chain_with_warmup"] == figure["grads_per_chain"] + 500
        assert figure["grads_per_chain_to_stay"] >= figure["grads_per_chain"]
        assert figure["final"] < 0.01
    assert bias["b2_avg"]["grads_per_chain"] <= bias["b2_max"]["grads_per_chain"]
    assert bias["variance_of_square"] == "gaussian from mean and sd"


def test_gradients_are_counted_per_draw_as_the_sampler_spent_them():
    draws = _iid()
    once = chain_moment_bias(draws, np.ones(draws.shape[:2]), _reference(), NAMES, 0)
    thrice = chain_moment_bias(draws, np.full(draws.shape[:2], 3.0), _reference(), NAMES, 0)
    assert once is not None and thrice is not None
    assert thrice["b2_max"]["grads_per_chain"] == 3 * once["b2_max"]["grads_per_chain"]


def test_a_biased_sampler_never_gets_there():
    draws = _iid(scale=(1.0, 1.5))  # b's variance 2.25 where the reference says 1: b2 of b -> 1.25^2 / 2
    bias = chain_moment_bias(draws, np.ones(draws.shape[:2]), _reference(), NAMES, 0)
    assert bias is not None
    assert bias["b2_max"]["grads_per_chain"] is None and bias["b2_max"]["grads_per_chain_to_stay"] is None
    assert bias["b2_max"]["final"] == pytest.approx(1.25**2 / 2, rel=0.15)
    assert bias["b2_avg"]["final"] == pytest.approx(1.25**2 / 4, rel=0.15)


def test_var_sq_from_the_reference_scales_b2_where_it_has_one():
    draws = _iid()
    measured = chain_moment_bias(draws, np.ones(draws.shape[:2]), _reference(var_sq={"a": 8.0, "b": 8.0}), NAMES, 0)
    gaussian = chain_moment_bias(draws, np.ones(draws.shape[:2]), _reference(), NAMES, 0)
    assert measured is not None and gaussian is not None
    assert measured["variance_of_square"] == "reference draws"
    assert measured["b2_max"]["final"] == pytest.approx(gaussian["b2_max"]["final"] / 4)


def test_parameters_the_reference_lacks_are_left_out_and_none_covered_gives_none():
    draws = _iid()
    ref = Reference(kind="analytic", mean={"a": 0.0}, sd={"a": 1.0}, mcse={"a": 0.0})
    bias = chain_moment_bias(draws, np.ones(draws.shape[:2]), ref, NAMES, 0)
    assert bias is not None and bias["parameters"] == 1
    assert chain_moment_bias(draws, np.ones(draws.shape[:2]), ref, ("x", "y"), 0) is None
    assert chain_moment_bias(draws, np.ones(draws.shape[:2]), None, NAMES, 0) is None


def test_shapes_that_do_not_match_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        chain_moment_bias(_iid(), np.ones((3, 5)), _reference(), NAMES, 0)
