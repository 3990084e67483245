"""Our NUTS: tree building against Stan's recursion, U-turn checks, progressive joins,
Stan's warmup pieces, determinism, and moments on targets with known answers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nextstat.samplers import nuts
from nextstat.samplers.integrators import PhasePoint, leapfrog
from nextstat.samplers.metrics import euclidean
from nextstat.samplers.stan_warmup import (
    Welford,
    dual_averaging_init,
    dual_averaging_update,
    find_reasonable_step_size,
    regularized_metric,
    slow_windows,
    welford_add,
    welford_init,
    window_schedule,
)

jax.config.update("jax_enable_x64", True)

# A correlated, non-Gaussian target so that trees turn at different depths.
COV = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 2.0]])
PREC = np.linalg.inv(COV)


def banana(x):
    return -0.5 * x @ PREC @ x - 0.1 * (x[1] - 0.5 * x[0] ** 2) ** 2


# ------------------------------------------------------------------ Stan's build_tree, transcribed
def stan_build_tree(depth, z, h0, sign, eps, inv_metric, step, out):
    """base_nuts.hpp's recursive build_tree, literally (no sampling: we compare the
    deterministic parts: validity, leaves, weights, momentum sums, acceptance sums)."""
    if depth == 0:
        z = step(z, sign * eps, inv_metric)
        out["n_leapfrog"] += 1
        h = float(-z.logdensity + 0.5 * np.dot(z.momentum, inv_metric * z.momentum))
        h = math.inf if math.isnan(h) else h
        divergent = h - h0 > 1000
        out["divergent"] |= divergent
        out["sum_metro_prob"] += 1.0 if h0 - h > 0 else math.exp(h0 - h)
        p = np.asarray(z.momentum)
        return (
            not divergent,
            z,
            p,
            p,
            np.asarray(inv_metric * z.momentum),
            np.asarray(inv_metric * z.momentum),
            np.logaddexp(-np.inf, h0 - h),
        )
    valid_left, z, rho_left, p_beg, p_sharp_beg, p_sharp_left, lw_left = stan_build_tree(
        depth - 1, z, h0, sign, eps, inv_metric, step, out
    )
    p_left = np.asarray(z.momentum)
    if not valid_left:
        return False, z, None, None, None, None, None
    valid_right, z, rho_right, p_right, p_sharp_right, p_sharp_end, lw_right = stan_build_tree(
        depth - 1, z, h0, sign, eps, inv_metric, step, out
    )
    if not valid_right:
        return False, z, None, None, None, None, None
    rho = rho_left + rho_right
    crit = lambda a, b, r: np.dot(a, r) > 0 and np.dot(b, r) > 0  # noqa: E731
    persist = crit(p_sharp_beg, p_sharp_end, rho)
    persist &= crit(p_sharp_beg, p_sharp_right, rho_left + p_right)
    persist &= crit(p_sharp_left, p_sharp_end, rho_right + p_left)
    return persist, z, rho, p_beg, p_sharp_beg, p_sharp_end, np.logaddexp(lw_left, lw_right)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_iterative_subtree_matches_stans_recursion(depth, direction):
    """Validity, number of leaves, weights, momentum sum and acceptance sum all agree with a
    literal transcription of Stan's recursive build_tree, over many random starts."""
    step = leapfrog(jax.value_and_grad(banana), euclidean.velocity)
    inv_metric = jnp.array([1.0, 0.7, 1.5])
    builder = nuts.subtree_builder(banana, max_tree_depth=8)
    build = jax.jit(
        lambda start, eps, inv, depth, direction, h0: builder(
            jnp.uint32(7), start, inv * start.momentum, depth, direction, eps, inv, h0
        )
    )
    rng = np.random.default_rng(depth)
    disagreements = 0
    outcomes = set()
    for _ in range(25):
        q = rng.normal(size=3)
        p = rng.normal(size=3)
        logdensity, grad = jax.value_and_grad(banana)(jnp.asarray(q))
        start = PhasePoint(jnp.asarray(q), jnp.asarray(p), logdensity, grad)
        h0 = float(-logdensity + 0.5 * np.dot(p, inv_metric * p))
        eps = float(rng.uniform(0.5, 4.0)) / 2**depth  # trajectory lengths on both sides of a U-turn
        out = {"n_leapfrog": 0, "divergent": False, "sum_metro_prob": 0.0}
        valid, _, rho, *_, log_weight = stan_build_tree(depth, start, h0, direction, eps, inv_metric, step, out)
        sub = build(start, eps, inv_metric, depth, direction, h0)
        outcomes.add(valid)
        ours_valid = not (bool(sub.turning) or bool(sub.divergent))
        disagreements += ours_valid != valid
        assert int(sub.n_leaves) == out["n_leapfrog"]
        assert float(sub.sum_metro_prob) == pytest.approx(out["sum_metro_prob"], rel=1e-12)
        if valid:
            np.testing.assert_allclose(np.asarray(sub.rho), rho, rtol=1e-12, atol=1e-12)
            assert float(sub.log_weight) == pytest.approx(log_weight, rel=1e-12)
    assert disagreements == 0
    if depth >= 3:
        assert outcomes == {True, False}  # both kinds of subtree were exercised


