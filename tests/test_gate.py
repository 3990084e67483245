"""The regression gate: a real degraded sampler fails it, an unchanged one passes, wall
times gate only within one environment, and bad input exits 2."""

import copy
import json

import pytest
from conftest import nextstat

from nextstat.aggregate import aggregate
from nextstat.artifacts import GATE_SCHEMA, validation_errors, write_json
from nextstat.engines import Budget
from nextstat.gate import DEFAULT_POLICY, GateInputError, evaluate, load_policy, tolerance_for

SEEDS = (42, 123, 777)


def _summary(tmp_path, name, docs):
    folder = tmp_path / name
    for i, doc in enumerate(docs):
        write_json(folder / f"{i}.json", doc)
    return aggregate("gate-test", sorted(folder.glob("*.json")), reference="blackjax_nuts")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Real runs on std_normal_d10: our NUTS as shipped and with the weaker multinomial
    top-level join (both labelled ``nextstat_nuts``, as a pull request would leave it),
    and BlackJAX as the reference engine."""
    from nextstat.run_spec import RunSpec
    from nextstat.runner import execute

    budget = Budget(4, 500, 1000)

    def runs(engine, settings=None):
        return [
            execute(RunSpec("std_normal_d10", engine, seed, budget, settings=settings or {}, suite="gate-test"))
            for seed in SEEDS
        ]

    return {
        "shipped": runs("nextstat_nuts"),
        "degraded": runs("nextstat_nuts", {"top_level_join": "multinomial"}),
        "reference": runs("blackjax_nuts"),
    }


def test_a_degraded_sampler_fails_the_gate_and_an_unchanged_one_passes(measured, tmp_path):
    for doc in measured["shipped"] + measured["degraded"]:
        assert doc["status"] == "ok" and doc["quality"]["verdict"] == "pass", doc["reason"]
    baseline = _summary(tmp_path, "baseline", measured["shipped"] + measured["reference"])
    unchanged = _summary(tmp_path, "unchanged", measured["shipped"] + measured["reference"])
    degraded = _summary(tmp_path, "degraded", measured["degraded"] + measured["reference"])

    result = evaluate(baseline, unchanged)
    assert validation_errors(result, GATE_SCHEMA) == []
    assert result["verdict"] == "pass", [c["message"] for c in result["checks"] if c["status"] == "fail"]

    result = evaluate(baseline, degraded)
    assert validation_errors(result, GATE_SCHEMA) == []
    assert result["verdict"] == "fail"
    failed = [c for c in result["checks"] if c["status"] == "fail"]
    ess = [c for c in failed if c["kind"] == "ess_per_grad"]
    assert [(c["case"], c["label"], c["metric"]) for c in ess] == [
        ("std_normal_d10", "nextstat_nuts", "ess_bulk_per_grad")
    ]
    message = ess[0]["message"]
    assert message.startswith("REGRESSION std_normal_d10 / nextstat_nuts")
    for figure in (ess[0]["baseline"], ess[0]["current"], ess[0]["bound"]):
        assert f"{figure:.4g}" in message  # baseline value, current value and the allowed bound
    assert ess[0]["current"] < ess[0]["bound"] < ess[0]["baseline"]


@pytest.fixture
def rows_of(ok_artifact):
    """Synthetic artifacts from one real one: a label, a seed, ESS/s and ESS/grad."""

    def make(label, seed, ess_per_s, ess_per_grad):
        doc = copy.deepcopy(ok_artifact)
        doc.update(label=label, engine=label if label != "ours" else "nextstat_nuts", seed=seed)
        doc["quality"]["verdict"] = "pass"
        doc["diagnostics"].update(ess_bulk_per_s=ess_per_s, ess_bulk_per_grad=ess_per_grad)
        return doc

    return make


def _pair(tmp_path, rows_of, ours_per_s, ours_per_grad=(0.30, 0.32, 0.34)):
    reference = [rows_of("blackjax_nuts", s, 1000.0 + 10 * s, 0.3) for s in (1, 2, 3)]
    base = [rows_of("ours", s, 2000.0 + 20 * s, 0.32) for s in (1, 2, 3)]
    cur = [rows_of("ours", s, v, g) for s, v, g in zip((1, 2, 3), ours_per_s, ours_per_grad)]
    return _summary(tmp_path, "b", base + reference), _summary(tmp_path, "c", cur + reference)


def test_wall_time_is_gated_as_a_ratio_only_in_the_same_environment(tmp_path, rows_of):
    baseline, slower = _pair(tmp_path, rows_of, ours_per_s=(1000.0, 1010.0, 1020.0))
    result = evaluate(baseline, slower)
    assert result["same_environment"] is True
    wall = [c for c in result["checks"] if c["kind"] == "wall_time"]
    assert [c["status"] for c in wall] == ["fail"]
    assert "ess_bulk_per_s ratio to blackjax_nuts" in wall[0]["message"]
    assert result["verdict"] == "fail"

    other_machine = copy.deepcopy(baseline)
    for env in other_machine["environments"].values():
        env["cpu"]["model"] = "Some Other CPU"
    result = evaluate(other_machine, slower)
    assert result["same_environment"] is False
    wall = [c for c in result["checks"] if c["kind"] == "wall_time"]
    assert [c["status"] for c in wall] == ["report-only"]
    assert "not gated" in wall[0]["message"]
    assert result["verdict"] == "pass"  # ESS per gradient is unchanged, wall time only reported


def test_tail_ess_per_gradient_gates_on_its_own(tmp_path, rows_of):
    """A change that keeps the bulk ESS but halves the tail ESS (moves made antithetic)
    fails the tail rule; a baseline made before the tail figure existed only reports it."""

    def with_tail(doc, tail):
        doc["diagnostics"]["min_ess_tail"] = tail
        return doc

    reference = [rows_of("blackjax_nuts", s, 1000.0, 0.3) for s in (1, 2, 3)]
    base = [with_tail(rows_of("ours", s, 2000.0, 0.32), 800.0 + s) for s in (1, 2, 3)]
    cur = [with_tail(rows_of("ours", s, 2000.0, 0.32), 400.0 + s) for s in (1, 2, 3)]
    baseline, current = _summary(tmp_path, "b", base + reference), _summary(tmp_path, "c", cur + reference)
    result = evaluate(baseline, current)
    assert validation_errors(result, GATE_SCHEMA) == []
    failed = [(c["kind"], c["label"], c["metric"]) for c in result["checks"] if c["status"] == "fail"]
    assert failed == [("tail_ess_per_grad", "ours", "ess_tail_per_grad")]
    assert next(c for c in result["checks"] if c["kind"] == "ess_per_grad" and c["label"] == "ours")["status"] == "pass"

    older = copy.deepcopy(baseline)
    for row in older["rows"]:
        row["metrics"].pop("ess_tail_per_grad")
    result = evaluate(older, current)
    assert result["verdict"] == "pass"
    tail = [c for c in result["checks"] if c["kind"] == "tail_ess_per_grad" and c["label"] == "ours"]
    assert [c["status"] for c in tail] == ["report-only"] and "missing in the baseline" in tail[0]["message"]


def test_tolerance_comes_from_the_baseline_envelope_within_policy_bounds():
    rule = DEFAULT_POLICY["ess_per_grad"]
    tight = {"median": 1.0, "min": 0.99, "max": 1.01}
    noisy = {"median": 1.0, "min": 0.85, "max": 1.05}
    wild = {"median": 1.0, "min": 0.2, "max": 3.0}
    assert tolerance_for(tight, rule["spread_factor"], rule["min_tolerance"], rule["floor"]) == 0.05
    assert tolerance_for(noisy, rule["spread_factor"], rule["min_tolerance"], rule["floor"]) == pytest.approx(0.2)
    assert tolerance_for(wild, rule["spread_factor"], rule["min_tolerance"], rule["floor"]) == pytest.approx(0.3)


def test_controls_must_keep_failing_and_missing_rows_fail(tmp_path, rows_of):
    baseline, current = _pair(tmp_path, rows_of, ours_per_s=(2020.0, 2040.0, 2060.0))
    assert evaluate(baseline, current)["verdict"] == "pass"

    control_passes = copy.deepcopy(current)
    run = next(r for r in control_passes["runs"] if r["label"] == "ours")
    run.update(is_control=True, verdict="unexpected-pass")
    result = evaluate(baseline, control_passes)
    assert any(
        c["kind"] == "control" and c["status"] == "fail" and "no longer detects" in c["message"]
        for c in result["checks"]
    )

    missing = copy.deepcopy(current)
    missing["rows"] = [r for r in missing["rows"] if r["label"] != "ours"]
    missing["runs"] = [r for r in missing["runs"] if r["label"] != "ours"]
    result = evaluate(baseline, missing)
    assert [c["kind"] for c in result["checks"] if c["status"] == "fail"] == ["missing"]

    unhealthy = copy.deepcopy(current)
    run = next(r for r in unhealthy["runs"] if r["label"] == "ours")
    run.update(verdict="fail", failed_checks=["max_rhat"])
    failed = [c for c in evaluate(baseline, unhealthy)["checks"] if c["status"] == "fail"]
    assert [c["kind"] for c in failed] == ["health"] and "max_rhat" in failed[0]["message"]


def test_a_miscalibrated_row_of_the_suites_sbc_fails_the_gate(tmp_path, rows_of):
    baseline, current = _pair(tmp_path, rows_of, ours_per_s=(2020.0, 2040.0, 2060.0))

    def entry(label, failed):
        p_values = {"mu": 0.4, "tau": 1e-9 if failed else 0.2}
        return {"case": "eight_schools", "label": label, "replications_done": 1000, "test": {"p_value": p_values},
                "miscalibrated_parameters": ["tau"] if failed else []}  # fmt: skip

    current["calibration"] = [entry("ours", failed=False), entry("a_baseline", failed=True)]
    result = evaluate(baseline, current)
    assert validation_errors(result, GATE_SCHEMA) == []
    calibration = {c["label"]: c for c in result["checks"] if c["kind"] == "calibration"}
    assert calibration["ours"]["status"] == "pass" and "calibrated over 1000" in calibration["ours"]["message"]
    assert calibration["a_baseline"]["status"] == "fail" and result["verdict"] == "fail"
    assert (
        "miscalibrated over 1000 replications: tau (smallest p 1e-09 for tau)" in calibration["a_baseline"]["message"]
    )
    policy = {**DEFAULT_POLICY, "labels": ["ours"]}  # a row that does not gate is not checked
    assert evaluate(baseline, current, policy)["verdict"] == "pass"


def test_policy_overrides_and_rejects_unknown_keys(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("labels: [nextstat_nuts]\ness_per_grad: {floor: 0.9}\n")
    policy = load_policy(path)
    assert policy["labels"] == ["nextstat_nuts"]
    assert policy["ess_per_grad"]["floor"] == 0.9 and policy["ess_per_grad"]["min_tolerance"] == 0.05
    path.write_text("ess_per_grad: {flor: 0.9}\n")
    with pytest.raises(GateInputError, match="flor"):
        load_policy(path)


def test_gate_cli_exit_codes(tmp_path, rows_of):
    baseline, slower = _pair(tmp_path, rows_of, ours_per_s=(2020.0, 2040.0, 2060.0), ours_per_grad=(0.1, 0.1, 0.1))
    write_json(tmp_path / "base.json", baseline)
    write_json(tmp_path / "cur.json", slower)
    write_json(tmp_path / "same.json", baseline)

    proc = nextstat(
        "gate",
        "--baseline",
        tmp_path / "base.json",
        "--current",
        tmp_path / "same.json",
        "--out",
        tmp_path / "pass" / "gate.json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "pass" / "gate.json").read_text())["verdict"] == "pass"

    proc = nextstat("gate", "--baseline", tmp_path / "base.json", "--current", tmp_path / "cur.json")
    assert proc.returncode == 1
    assert "REGRESSION gate-test" not in proc.stdout  # case names, not suite names, lead a message
    assert "REGRESSION std_normal_d10 / ours (cpu): ess_bulk_per_grad median 0.1 < allowed" in proc.stdout
    assert (tmp_path / "gate.md").read_text().startswith("# Gate: FAIL")

    proc = nextstat("gate", "--baseline", tmp_path / "missing.json", "--current", tmp_path / "cur.json")
    assert proc.returncode == 2 and "--baseline" in proc.stderr and "missing.json" in proc.stderr
    (tmp_path / "policy.yaml").write_text("wall_time: {floor: 2}\n")
    proc = nextstat(
        "gate",
        "--baseline",
        tmp_path / "base.json",
        "--current",
        tmp_path / "cur.json",
        "--policy",
        tmp_path / "policy.yaml",
    )
    assert proc.returncode == 2 and "wall_time.floor" in proc.stderr
