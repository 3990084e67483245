"""Case data is the same bits on every machine (issue: a BLAS product made an AMD machine's
``logreg_scaled_n1000_p10`` differ from an Intel machine's), and a reference that does not
fit its case is reported, never a crash."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from conftest import REPO, nextstat

from nextstat.cases import BUILTIN_CASES, get_case
from nextstat.cases.case_data import MANIFEST, load_case_data
from nextstat.cases.references import attach_reference, reference_path
from nextstat.cases.remake_data import generators


def test_every_simulated_case_reads_its_committed_file_and_its_recorded_hash():
    recorded = json.loads(MANIFEST.read_text())
    assert set(recorded) == set(generators())
    for name, sha in recorded.items():
        case = get_case(name)
        assert case.data == load_case_data(name)
        assert case.dataset_sha256 == sha


@pytest.mark.parametrize("name", list(BUILTIN_CASES))
def test_every_committed_reference_was_made_on_the_data_as_loaded(name):
    case = get_case(name)
    assert case.reference_problem is None
    if reference_path(name).exists():
        doc = json.loads(reference_path(name).read_text())
        assert doc["dataset_sha256"] == case.dataset_sha256
        assert case.reference is not None and case.reference.kind == "reference-draws"


@pytest.mark.parametrize("name", sorted(generators()))
def test_the_generator_still_makes_the_committed_data_to_float_tolerance(name):
    """The generator documents how the file was made; on this machine's BLAS it may differ
    in the last bits, never more."""
    made, committed = generators()[name](), load_case_data(name)
    assert set(made) == set(committed)
    for key, value in committed.items():
        if isinstance(value, list) and value and isinstance(np.ravel(value)[0], float):
            np.testing.assert_allclose(np.asarray(made[key]), np.asarray(value), rtol=1e-12, atol=1e-12)
        elif key == "y":  # outcomes are thresholded on exp of a BLAS product: a flip is possible, not likely
            assert np.sum(np.asarray(made[key]) != np.asarray(value)) <= 1
        else:
            assert made[key] == value


def test_loaded_data_does_not_depend_on_the_blas_kernel_or_threads():
    """A fresh process with other OpenBLAS kernels and thread counts loads the same bits,
    while the generator's product there does not have to."""
    script = (
        "import json; from nextstat.cases import BUILTIN_CASES, get_case; "
        "print(json.dumps({n: get_case(n).dataset_sha256 for n in BUILTIN_CASES}))"
    )
    here = {n: get_case(n).dataset_sha256 for n in BUILTIN_CASES}
    for coretype, threads in (("Prescott", "1"), ("Sandybridge", "2")):
        env = {**os.environ, "OPENBLAS_CORETYPE": coretype, "OPENBLAS_NUM_THREADS": threads}
        proc = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, check=True
        )
        assert json.loads(proc.stdout) == here, coretype


def test_a_missing_data_file_names_the_case_and_how_to_remake_it(monkeypatch, tmp_path):
    from nextstat.cases import case_data

    monkeypatch.setattr(case_data, "DATA_DIR", tmp_path)
    with pytest.raises(case_data.CaseDataError, match="hier_logistic_ri.*remake_data hier_logistic_ri"):
        case_data.load_case_data("hier_logistic_ri")


@pytest.fixture
def mismatched_reference(tmp_path):
    """glm_logistic_n200_p6's reference, recorded as made on other data."""
    doc = json.loads(reference_path("glm_logistic_n200_p6").read_text())
    doc["dataset_sha256"] = "0" * 64
    path = tmp_path / "glm_logistic_n200_p6.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_mismatched_reference_leaves_the_case_usable_and_says_why(mismatched_reference):
    case = attach_reference(replace(get_case("glm_logistic_n200_p6"), reference=None), mismatched_reference)
    assert case.reference is None
    problem = case.reference_problem
    assert problem["verdict"] == "reference-mismatch"
    assert problem["reference_dataset_sha256"] == "0" * 64
    assert problem["dataset_sha256"] == case.dataset_sha256
    assert "nextstat reference --case glm_logistic_n200_p6" in problem["reason"]


def test_cases_lists_every_case_and_marks_the_mismatched_one(mismatched_reference, monkeypatch, capsys):
    from nextstat import cli
    from nextstat.cases import references

    monkeypatch.setattr(references, "REFERENCES_DIR", mismatched_reference.parent)
    monkeypatch.delenv("NEXTSTAT_POSTERIORDB", raising=False)  # the built-in cases alone
    get_case.cache_clear()
    try:
        assert cli.main(["cases", "--json"]) == 0
    finally:
        get_case.cache_clear()
    out, err = capsys.readouterr()
    rows = {r["case"]: r for r in json.loads(out)}
    assert {name for name in rows if not name.startswith("gym:")} == set(BUILTIN_CASES)
    assert rows["glm_logistic_n200_p6"]["reference"].startswith("REFERENCE-MISMATCH")
    assert rows["std_normal_d10"]["reference"] == "analytic"
    assert err.count("\n") == 1 and "glm_logistic_n200_p6" in err and "Traceback" not in err


def test_a_run_on_a_mismatched_reference_writes_an_artifact_that_says_so(mismatched_reference, tmp_path):
    case_file = tmp_path / "mismatched.py"
    case_file.write_text(
        "from dataclasses import replace\nfrom pathlib import Path\n"
        "from nextstat.cases import get_case\nfrom nextstat.cases.references import attach_reference\n"
        "def mismatched():\n"
        "    case = replace(get_case('glm_logistic_n200_p6'), reference=None)\n"
        f"    return attach_reference(case, Path({str(mismatched_reference)!r}))\n"
    )
    out = tmp_path / "run.json"
    proc = nextstat(
        "run",
        "--case",
        f"{case_file}:mismatched",
        "--engine",
        "nextstat_nuts",
        "--seed",
        1,
        "--budget",
        "2x60x60",
        "--out",
        out,
        check=True,
    )
    assert "Traceback" not in proc.stderr and proc.stderr.count("WARNING: reference for case") == 1
    artifact = json.loads(out.read_text())
    assert artifact["status"] == "ok"
    corr = artifact["correctness"]
    assert corr["verdict"] == "reference-mismatch" and corr["max_z"] is None
    assert corr["reference_dataset_sha256"] == "0" * 64 and corr["dataset_sha256"] == artifact["dataset"]["sha256"]
    assert nextstat("validate", out).returncode == 0