def test_no_u_turn_criterion_by_hand():
    rho = jnp.array([1.0, 0.0])
    assert nuts.no_u_turn(jnp.array([1.0, 1.0]), jnp.array([0.5, -3.0]), rho)
    assert not nuts.no_u_turn(jnp.array([-0.1, 1.0]), jnp.array([1.0, 0.0]), rho)  # minus end turned back
    assert not nuts.no_u_turn(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), rho)  # orthogonal is not > 0


def test_progressive_join_replaces_at_equal_weights():
    assert float(nuts.join_probability(0.3, 0.3, "progressive")) == 1.0
    assert float(nuts.join_probability(0.3, 0.3, "multinomial")) == pytest.approx(0.5)
    assert float(nuts.join_probability(0.0, math.log(0.25), "progressive")) == pytest.approx(0.25)
    assert float(nuts.join_probability(0.0, math.log(3.0), "progressive")) == 1.0


def test_stan_window_schedule_for_1000_iterations():
    assert slow_windows(1000) == [(75, 99), (100, 149), (150, 249), (250, 449), (450, 949)]
    in_window, window_end = window_schedule(1000)
    assert in_window.sum() == 875 and window_end.sum() == 5


def test_window_schedule_falls_back_to_fractions_when_buffers_do_not_fit():
    # 75 + 25 + 50 > 100: 15% initial buffer, 10% terminal buffer, one window of 75
    assert slow_windows(100) == [(15, 89)]
    assert slow_windows(150) == [(75, 99)]  # exactly fits: one window
    assert slow_windows(10) == []


def test_dual_averaging_by_hand():
    da = dual_averaging_init(1.0)
    assert float(da.mu) == pytest.approx(math.log(10.0))
    da, eps = dual_averaging_update(da, 0.8, delta=0.8)  # on target: s_bar stays 0, x = mu
    assert float(eps) == pytest.approx(10.0)
    da, eps = dual_averaging_update(da, 0.3, delta=0.8)  # counter 2: eta = 1/12
    s_bar = (1 / 12) * 0.5
    x = math.log(10.0) - s_bar * math.sqrt(2) / 0.05
    assert float(eps) == pytest.approx(math.exp(x))
    x_bar_1 = math.log(10.0)  # counter 1: weight 1^-0.75 = 1
    assert float(da.x_bar) == pytest.approx((1 - 2**-0.75) * x_bar_1 + 2**-0.75 * x)
    _, eps = dual_averaging_update(da, 1.7, delta=0.8)  # acceptance statistics above 1 count as 1
    _, eps_one = dual_averaging_update(da, 1.0, delta=0.8)
    assert float(eps) == float(eps_one)
    # a ceiling caps the proposed step before it is averaged (nutpie's schedule: pi)
    capped, eps = dual_averaging_update(dual_averaging_init(1.0), 0.8, delta=0.8, ceiling=math.pi)
    assert float(eps) == pytest.approx(math.pi) and float(capped.x_bar) == pytest.approx(math.log(math.pi))


