import numpy as np
import pytest

from nextstat.cases import BUILTIN_CASES, CaseError, get_case
from nextstat.cases.base import group_indexed
from nextstat.cases.glm_logistic import simulate

REPO_EXAMPLE = "examples/my_regression.py"


@pytest.fixture(autouse=True)
def float64():
    """The densities are compared in float64, as every engine runs them; without this the
    module passed only after another module had switched JAX to 64 bits."""
    import jax

    jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("name", list(BUILTIN_CASES))
def test_builtin_case_contract(name):
    import jax

    case = get_case(name)
    assert case.dim == len(case.unconstrained_names) == len(case.param_names)
    x = np.random.default_rng(0).uniform(-2, 2, size=(5, case.dim))
    values = np.array([float(case.log_density(xi)) for xi in x])
    grads = np.array([np.asarray(jax.grad(case.log_density)(xi)) for xi in x])
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(grads))
    assert case.constrain(x).shape == (5, len(case.param_names))
    assert len(case.dataset_sha256) == 64
    assert case.stan_code and case.stan_data is not None


def test_dataset_hash_is_stable_and_data_deterministic():
    first, second = simulate(200, 6), simulate(200, 6)
    assert first == second
    assert get_case("glm_logistic_n200_p6").dataset_sha256 == get_case("glm_logistic_n200_p6").dataset_sha256
    y = np.asarray(first["y"])
    assert 0.2 < y.mean() < 0.8  # both classes present: the posterior is proper and informative


def test_eight_schools_density_matches_a_hand_computation():
    from scipy import stats

    case = get_case("eight_schools")
    x = np.array([1.0, 0.3, *np.linspace(-1, 1, 8)])
    mu, tau, theta_tilde = x[0], np.exp(x[1]), x[2:]
    y = np.array([28, 8, -3, 7, -1, 1, 18, 12.0])
    sigma = np.array([15, 10, 16, 11, 9, 11, 10, 18.0])
    expected = (
        stats.norm.logpdf(mu, 0, 5)
        + stats.halfcauchy.logpdf(tau, 0, 5)
        + stats.norm.logpdf(theta_tilde).sum()
        + stats.norm.logpdf(y, mu + tau * theta_tilde, sigma).sum()
        + x[1]
    )
    other = x + 0.1
    expected_other = (
        stats.norm.logpdf(other[0], 0, 5)
        + stats.halfcauchy.logpdf(np.exp(other[1]), 0, 5)
        + stats.norm.logpdf(other[2:]).sum()
        + stats.norm.logpdf(y, other[0] + np.exp(other[1]) * other[2:], sigma).sum()
        + other[1]
    )
    # equal up to one additive constant
    got = float(case.log_density(x)) - float(case.log_density(other))
    assert got == pytest.approx(expected - expected_other, rel=1e-10)
    assert case.constrain(x)[1] == pytest.approx(tau)


def test_stan_init_groups_indexed_parameters():
    assert group_indexed(("mu", "theta[1]", "theta[2]"), np.array([1.0, 2.0, 3.0])) == {"mu": 1.0, "theta": [2.0, 3.0]}


def test_user_case_from_a_python_file():
    case = get_case(f"{REPO_EXAMPLE}:my_regression")
    assert case.name == "my_regression" and case.dim == 3
    assert case.source == f"{REPO_EXAMPLE}:my_regression"
    assert np.isfinite(float(case.log_density(np.zeros(3))))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_such_case", "unknown case 'no_such_case'"),
        ("missing/file.py:thing", "case file 'missing/file.py' does not exist"),
        (f"{REPO_EXAMPLE}:nothing_here", "defines no 'nothing_here'"),
        (f"{REPO_EXAMPLE}:N", "is a int, expected a nextstat Case"),
    ],
)
def test_bad_case_specs_name_what_is_wrong(spec, message):
    with pytest.raises(CaseError, match=message):
        get_case(spec)


def test_funnel_densities_match_their_definitions():
    centered, ncp = get_case("neal_funnel_10d"), get_case("neal_funnel_ncp_10d")
    assert centered.is_control and not ncp.is_control
    theta = np.linspace(-1.5, 1.5, 10)
    v, rest = theta[0], theta[1:]
    assert float(centered.log_density(theta)) == pytest.approx(
        -(v**2) / 18 - 0.5 * np.exp(-v) * np.sum(rest**2) - 0.5 * 9 * v, rel=1e-12
    )
    assert float(ncp.log_density(theta)) == pytest.approx(-(v**2) / 18 - 0.5 * np.sum(rest**2), rel=1e-12)
    assert centered.reference.sd["v"] == 3.0 and centered.reference.sd["x[1]"] == pytest.approx(np.exp(2.25))


def test_hierarchical_case_has_the_documented_structure():
    case = get_case("hier_logistic_ri")
    assert case.param_names[:3] == ("mu_alpha", "beta", "sigma_alpha") and case.dim == 23
    assert len(set(case.data["group"])) == 20 and case.data["N"] == 400
    assert case.constrain(np.zeros(23))[2] == 1.0  # sigma = exp(0)


def test_a_stale_reference_is_an_error_not_a_silent_mismatch():
    import json
    from dataclasses import replace

    from nextstat.cases.references import load_reference, reference_path

    case = get_case("eight_schools")
    doc = json.loads(reference_path("eight_schools").read_text())
    assert load_reference(doc, case).kind == "reference-draws"
    changed = replace(case, data={**case.data, "y": [0.0] * 8})
    with pytest.raises(ValueError, match="remake it with `nextstat reference --case eight_schools`"):
        load_reference(doc, changed)


