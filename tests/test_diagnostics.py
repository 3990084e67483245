import numpy as np
import pytest

from nextstat.cases import Reference
from nextstat.diagnostics import agreement_z, correctness, correctness_z_limit, ebfmi, health_gate, parameter_summary


def test_iid_draws_have_rhat_one_and_full_ess():
    draws = np.random.default_rng(1).standard_normal((4, 1000, 3))
    summary = parameter_summary(draws, ("a", "b", "c"))
    for row in summary.values():
        assert row["rhat"] == pytest.approx(1.0, abs=0.01)
        assert 3000 < row["ess_bulk"] < 5500
        assert row["mcse"] == pytest.approx(row["sd"] / np.sqrt(row["ess_bulk"]), rel=0.15)


def test_chains_stuck_in_different_places_have_large_rhat():
    rng = np.random.default_rng(2)
    draws = rng.standard_normal((4, 500, 1)) + np.array([0.0, 0.0, 3.0, 3.0])[:, None, None]
    assert parameter_summary(draws, ("x",))["x"]["rhat"] > 1.5


def test_constant_parameter_gives_null_rhat_not_nan():
    draws = np.ones((2, 100, 1))
    assert parameter_summary(draws, ("k",))["k"]["rhat"] is None


def test_ebfmi_separates_fresh_from_sticky_energy():
    rng = np.random.default_rng(3)
    fresh = rng.standard_normal((2, 2000))
    sticky = np.cumsum(rng.standard_normal((2, 2000)) * 0.05, axis=1)
    assert np.all(ebfmi(fresh) > 1.5)  # iid energies: E-BFMI ~ 2
    assert np.all(ebfmi(sticky) < 0.2)


def _metrics(**overrides):
    base = {"max_rhat": 1.001, "divergences": 0, "min_ebfmi": 0.9, "min_ess_bulk": 800.0, "min_ess_tail": 700.0}
    return {**base, **overrides}


@pytest.mark.parametrize(
    "overrides, failing",
    [
        ({}, []),
        ({"max_rhat": 1.02}, ["max_rhat"]),
        ({"divergences": 1}, ["divergences"]),
        ({"min_ebfmi": 0.1}, ["min_ebfmi"]),
        ({"min_ess_tail": 399.0}, ["min_ess_tail"]),
        ({"max_rhat": None}, ["max_rhat"]),
    ],
)
def test_strict_nuts_gate(overrides, failing):
    gate = health_gate(_metrics(**overrides))
    assert [c["name"] for c in gate["checks"] if not c["passed"]] == failing
    assert gate["passed"] is (not failing)


def test_correctness_z_against_an_analytic_reference():
    reference = Reference("analytic", mean={"x": 0.0}, sd={"x": 1.0}, mcse={"x": 0.0})
    near = correctness({"x": {"mean": 0.05, "mcse": 0.02}}, reference)
    far = correctness({"x": {"mean": 0.5, "mcse": 0.02}}, reference)
    assert near["max_z"] == pytest.approx(2.5) and near["verdict"] == "pass"
    assert far["max_z"] == pytest.approx(25.0) and far["verdict"] == "fail"
    assert correctness({"x": {"mean": 0.0, "mcse": 0.1}}, None)["verdict"] == "no-reference"


def test_the_z_threshold_keeps_one_parameters_false_alarm_rate_at_any_dimension():
    """4 for one parameter; for m, the |z| a correct sampler's largest of m exceeds as rarely
    as one |z| exceeds 4 (independent errors): checked against 1 - (1 - P)^m directly."""
    from statistics import NormalDist

    one = 2 * NormalDist().cdf(-4.0)
    assert correctness_z_limit(1) == 4.0 and correctness_z_limit(0) == 4.0
    for m in (10, 100, 1000):
        limit = correctness_z_limit(m)
        family = 1 - (1 - 2 * NormalDist().cdf(-limit)) ** m
        assert family == pytest.approx(one, rel=1e-3) and limit > correctness_z_limit(m // 10)
    assert correctness_z_limit(1000) == pytest.approx(5.41, abs=0.01)
    # a run of 1,000 parameters with one |z| of 4.5: chance at that size, a failure at one parameter
    reference = Reference("analytic", mean={f"x{i}": 0.0 for i in range(1000)}, sd={}, mcse={})
    summary = {f"x{i}": {"mean": 0.0, "mcse": 0.1} for i in range(1000)} | {"x7": {"mean": 0.45, "mcse": 0.1}}
    wide = correctness(summary, reference)
    assert wide["verdict"] == "pass" and wide["max_z"] == pytest.approx(4.5) and wide["threshold"] > 5.4
    alone = correctness({"x7": summary["x7"]}, Reference("analytic", mean={"x7": 0.0}, sd={}, mcse={}))
    assert alone["verdict"] == "fail" and alone["threshold"] == 4.0


def test_agreement_z():
    assert agreement_z(1.0, 0.3, 1.5, 0.4) == pytest.approx(1.0)
    assert agreement_z(1.0, None, 1.0, 0.1) is None


def test_nested_rhat_against_a_hand_computation():
    from nextstat.diagnostics import nested_rhat

    draws = np.array(
        [
            [[0.0], [1.0], [2.0]],  # superchain 1, chain 1: mean 1, var 1
            [[2.0], [3.0], [4.0]],  # superchain 1, chain 2: mean 3, var 1
            [[1.0], [1.0], [4.0]],  # superchain 2, chain 1: mean 2, var 3
            [[5.0], [6.0], [7.0]],  # superchain 2, chain 2: mean 6, var 1
        ]
    )
    # B_1 = var(1, 3) = 2, W_1 = 1; B_2 = var(2, 6) = 8, W_2 = 2; superchain means 2 and 4
    # nB = var(2, 4) = 2; nW = ((2 + 1) + (8 + 2)) / 2 = 6.5
    expected = np.sqrt(1 + 2 / 6.5)
    np.testing.assert_allclose(nested_rhat(draws, 2), [expected])
    np.testing.assert_allclose(nested_rhat(draws[..., 0], 2), [expected])  # (chain, draw) works too
    with pytest.raises(ValueError, match="divide 4 chains"):
        nested_rhat(draws, 3)


def test_nested_rhat_is_near_one_at_stationarity():
    from nextstat.diagnostics import nested_rhat

    rng = np.random.default_rng(0)
    draws = rng.normal(size=(256, 50, 3))
    values = nested_rhat(draws, 16)
    # sqrt(1 + 1 / (M ESS_per_chain)) with M = 16 chains of 50 independent draws
    assert np.all(np.abs(values - np.sqrt(1 + 1 / (16 * 50))) < 0.01)
