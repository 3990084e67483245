"""Stan and JAX sample the same target: log densities equal up to one constant, gradients equal."""

import pytest
from conftest import nextstat

from nextstat.cases import BUILTIN_CASES, get_case
from nextstat.parity import TOLERANCE, parity

pytestmark = pytest.mark.stan


@pytest.mark.parametrize("name", list(BUILTIN_CASES))
def test_stan_log_prob_matches_jax_log_density(name):
    result = parity(get_case(name), n_points=20)
    assert result["max_log_density_deviation"] < TOLERANCE, result
    assert result["max_gradient_deviation"] < TOLERANCE, result


def test_parity_command_reports_the_deviation():
    proc = nextstat("parity", "--case", "std_normal_d2", "--points", "5", check=True)
    assert proc.stdout.startswith("std_normal_d2: ok: max log-density deviation")


def test_parity_catches_a_wrong_density(tmp_path):
    case_file = tmp_path / "wrong.py"
    case_file.write_text(
        "from dataclasses import replace\n"
        "from nextstat.cases import get_case\n"
        "base = get_case('std_normal_d2')\n"
        "wrong = replace(base, name='wrong', log_density=lambda x: -0.5 * (x * x).sum() * 1.01)\n"
    )
    proc = nextstat("parity", "--case", f"{case_file}:wrong", "--points", "5")
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout
