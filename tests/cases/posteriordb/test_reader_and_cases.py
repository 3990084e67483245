"""posteriordb as a case source: reading the layout, pdb: names, references, and what
happens to a posterior without a JAX density."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_posteriordb, nextstat

from nextstat.cases import CaseError, get_case
from nextstat.cases.posteriordb import (
    PosteriorDBError,
    list_posteriors,
    posteriordb_case,
    posteriordb_dir,
)
from nextstat.cases.posteriordb.reader import read_posterior
from nextstat.cases.stan_program import bridgestan_missing

pytestmark = needs_posteriordb
MOMHS = "kidiq-kidscore_momhs"


def _root() -> Path:
    return Path(os.environ["NEXTSTAT_POSTERIORDB"])


def test_the_reader_gives_a_posteriors_program_data_reference_and_dimensions():
    posterior = read_posterior(posteriordb_dir(), MOMHS)
    assert posterior.model_name == "kidscore_momhs" and posterior.data_name == "kidiq"
    assert "kid_score ~ normal" in posterior.stan_code
    assert posterior.data["N"] == 434 and len(posterior.data["kid_score"]) == 434
    assert posterior.dimensions == {"beta": 2, "sigma": 1}
    draws = posterior.reference_draws
    assert list(draws) == ["beta[1]", "beta[2]", "sigma"]
    assert all(d.shape == (10, 1000) for d in draws.values())
    assert posterior.reference_info["inference"]["method_arguments"]["thin"] == 10


def test_every_posterior_of_the_subset_is_listed():
    names = list_posteriors()
    assert len(names) == 35 and MOMHS in names and "nes2000-nes" in names


def test_a_pdb_case_is_scored_against_posteriordbs_reference_draws():
    case = get_case(f"pdb:{MOMHS}")
    assert case.name == f"pdb:{MOMHS}" and case.family == "posteriordb"
    assert case.dataset_id == "posteriordb:kidiq"
    assert case.stan_code == read_posterior(posteriordb_dir(), MOMHS).stan_code  # posteriordb's program, unchanged
    reference = case.reference
    assert reference is not None and reference.kind == "reference-draws"
    assert set(reference.mean) == set(case.param_names) == {"beta[1]", "beta[2]", "sigma"}
    draws = read_posterior(posteriordb_dir(), MOMHS).reference_draws["sigma"]
    assert reference.mean["sigma"] == pytest.approx(draws.mean())
    assert reference.sd["sigma"] == pytest.approx(draws.std(ddof=1))
    # 10,000 nearly independent draws: the MCSE of the mean is about sd / 100
    assert 0.5 < reference.mcse["sigma"] / (reference.sd["sigma"] / 100) < 2.0
    assert "10 chains x 1000 draws" in reference.source


def test_a_bad_name_or_directory_is_one_line_naming_it(tmp_path):
    with pytest.raises(CaseError, match="has no posterior 'no_such_posterior'"):
        get_case("pdb:no_such_posterior")
    with pytest.raises(PosteriorDBError, match=f"'{tmp_path}' has no posteriors/ folder"):
        posteriordb_dir(tmp_path)
    proc = nextstat(
        "run",
        "--posteriordb",
        tmp_path,
        "--case",
        f"pdb:{MOMHS}",
        "--engine",
        "stan_nuts",
        "--seed",
        1,
        "--budget",
        4,
        "--out",
        tmp_path / "a.json",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and str(tmp_path) in proc.stderr
    proc = nextstat(
        "run",
        "--case",
        "pdb:no_such_posterior",
        "--engine",
        "stan_nuts",
        "--seed",
        1,
        "--budget",
        4,
        "--out",
        tmp_path / "b.json",
    )
    assert proc.returncode == 2 and "no_such_posterior" in proc.stderr
    assert json.loads((tmp_path / "b.json").read_text())["status"] == "failed"  # the failed artifact is written


def _posteriordb_with_an_unwritten_program(tmp_path) -> Path:
    """A copy of one posterior under a program name nextstat has no JAX density for."""
    root = tmp_path / "pdb"
    source = _root()
    (root / "posteriors").mkdir(parents=True)
    (root / "models" / "stan").mkdir(parents=True)
    (root / "data" / "data").mkdir(parents=True)
    (root / "reference_posteriors" / "draws" / "draws").mkdir(parents=True)
    info = json.loads((source / "posteriors" / f"{MOMHS}.json").read_text())
    info.update(name="kidiq-unwritten", model_name="unwritten", reference_posterior_name="kidiq-unwritten")
    (root / "posteriors" / "kidiq-unwritten.json").write_text(json.dumps(info))
    shutil.copy(source / "models" / "stan" / "kidscore_momhs.stan", root / "models" / "stan" / "unwritten.stan")
    shutil.copy(source / "data" / "data" / "kidiq.json.zip", root / "data" / "data" / "kidiq.json.zip")
    shutil.copy(
        source / "reference_posteriors" / "draws" / "draws" / f"{MOMHS}.json.zip",
        root / "reference_posteriors" / "draws" / "draws" / "kidiq-unwritten.json.zip",
    )
    return root


def _run_unwritten(root, engine: str, budget: str, out) -> dict:
    """One run on the posterior without a JAX density; its artifact."""
    nextstat(
        "run",
        "--posteriordb",
        root,
        "--case",
        "pdb:kidiq-unwritten",
        "--engine",
        engine,
        "--seed",
        1,
        "--budget",
        budget,
        "--out",
        out,
        check=True,
    )
    return json.loads(out.read_text())


def test_a_posterior_without_a_jax_density_is_skipped_by_jax_engines_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("BRIDGESTAN", raising=False)  # (with BridgeStan it runs on its density: below)
    root = _posteriordb_with_an_unwritten_program(tmp_path)
    case = posteriordb_case("kidiq-unwritten", root)
    assert case.missing_jax_density and "'unwritten' has no JAX density" in case.missing_jax_density
    assert "BRIDGESTAN" in case.missing_jax_density  # and why BridgeStan could not stand in
    assert case.param_names == ("beta[1]", "beta[2]", "sigma")  # from the reference draws
    out = tmp_path / "ours.json"
    doc = _run_unwritten(root, "nextstat_nuts", "2x50x50", out)
    assert doc["status"] == "skipped" and "has no JAX density" in doc["reason"]
    assert doc["case_info"]["jax_density"] is False and doc["case_info"]["dim"] is None
    assert nextstat("validate", out).returncode == 0


@pytest.mark.skipif(bridgestan_missing() is not None, reason=f"BridgeStan cannot compile here: {bridgestan_missing()}")
def test_a_posterior_without_a_jax_density_runs_on_jax_engines_through_bridgestan(tmp_path):
    root = _posteriordb_with_an_unwritten_program(tmp_path)
    case = posteriordb_case("kidiq-unwritten", root)
    assert case.missing_jax_density is None and case.density_source == "bridgestan"
    assert case.param_names == ("beta[1]", "beta[2]", "sigma")  # Stan's names, as the reference draws name them
    doc = _run_unwritten(root, "nextstat_nuts", "2x300x300", tmp_path / "ours.json")
    assert doc["status"] == "ok" and doc["engine_info"]["density"] == "bridgestan"
    assert doc["correctness"]["reference"] == "reference-draws" and doc["correctness"]["max_z"] < 4


def test_a_posterior_without_a_jax_density_runs_on_stan_from_stans_own_inits(tmp_path):
    root = _posteriordb_with_an_unwritten_program(tmp_path)
    out = tmp_path / "stan.json"
    doc = _run_unwritten(root, "stan_nuts", "2x300x300", out)
    assert doc["status"] == "ok", doc["reason"]
    assert doc["correctness"]["reference"] == "reference-draws" and set(doc["correctness"]["z"]) == {
        "beta[1]",
        "beta[2]",
        "sigma",
    }
    assert doc["correctness"]["max_z"] < 4
    assert nextstat("validate", out).returncode == 0


def test_cases_lists_posteriordb_with_dimension_and_jax_density():
    proc = nextstat("cases", "--posteriordb", _root(), "--json", check=True)
    rows = {row["case"]: row for row in json.loads(proc.stdout)}
    assert "eight_schools" in rows
    pdb_rows = [row for name, row in rows.items() if name.startswith("pdb:")]
    assert len(pdb_rows) == 35
    assert all(row["reference"] == "reference-draws" and row["stan"] for row in pdb_rows)
    assert all(row["jax_density"] for row in pdb_rows)  # every program of the subset has its density
    assert rows[f"pdb:{MOMHS}"]["dim"] == 3


def test_the_reference_of_every_posterior_covers_its_parameters():
    for name in list_posteriors():
        case = posteriordb_case(name)
        assert case.reference is not None, name
        assert set(case.reference.mean) == set(case.param_names), name
        assert all(np.isfinite(case.reference.mcse[n]) and case.reference.mcse[n] > 0 for n in case.param_names)


def test_sample_takes_a_pdb_name():
    import nextstat

    idata = nextstat.sample(f"pdb:{MOMHS}", n_warmup=300, n_samples=300, n_chains=2)
    assert set(idata.posterior.data_vars) == {"beta", "sigma"}
    assert idata.posterior["beta"].shape == (2, 300, 2)
