"""Stan programs as cases for every engine, through BridgeStan (``cases/stan_program.py``),
and nutpie's native frontend on them. Tests that compile need BridgeStan's sources
($BRIDGESTAN; `.ci/kits.sh` sets them up from the shared kits) and skip without them."""

import json
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO, nextstat

from nextstat.cases import CaseError, get_case
from nextstat.cases.stan_program import bridgestan_missing, stan_program_case, with_forced_bridgestan_density
from nextstat.engines import EngineUnavailable

jax.config.update("jax_enable_x64", True)

PROGRAM = REPO / "examples" / "stan" / "logistic.stan"
DATA = REPO / "examples" / "stan" / "logistic.data.json"
SPEC = f"{PROGRAM}@{DATA}"
needs_bridgestan = pytest.mark.skipif(
    bridgestan_missing() is not None, reason=f"BridgeStan cannot compile here: {bridgestan_missing()}"
)


def _logistic_jax(x):
    """The same posterior written in JAX (up to its constant)."""
    data = json.loads(DATA.read_text())
    X, y = jnp.asarray(data["x"]), jnp.asarray(data["y"])
    alpha, beta = x[0], x[1:]
    eta = alpha + X @ beta
    return -0.5 * (alpha / 2) ** 2 - 0.5 * jnp.sum(beta**2) + jnp.sum(y * eta - jnp.logaddexp(0.0, eta))


@needs_bridgestan
def test_a_stan_program_is_a_case_with_bridgestans_density_names_and_constraints():
    case = get_case(SPEC)
    assert case.param_names == ("alpha", "beta[1]", "beta[2]", "beta[3]") and case.dim == 4
    assert case.density_source == "bridgestan" and case.missing_jax_density is None and case.stan_code
    points = np.random.default_rng(0).uniform(-2, 2, (5, 4))
    values = [float(case.log_density(jnp.asarray(p))) for p in points]
    ours = [float(_logistic_jax(jnp.asarray(p))) for p in points]
    np.testing.assert_allclose(np.diff(values), np.diff(ours), rtol=1e-10)  # equal up to a constant
    value, grad = jax.value_and_grad(case.log_density)(jnp.asarray(points[0]))
    np.testing.assert_allclose(
        np.asarray(grad), np.asarray(jax.grad(_logistic_jax)(jnp.asarray(points[0]))), rtol=1e-10
    )
    batched = jax.vmap(case.log_density)(jnp.asarray(points))  # many-chain engines vectorize it
    np.testing.assert_allclose(np.asarray(batched), values, rtol=1e-12)
    np.testing.assert_allclose(case.constrain(points), points)  # no constrained parameter here


@needs_bridgestan
def test_our_nuts_and_nutpie_native_sample_a_stan_program_and_agree(tmp_path):
    means = {}
    for engine, extra in (("nextstat_nuts", []), ("nutpie_nuts", ["--set", 'frontend="native"'])):
        out = tmp_path / f"{engine}.json"
        ran = nextstat(
            "run", "--case", PROGRAM, "--data", DATA, "--engine", engine, *extra,
            "--seed", 42, "--budget", "4x500x1000", "--out", out,
        )  # fmt: skip
        artifact = json.loads(out.read_text())
        assert artifact["status"] == "ok", (ran.stderr, artifact.get("reason"))
        assert artifact["quality"]["passed"]
        means[engine] = {name: artifact["summary"][name]["mean"] for name in artifact["summary"]}
        sds = {name: artifact["summary"][name]["sd"] for name in artifact["summary"]}
    assert json.loads((tmp_path / "nextstat_nuts.json").read_text())["engine_info"]["density"] == "bridgestan"
    native = json.loads((tmp_path / "nutpie_nuts.json").read_text())["engine_info"]
    assert native["frontend"].endswith("(BridgeStan library, native)") and native["density"] == "stan-program"
    for name, mean in means["nextstat_nuts"].items():  # the same posterior, within a few Monte Carlo errors
        assert abs(mean - means["nutpie_nuts"][name]) < 0.15 * sds[name], name


@needs_bridgestan
def test_a_program_that_does_not_compile_or_data_that_do_not_fit_are_one_line_each(tmp_path):
    broken = tmp_path / "broken.stan"
    broken.write_text("parameters { real mu; } model { mu ~ normal(0, sigma_nowhere); }")
    with pytest.raises(CaseError, match=r"broken\.stan.*does not compile.*sigma_nowhere"):
        get_case(str(broken))
    bad_data = tmp_path / "bad.json"
    bad_data.write_text(json.dumps({"N": 3, "K": 3}))
    with pytest.raises(CaseError, match="data do not fit"):
        get_case(f"{PROGRAM}@{bad_data}")