@pytest.mark.parametrize("step_size", [0.1, 0.9, 1.7])
def test_one_leaf_acceptance_statistics_by_hand(step_size):
    """A tree of one leaf: Stan's statistic is min(1, exp(H0 - H)) and nuts-rs's symmetric
    one 2 exp(min(0, dH)) / (1 + exp(dH)), dH = H0 - H, for that leaf's energy."""
    kernel = nuts.build_kernel(banana, max_tree_depth=1)
    position, inverse_metric, key = jnp.array([0.7, -0.4, 1.1]), jnp.ones(3), jax.random.key(5)
    state = nuts.init(position, banana)
    _, info = kernel(key, state, step_size, inverse_metric)
    p0, _ = nuts.momentum_and_seed(key, inverse_metric, position)
    h0 = -state.logdensity + euclidean.kinetic_energy(inverse_metric, p0)
    step = leapfrog(jax.value_and_grad(banana), euclidean.velocity)
    start = PhasePoint(position, p0, state.logdensity, state.logdensity_grad)
    by_hand = []
    for direction in (1.0, -1.0):  # the kernel picks the direction at random
        leaf = step(start, direction * step_size, inverse_metric)
        dh = float(h0 - (-leaf.logdensity + euclidean.kinetic_energy(inverse_metric, leaf.momentum)))
        by_hand.append((min(1.0, math.exp(dh)), 2.0 * math.exp(min(0.0, dh)) / (1.0 + math.exp(dh))))
    got = (float(info.accept_stat), float(info.accept_stat_symmetric))
    assert any(np.allclose(got, pair, rtol=1e-12) for pair in by_hand), (got, by_hand)


def test_metric_regularization_by_hand():
    draws = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 13.0], [4.0, 11.0], [5.0, 16.0]])
    w = welford_init(2, False, jnp.float64)
    for x in draws:
        w = welford_add(w, jnp.asarray(x))
    var = draws.var(axis=0, ddof=1)
    expected = (5 / 10) * var + 1e-3 * (5 / 10)
    np.testing.assert_allclose(np.asarray(regularized_metric(w)), expected, rtol=1e-12)
    dense = welford_init(2, True, jnp.float64)
    for x in draws:
        dense = welford_add(dense, jnp.asarray(x))
    np.testing.assert_allclose(
        np.asarray(regularized_metric(dense)), 0.5 * np.cov(draws.T) + 5e-4 * np.eye(2), rtol=1e-12
    )
    assert isinstance(w, Welford)


def test_step_size_heuristic_brackets_acceptance_of_0_8():
    state = nuts.init(jnp.zeros(2), lambda x: -0.5 * jnp.sum(x**2) * 100.0)  # sd 0.1: eps must shrink a lot
    eps = float(
        find_reasonable_step_size(jax.random.key(1), state, 1.0, jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2) * 100.0)
    )
    assert eps < 0.5 and math.log2(eps) == int(math.log2(eps))  # a power of two below 1


def _sample(log_density, dim, seed, chains=2, warmup=400, draws=1000):
    from nextstat.cases import Case
    from nextstat.engines import Budget, load_engine, resolve_settings

    case = Case(
        name="t",
        family="t",
        parameterization="none",
        description="",
        unconstrained_names=tuple(f"x[{i}]" for i in range(1, dim + 1)),
        param_names=tuple(f"x[{i}]" for i in range(1, dim + 1)),
        log_density=log_density,
        constrain=lambda x: np.asarray(x, float),
    )
    return load_engine("nextstat_nuts").run(
        case, resolve_settings({}, "nextstat_nuts"), Budget(chains, warmup, draws), seed
    )


@pytest.mark.parametrize("dim", [10, 50])
def test_standard_normal_moments(dim):
    from nextstat.diagnostics import parameter_summary

    result = _sample(lambda x: -0.5 * jnp.sum(x**2), dim, seed=11)
    summary = parameter_summary(result.draws, result.param_names)
    z = [abs(row["mean"]) / row["mcse"] for row in summary.values()]
    assert max(z) < 4.5  # max over up to 50 parameters of |z|
    assert all(abs(row["sd"] - 1) < 0.1 for row in summary.values())
    assert all(row["rhat"] < 1.02 for row in summary.values())
    assert not result.sample_stats["diverging"].any()
    assert result.grad_evals_sampling == int(result.sample_stats["n_steps"].sum())


