"""Every posteriordb JAX density against Stan's log_prob: equal up to one constant, with
equal gradients (``nextstat parity``). Each new Stan program costs a PyStan compile
(about 45 s on 2 cores), so CI checks one posterior of each kind of program: the four
with simplex, ordered and Gaussian-process transforms, the badly scaled regression, the
z-scored, log-transformed, design-matrix and raw-scale regressions, and one NES year.
The rest are marked slow (`make test-all`); `reports/posteriordb/PARITY.md` has all 35."""

import os

import pytest
from conftest import needs_posteriordb

from nextstat.cases import get_case

pytestmark = needs_posteriordb

CI_POSTERIORS = {
    "gp_pois_regr-gp_regr",
    "hmm_example-hmm_example",
    "bball_drive_event_0-hmm_drive_0",
    "bball_drive_event_1-hmm_drive_1",
    "kilpisjarvi_mod-kilpisjarvi",
    "kidiq_with_mom_work-kidscore_interaction_z",
    "mesquite-logmesquite_logvash",
    "sblri-blr",
    "earnings-earn_height",
    "nes1992-nes",
}


def _posteriors() -> list:
    root = os.environ.get("NEXTSTAT_POSTERIORDB")
    if not root:
        return []
    from nextstat.cases.posteriordb import list_posteriors

    return [
        pytest.param(name, marks=() if name in CI_POSTERIORS else pytest.mark.slow) for name in list_posteriors(root)
    ]


@pytest.mark.parametrize("posterior", _posteriors())
def test_the_jax_density_matches_stans_log_prob(posterior):
    from nextstat.parity import parity

    case = get_case(f"pdb:{posterior}")
    assert case.missing_jax_density is None, case.missing_jax_density
    result = parity(case)
    assert result["passed"], result


def test_ci_checks_existing_posteriors():
    from nextstat.cases.posteriordb import list_posteriors

    assert CI_POSTERIORS <= set(list_posteriors())