def test_references_from_draws_keep_the_variance_of_each_square():
    """The many-chain convergence statistic's scale: eight schools' tau is skewed, so its
    Var[tau^2] is well above what a Gaussian with its mean and sd would have."""
    reference = get_case("eight_schools").reference
    assert reference.var_sq is not None and set(reference.var_sq) == set(reference.mean)
    mean, sd = reference.mean["tau"], reference.sd["tau"]
    assert reference.var_sq["tau"] > 2.0 * (2 * sd**4 + 4 * mean**2 * sd**2)
    mean, sd = reference.mean["mu"], reference.sd["mu"]  # mu is close to Gaussian
    assert abs(reference.var_sq["mu"] / (2 * sd**4 + 4 * mean**2 * sd**2) - 1) < 0.15
    assert get_case("std_normal_d10").reference.var_sq is None  # analytic: the Gaussian form is exact


def _exact_draws(name: str, n: int, rng) -> np.ndarray:
    """Independent draws from each paper target, by its generative definition."""
    if name == "banana_d2":
        x1 = 10 * rng.standard_normal(n)
        return np.stack([x1, 0.03 * (x1**2 - 100) + rng.standard_normal(n)], axis=1)
    if name == "rosenbrock_d36":
        x = 1 + rng.standard_normal((n, 18))
        return np.concatenate([x, x**2 + np.sqrt(0.1) * rng.standard_normal((n, 18))], axis=1)
    if name == "gaussian_kappa100_d100":
        sd = np.array(list(get_case(name).reference.sd.values()))
        return sd * rng.standard_normal((n, 100))
    v = 3 * rng.standard_normal(n)  # neal_funnel_20d
    return np.concatenate([v[:, None], np.exp(v / 2)[:, None] * rng.standard_normal((n, 19))], axis=1)


@pytest.mark.parametrize("name", ["banana_d2", "rosenbrock_d36", "gaussian_kappa100_d100", "neal_funnel_20d"])
def test_paper_targets_exact_moments_match_their_own_draws(name):
    """Mean, sd and Var[x^2] of the MAMS paper's targets, written out by hand, against a million
    independent draws; and each density is the draws' (its score has mean zero under them)."""
    import jax

    case = get_case(name)
    ref = case.reference
    assert ref.var_sq is not None and case.dim == len(ref.var_sq)
    rng = np.random.default_rng(7)
    draws = _exact_draws(name, 1_000_000, rng)
    names = case.param_names
    sd = np.array([ref.sd[n] for n in names])
    mean = np.array([ref.mean[n] for n in names])
    var_sq = np.array([ref.var_sq[n] for n in names])
    # a million draws: means within 5 standard errors, sd and Var[x^2] within 3% (the funnel's
    # x^2 has a heavy tail, so its Var[x^2] is checked on v only, its x by sd within 10%)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * sd / 1000)
    funnel = name == "neal_funnel_20d"
    np.testing.assert_allclose(draws.std(axis=0)[: 1 if funnel else None], sd[: 1 if funnel else None], rtol=0.03)
    if funnel:
        np.testing.assert_allclose(np.median(draws.std(axis=0)[1:]), sd[1], rtol=0.10)
    measured = (draws[:, : 1 if funnel else None] ** 2).var(axis=0)
    np.testing.assert_allclose(measured, var_sq[: 1 if funnel else None], rtol=0.05)
    score = jax.vmap(jax.grad(case.log_density))(draws[:20_000])
    assert np.all(np.abs(np.asarray(score).mean(axis=0)) < 6 * np.asarray(score).std(axis=0) / np.sqrt(20_000))


@pytest.mark.parametrize(
    "name, dim",
    [("std_normal_d1000", 1000), ("gaussian_kappa1000_d20", 20), ("neal_funnel_ncp_50d", 50), ("neal_funnel_3d", 3),
     ("rosenbrock_d4", 4), ("std_normal_d10", 10)],
)  # fmt: skip
def test_a_sized_family_builds_any_size_with_its_analytic_reference(name, dim):
    from nextstat.cases import is_builtin

    case = get_case(name)
    assert case.name == name and case.dim == dim and is_builtin(name)
    assert case.reference is not None and case.reference.kind == "analytic" and len(case.reference.mean) == dim
    x = np.zeros(dim)
    assert np.isfinite(float(case.log_density(x)))


@pytest.mark.parametrize("name", ["std_normal_d010", "rosenbrock_d5", "std_normal_d0", "neal_funnel_ncp_d5"])
def test_a_name_outside_the_sized_families_is_an_unknown_case(name):
    with pytest.raises(CaseError, match="unknown case"):
        get_case(name)


def test_a_size_past_the_limit_is_refused_before_anything_is_allocated():
    with pytest.raises(CaseError, match="sizes must be between 2 and 1,000,000"):
        get_case("std_normal_d2000000")


def test_every_sized_family_the_report_reads_is_one_the_registry_builds():
    from nextstat.cases import SIZED_FAMILIES
    from nextstat.sizes import SIZE_PATTERNS, family_and_size

    assert set(SIZED_FAMILIES) == set(SIZE_PATTERNS)
    assert family_and_size("gaussian_kappa100_d50") == ("gaussian_kappa100_d<d>", 50)
    assert family_and_size("neal_funnel_ncp_10d") == ("neal_funnel_ncp_<d>d", 10)
    assert family_and_size("eight_schools") is None