def test_eight_schools_matches_its_reference():
    from nextstat.cases import get_case
    from nextstat.diagnostics import correctness, parameter_summary
    from nextstat.engines import Budget, load_engine, resolve_settings

    case = get_case("eight_schools")
    result = load_engine("nextstat_nuts").run(
        case, resolve_settings({"target_accept": 0.95}, "nextstat_nuts"), Budget(4, 500, 1000), 5
    )
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict


def test_same_seed_same_draws():
    a = _sample(banana, 3, seed=3, chains=1, warmup=100, draws=100)
    b = _sample(banana, 3, seed=3, chains=1, warmup=100, draws=100)
    c = _sample(banana, 3, seed=4, chains=1, warmup=100, draws=100)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert not np.array_equal(a.draws, c.draws)


@pytest.mark.stan
def test_tree_sizes_match_stan_at_a_fixed_step_size():
    """Same target, same step size, unit metric, no adaptation: our trees must have the
    size distribution of Stan's. (A top-level U-turn check that read the wrong leaf made
    ours 7% shorter; this is the test that caught it.)"""
    import contextlib
    import os

    from nextstat.cases import get_case
    from nextstat.engines.stan_common import pystan_build

    case = get_case("neal_funnel_ncp_10d")
    n = 20000
    init = np.full(case.dim, 0.1)
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        posterior = pystan_build(case.stan_code, case.stan_data, random_seed=5)
        # num_warmup=0: Stan leaves eps at exp(x_bar) = 1 with a unit metric
        fit = posterior.sample(num_chains=1, num_warmup=0, num_samples=n, init=[case.stan_init(init)])
    columns = list(fit.sample_and_sampler_param_names)
    table = np.asarray(fit._draws)
    step_size = float(table[columns.index("stepsize__"), 0, 0])
    stan_steps = table[columns.index("n_leapfrog__"), :, 0]
    kernel = nuts.build_kernel(case.log_density)

    def run(key, state):
        def one(state, draw_key):
            state, info = kernel(draw_key, state, step_size, jnp.ones(case.dim))
            return state, info.n_leapfrog

        return jax.lax.scan(one, state, jax.random.split(key, n))[1]

    ours = np.asarray(jax.jit(run)(jax.random.key(5), nuts.init(jnp.asarray(init), case.log_density)))
    # batch means for the Monte Carlo error: tree sizes are autocorrelated along a chain
    se = np.hypot(*(np.std(x.reshape(100, -1).mean(axis=1), ddof=1) / 10 for x in (stan_steps, ours)))
    assert abs(ours.mean() - stan_steps.mean()) < 4 * se, (ours.mean(), stan_steps.mean(), se)


def test_momentum_draws_are_standard_normal_scaled_by_the_metric():
    from scipy import stats

    keys = jax.random.split(jax.random.key(0), 20000)
    inverse_metric = jnp.array([1.0, 4.0])  # p ~ N(0, M), M = diag(1, 1/4)
    p = np.asarray(jax.vmap(lambda k: nuts.momentum_and_seed(k, inverse_metric, jnp.zeros(2))[0])(keys))
    assert stats.kstest(p[:, 0], "norm").pvalue > 1e-3
    assert stats.kstest(p[:, 1] * 2.0, "norm").pvalue > 1e-3
    seeds = np.asarray(jax.vmap(lambda k: nuts.momentum_and_seed(k, inverse_metric, jnp.zeros(2))[1])(keys))
    assert len(np.unique(seeds)) > 19990  # one fresh 32-bit seed per transition


def test_counter_uniforms_are_uniform_and_seed_dependent():
    from scipy import stats

    counters = jnp.arange(100000)
    u = np.asarray(jax.vmap(lambda i: nuts.uniform_from_counter(jnp.uint32(12345), i))(counters))
    v = np.asarray(jax.vmap(lambda i: nuts.uniform_from_counter(jnp.uint32(12346), i))(counters))
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02  # neighbouring counters uncorrelated
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.02  # neighbouring seeds uncorrelated
