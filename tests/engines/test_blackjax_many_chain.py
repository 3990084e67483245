"""BlackJAX's many-chain baselines: MAMS (dynamic and static kernels) and LAPS (shipped
and fixed step-size bisection), run as the engines run them."""

import numpy as np
import pytest

from nextstat.engines import Budget, load_engine, resolve_settings


def _blackjax_mams(kernel: str, budget: Budget):
    from nextstat.cases import get_case

    case = get_case("std_normal_d10")
    settings = resolve_settings(
        {"chain_method": "vectorized", "target_accept": 0.9, "report_chains": 64, "kernel": kernel}, "blackjax_mams"
    )
    engine = load_engine("blackjax_mams")
    return case, engine.run(case, settings, budget, 2).check(budget, engine.stat_names)


def test_blackjax_mams_static_baseline_runs_as_published():
    from nextstat.diagnostics import correctness, parameter_summary

    case, result = _blackjax_mams("static", Budget(256, 300, 300))
    info = result.engine_info
    # BlackJAX's shipped tuner pins L to about 2 eps: two McLachlan steps, four gradients per draw
    assert info["tuning_target_num_integration_steps"] == 2.0
    assert info["integration_steps"] == round(info["trajectory_length"] / info["step_size"]) == 2
    assert np.all(result.sample_stats["n_steps"] == 4)
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]


def test_blackjax_mams_dynamic_kernel_tunes_every_chain_and_draws_shared_random_lengths():
    """The authors' recommendation: every chain tuned, ceil(U * rescale(L/eps)) steps per
    iteration (mean L/eps = 2 under the tuner's pin), one U for all chains so they stay in
    lockstep; every gradient counted."""
    from nextstat.diagnostics import correctness, parameter_summary

    budget = Budget(256, 300, 300)
    case, result = _blackjax_mams("dynamic", budget)
    info = result.engine_info
    n_steps = result.sample_stats["n_steps"]
    assert info["integration_steps_shared_by_chains"] and np.all(n_steps == n_steps[:1])
    assert set(np.unique(n_steps)) == {2, 4, 6}  # 1, 2 or 3 McLachlan steps
    assert info["integration_steps_per_draw_mean"] == pytest.approx(2.0, abs=0.15)
    assert result.grad_evals_sampling == n_steps.sum()
    assert result.grad_evals_warmup == 64 * 2 * info["tuning_integrator_steps_median"]
    steps = result.sample_stats["step_size"]
    assert np.all(steps == steps[:, :1]) and np.unique(steps[:, 0]).size > 1  # per chain, constant over draws
    trace = result.ensemble_trace
    assert trace["grads_per_chain"].sum() == pytest.approx((result.grad_evals_warmup + result.grad_evals_sampling) / 64)
    # every chain is tuned, so the trace starts at the first tuning iteration (replayed with the same keys)
    tuning = len(trace["grads_per_chain"]) - budget.draws
    assert tuning >= budget.warmup and trace["moments"].shape == (tuning + budget.draws, 20)
    assert info["tuning_replay_step_size_max_rel_diff"] == 0.0
    assert trace["grads_per_chain"][:tuning].sum() == pytest.approx(2 * info["tuning_integrator_steps_median"])
    b2 = np.max((trace["moments"][:, 10:] - 1.0) ** 2 / 2.0, axis=1)  # the U(-2, 2) start is far from N(0, 1)...
    assert b2[0] > 0.01 and b2[tuning - 1] < b2[0] / 4  # ...and the tuning brings the ensemble in
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]


def test_blackjax_laps_baseline_runs_laps_then_samples_with_its_kernel():
    from nextstat.cases import get_case
    from nextstat.diagnostics import correctness, parameter_summary

    case = get_case("std_normal_d10")
    budget = Budget(256, 300, 300)
    settings = resolve_settings(
        {"chain_method": "vectorized", "target_accept": 0.7, "report_chains": 64}, "blackjax_laps"
    )
    result = (
        load_engine("blackjax_laps")
        .run(case, settings, budget, 2)
        .check(budget, load_engine("blackjax_laps").stat_names)
    )
    info = result.engine_info
    assert info["num_steps1"] == 300 and info["num_steps2"] == 600 and info["acc_prob"] == 0.7
    # 15 McLachlan steps (30 gradients) per draw, as laps() builds its adjusted kernel
    assert np.all(result.sample_stats["n_steps"] == 30) and info["steps_per_sample"] == 15
    assert info["phase2_samples"] == 600 // 30
    assert info["bisection"] == "shipped" and info["early_stop"] is True and info["r_end"] == 0.01
    assert result.grad_evals_warmup == 64 * (1 + info["phase1_steps_run"] + 30 * info["phase2_samples"])
    assert result.compile_s > 0 and result.warmup_s > 0  # laps() compiles eagerly: timed apart by JAX's events
    # its ensemble trace covers both phases of laps() and the draws, and counts every gradient per chain
    trace = result.ensemble_trace
    assert trace["moments"].shape == (info["phase1_steps_run"] + info["phase2_samples"] + 300, 20)
    assert trace["grads_per_chain"].sum() == (result.grad_evals_warmup + result.grad_evals_sampling) / 64
    verdict = correctness(parameter_summary(result.draws, result.param_names), case.reference)
    assert verdict["verdict"] == "pass", verdict["max_z"]


def test_blackjax_laps_step_size_is_where_its_bisection_ends():
    """Replaying BlackJAX's bisection over a phase-2 history: as shipped it stops on the
    iteration whose acceptance met the tolerance, but freezes the step it computed after
    it; the fixed bisection keeps the step that met it."""
    from nextstat.engines.blackjax_laps import bisected_step_size

    history = {"step_size": [1.0247, 2.0495, 4.0990, 4.0990], "acc_prob": [0.977, 0.701, 0.059, 0.060]}
    step, stopped = bisected_step_size(history, 0.7, "shipped")
    assert stopped and step == pytest.approx(4.0990, rel=1e-3)
    fixed = {"step_size": [1.0247, 2.0495, 2.0495], "acc_prob": [0.977, 0.701, 0.702]}
    step, stopped = bisected_step_size(fixed, 0.7, "fixed")
    assert stopped and step == pytest.approx(2.0495, rel=1e-6)
    running = {"step_size": [1.0, 2.0, 4.0], "acc_prob": [0.95, 0.85, 0.2]}  # bracketed, not yet stopped
    for variant in ("shipped", "fixed"):
        step, stopped = bisected_step_size(running, 0.7, variant)
        assert not stopped and step == pytest.approx((2.0 * 4.0) ** 0.5)  # the midpoint in log step size