@needs_bridgestan
def test_where_the_program_throws_the_density_is_minus_infinity_as_stans_samplers_take_it(tmp_path):
    program = tmp_path / "scale.stan"  # sigma = exp(log_sigma) underflows to 0 far out: normal_lpdf throws
    program.write_text(
        "parameters { real log_sigma; } model { log_sigma ~ normal(0, 1); 1 ~ normal(0, exp(log_sigma)); }"
    )
    case = get_case(str(program))
    far_out = jnp.array([-800.0])
    value, grad = jax.value_and_grad(case.log_density)(far_out)
    assert float(value) == -np.inf and float(case.log_density(far_out)) == -np.inf and np.all(np.asarray(grad) == 0)
    assert np.isfinite(float(case.log_density(jnp.array([0.3]))))


def test_stan_program_input_errors_name_the_file(tmp_path):
    with pytest.raises(CaseError, match="no Stan program"):
        get_case(str(tmp_path / "missing.stan"))
    with pytest.raises(CaseError, match="no data file"):
        get_case(f"{PROGRAM}@{tmp_path / 'missing.json'}")
    ran = nextstat("run", "--case", "eight_schools", "--data", DATA, "--engine", "nextstat_nuts", "--seed", 1,
                   "--budget", 10, "--out", tmp_path / "x.json")  # fmt: skip
    assert ran.returncode == 2 and "data go with a Stan program" in ran.stderr


def test_without_bridgestan_a_stan_program_skips_the_jax_engines_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.delenv("BRIDGESTAN", raising=False)
    case = stan_program_case(SPEC)
    assert case.density_source == "jax" and "BRIDGESTAN" in case.missing_jax_density
    ran = nextstat(
        "run", "--case", PROGRAM, "--data", DATA, "--engine", "blackjax_nuts", "--seed", 1,
        "--budget", 10, "--out", tmp_path / "x.json",
    )  # fmt: skip
    artifact = json.loads(Path(tmp_path / "x.json").read_text())
    assert artifact["status"] == "skipped" and "BridgeStan" in artifact["reason"], ran.stderr


@needs_bridgestan
def test_density_bridgestan_samples_the_stan_program_where_a_jax_density_is_written(tmp_path):
    """The setting density=bridgestan: our NUTS on the very density Stan samples, recorded
    as such; the JAX and BridgeStan densities of the case agree (``parity``)."""
    from nextstat.parity import parity

    result = parity(get_case("std_normal_d4"), n_points=5, against="bridgestan")
    assert result["passed"] and result["against"] == "bridgestan", result
    out = tmp_path / "forced.json"
    ran = nextstat(
        "run", "--case", "std_normal_d4", "--engine", "nextstat_nuts", "--set", 'density="bridgestan"',
        "--seed", 3, "--budget", "2x300x500", "--out", out,
    )  # fmt: skip
    artifact = json.loads(out.read_text())
    assert artifact["status"] == "ok", (ran.stderr, artifact.get("reason"))
    assert artifact["engine_info"]["density"] == "bridgestan"
    assert artifact["config"]["settings"]["density"] == "bridgestan"
    assert artifact["correctness"]["verdict"] == "pass"


def test_density_bridgestan_is_skipped_with_the_reason_where_it_cannot_run(monkeypatch, tmp_path):
    monkeypatch.delenv("BRIDGESTAN", raising=False)
    out = tmp_path / "forced.json"
    nextstat(
        "run", "--case", "std_normal_d4", "--engine", "nextstat_nuts", "--set", 'density="bridgestan"',
        "--seed", 1, "--budget", 10, "--out", out,
    )  # fmt: skip
    artifact = json.loads(out.read_text())
    assert artifact["status"] == "skipped" and "BRIDGESTAN" in artifact["reason"], artifact["reason"]
    without_program = replace(get_case("std_normal_d4"), stan_code=None)
    with pytest.raises(EngineUnavailable, match="case 'std_normal_d4' has none"):
        with_forced_bridgestan_density(without_program)
    ran = nextstat(
        "run", "--case", "std_normal_d4", "--engine", "stan_nuts", "--set", 'density="bridgestan"',
        "--seed", 1, "--budget", 10, "--out", tmp_path / "stan.json",
    )  # fmt: skip
    assert ran.returncode == 2 and "'density' is taken only by" in ran.stderr
