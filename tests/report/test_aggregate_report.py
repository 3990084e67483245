import copy
import json
import subprocess
import sys

import pytest
from conftest import nextstat

from nextstat.aggregate import aggregate, describe
from nextstat.artifacts import validation_errors, write_json
from nextstat.engines import load_engine
from nextstat.engines.contract import DENSITY
from nextstat.report import write_report
from nextstat.report.formatting import slug
from nextstat.summary_types import median, ratio_of_medians, ratio_spread


def _variant(base, label, engine, seed, ess_per_s, ess_per_grad, **changes):
    doc = copy.deepcopy(base)
    doc.update(label=label, engine=engine, seed=seed)
    doc["diagnostics"]["ess_bulk_per_s"] = ess_per_s
    doc["diagnostics"]["ess_bulk_per_grad"] = ess_per_grad
    for key, value in changes.items():
        doc["fairness"][key] = value
    return doc


@pytest.fixture
def suite_dir(tmp_path, ok_artifact):
    runs = tmp_path / "runs"
    for seed, ref, fast in [(1, 100.0, 300.0), (2, 200.0, 500.0), (3, 400.0, 600.0)]:
        write_json(runs / f"ref{seed}.json", _variant(ok_artifact, "stan_nuts", "stan_nuts", seed, ref, 0.1))
        write_json(
            runs / f"fast{seed}.json",
            _variant(ok_artifact, "fast_nuts", "numpyro_nuts", seed, fast, 0.2, target_accept=0.9),
        )
    failed = copy.deepcopy(ok_artifact)
    failed.update(
        label="broken_nuts",
        engine="blackjax_nuts",
        seed=1,
        status="failed",
        reason="RuntimeError: boom",
        timing=None,
        diagnostics=None,
        summary=None,
        quality=None,
        correctness=None,
        gradients=None,
    )
    write_json(runs / "broken.json", failed)
    gpu = _variant(ok_artifact, "fast_nuts", "numpyro_nuts", 1, 9000.0, 0.2)
    gpu["backend"] = "gpu"
    gpu["environment"]["gpus"] = [{"name": "NVIDIA H100"}]
    write_json(runs / "gpu.json", gpu)
    return tmp_path


def test_describe_gives_median_headline_and_envelope():
    stats = describe([3.0, 1.0, 2.0])
    assert stats == {"n": 3, "median": 2.0, "mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert describe([None]) is None


def test_ratio_of_medians_with_its_envelope_over_seeds():
    mine, theirs = describe([3.0, 6.0, 9.0]), describe([1.0, 2.0, 4.0])
    ratio = ratio_of_medians(mine, theirs, "ref")
    assert ratio == {"reference": "ref", "ratio_of_medians": 3.0, "envelope": [0.75, 9.0]}
    assert ratio_spread(ratio) == {"median": 3.0, "min": 0.75, "max": 9.0}
    assert ratio_of_medians(mine, describe([0.0, 1.0, 2.0]), "ref")["envelope"] is None
    assert ratio_spread(ratio_of_medians(mine, describe([0.0, 1.0, 2.0]), "ref")) is None
    assert ratio_of_medians(mine, None, "ref") is None and ratio_of_medians(mine, describe([0.0]), "ref") is None
    assert median(mine) == 6.0 and median(None) is None
    assert slug("cpu-Intel(R) Xeon(R) Processor") == "cpu-intel-r-xeon-r-processor"


def test_aggregate_medians_ratios_and_flags(suite_dir):
    summary = aggregate("t", sorted((suite_dir / "runs").glob("*.json")))
    assert validation_errors(summary) == []
    rows = {(r["backend"], r["label"]): r for r in summary["rows"]}
    fast = rows[("cpu", "fast_nuts")]
    assert fast["metrics"]["ess_bulk_per_s"]["median"] == 500.0
    ratio = fast["ratios"]["ess_bulk_per_s"]
    assert ratio["ratio_of_medians"] == pytest.approx(500.0 / 200.0)
    assert ratio["envelope"] == pytest.approx([300.0 / 400.0, 600.0 / 100.0])
    assert fast["ratios"]["ess_bulk_per_grad"]["ratio_of_medians"] == pytest.approx(2.0)
    # the GPU run is its own row, never pooled with CPU rows, and has no CPU reference
    assert rows[("gpu", "fast_nuts")]["metrics"]["ess_bulk_per_s"]["median"] == 9000.0
    assert rows[("gpu", "fast_nuts")]["ratios"] == {}
    assert rows[("cpu", "broken_nuts")]["n_failed"] == 1
    flagged = {(f["field"], tuple(sorted(f["values"]))) for f in summary["fairness_flags"]}
    assert ("target_accept", ("broken_nuts", "fast_nuts", "stan_nuts")) in flagged
    # identical draws in every variant: perfect agreement with the reference
    assert all(a["max_z"] == 0.0 for a in summary["agreement"])


def test_report_has_every_section_and_separate_backend_tables(suite_dir):
    summary = aggregate("t", sorted((suite_dir / "runs").glob("*.json")))
    path = write_report(summary, suite_dir / "report")
    text, details = path.read_text(), (suite_dir / "report" / "DETAILS.md").read_text()
    for heading in [
        "## TL;DR",
        "## Results: CPU",
        "## Results: GPU, NVIDIA H100",
        "## Runs that need a look",
        "## Protocol",
        "### Fairness lint",
        "## Environment",
        "## More",
        "## Reproduce",
    ]:
        assert heading in text, heading
    for heading in ["## Every figure: CPU", "## Health gates, per seed", "## Correctness", "## Harness overhead"]:
        assert heading in details and heading not in text, heading
    assert "2.50x [0.75, 6.00]" in text  # ratio of medians with its envelope, in the headline table
    failed = next(line for line in text.splitlines() if line.startswith("| `broken_nuts`") and "| failed " in line)
    assert "| 1 " in failed and "RuntimeError: boom" in failed  # grouped: engine, case, what, seeds, detail
    assert "- `target_accept` differs (cpu, " in text
    charts = sorted(p.name for p in (suite_dir / "report" / "charts").glob("*.png"))
    # ESS/s and ESS/grad for each of the two tables; ratios only where a reference ran (CPU)
    assert len(charts) == 5 and sum(name.startswith("ratios_cpu") for name in charts) == 1
    for chart in charts:
        assert f"](charts/{chart})" in text
    tables = sorted(p.name for p in (suite_dir / "report" / "tables").glob("*.csv"))
    assert "health.csv" in tables and sum(name.startswith("results_") for name in tables) == 2
    assert sum(name.startswith("headline_") for name in tables) == 2


def test_tldr_fits_a_screen_and_the_lint_groups_what_a_suite_declares(tmp_path, ok_artifact):
    """However many cases, the TL;DR is a few lines; a fairness flag the suite declares on
    purpose (a sampler's own target acceptance) is said once in the protocol, and the
    others are grouped: one line per setting and values, with the cases it covers."""
    runs = tmp_path / "runs"
    for i in range(12):
        for seed in (1, 2):
            for label, engine, target in [("stan_nuts", "stan_nuts", 0.8), ("ours", "nextstat_mams", 0.9)]:
                doc = _variant(ok_artifact, label, engine, seed, 100.0 * (1 + i), 0.1)
                doc["case"] = f"case_{i:02d}"
                doc["fairness"]["target_accept"] = doc["config"]["settings"]["target_accept"] = target
                if i < 3 and label == "ours":
                    doc["fairness"]["max_tree_depth"] = 12
                write_json(runs / f"{i}-{label}-{seed}.json", doc)
    summary = aggregate("t", sorted(runs.glob("*.json")))
    text = write_report(summary, tmp_path / "report").read_text()
    tldr = text.split("## TL;DR")[1].split("\n## ")[0].strip().splitlines()
    assert len(tldr) <= 10
    assert "- `target_accept` differs (cpu, " in text and "on every case (12)" in text
    assert "- `max_tree_depth` differs (cpu, " in text and "on case_00, case_01, case_02:" in text
    summary["presentation"] = {
        "declared": [{"field": "target_accept", "labels": ["ours"], "why": "MAMS's own target acceptance."}]
    }
    assert validation_errors(summary) == []
    text = write_report(summary, tmp_path / "report").read_text()
    assert "`target_accept` differs" not in text and "- `max_tree_depth` differs" in text
    assert "- `target_accept`: `ours` 0.9: MAMS's own target acceptance." in text


def test_tail_ess_per_gradient_is_derived_and_rated(tmp_path, ok_artifact):
    """Tail ESS per sampling gradient comes from each artifact's min tail ESS and sampling
    gradients, gets its own ratio and report column: an antithetic sampler's bulk ratio
    can flatter it where its tail ratio does not."""
    runs = tmp_path / "runs"
    for seed in (1, 2, 3):
        ref = _variant(ok_artifact, "stan_nuts", "stan_nuts", seed, 100.0, 0.1)
        ref["diagnostics"]["min_ess_tail"], ref["gradients"]["sampling"] = 1000.0, 10_000
        antithetic = _variant(ok_artifact, "flip", "numpyro_nuts", seed, 300.0, 0.3)
        antithetic["diagnostics"]["min_ess_tail"], antithetic["gradients"]["sampling"] = 250.0 * seed, 10_000
        write_json(runs / f"ref{seed}.json", ref)
        write_json(runs / f"flip{seed}.json", antithetic)
    summary = aggregate("t", sorted(runs.glob("*.json")))
    assert validation_errors(summary) == []
    flip = next(r for r in summary["rows"] if r["label"] == "flip")
    assert flip["metrics"]["ess_tail_per_grad"]["median"] == pytest.approx(0.05)
    assert flip["ratios"]["ess_tail_per_grad"]["ratio_of_medians"] == pytest.approx(0.5)
    seconds = ok_artifact["timing"]["sampling_s"]
    assert flip["metrics"]["ess_tail_per_s"]["median"] == pytest.approx(500.0 / seconds)
    assert flip["ratios"]["ess_tail_per_s"]["ratio_of_medians"] == pytest.approx(0.5)
    assert flip["ratios"]["ess_bulk_per_grad"]["ratio_of_medians"] == pytest.approx(3.0)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "CEILING.md").write_text("# Metric ceiling: `python -m x`\n\nfigures\n")
    text = write_report(summary, tmp_path / "report").read_text()
    assert "- [CEILING.md](CEILING.md): Metric ceiling: `python -m x`" in text
    line = next(line for line in text.splitlines() if line.startswith("| std_normal_d10 | `flip`"))
    assert "tail ESS/s vs stan_nuts" in text and "tail ESS/grad vs stan_nuts" in text
    assert "| 3.00x [" in line and "| 0.50x [" in line  # bulk and tail ESS per gradient


def test_aggregate_cli_refuses_an_invalid_run(tmp_path, ok_artifact):
    bad = copy.deepcopy(ok_artifact)
    bad["summary"] = "oops"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    proc = nextstat("aggregate", "--suite", "t", "--runs", tmp_path, "--out", tmp_path / "s.json")
    assert proc.returncode == 2 and "bad.json: invalid run artifact: summary" in proc.stderr


def test_nodes_with_different_hardware_get_separate_rows(tmp_path, ok_artifact):
    """On a cluster, two nodes may report the same CPU model with different hardware
    (cores, memory): their runs must not be pooled into one row."""
    runs = tmp_path / "runs"
    for seed, hardware in [(1, "a" * 64), (2, "a" * 64), (3, "b" * 64)]:
        doc = _variant(ok_artifact, "stan_nuts", "stan_nuts", seed, 100.0, 0.1)
        doc["environment"]["hardware_sha256"] = hardware
        write_json(runs / f"{seed}.json", doc)
    summary = aggregate("t", sorted(runs.glob("*.json")))
    devices = sorted(r["device"] for r in summary["rows"])
    model = ok_artifact["environment"]["cpu"]["model"]
    assert devices == [f"{model} [hardware aaaaaaaa]", f"{model} [hardware bbbbbbbb]"]
    assert sorted(r["n_ok"] for r in summary["rows"]) == [1, 2]


def test_head_to_head_pairs_every_engine_but_the_reference_ours_on_top(tmp_path, ok_artifact):
    runs = tmp_path / "runs"
    for seed, ours, theirs in [(1, 300.0, 100.0), (2, 600.0, 150.0), (3, 900.0, 200.0)]:
        write_json(runs / f"ref{seed}.json", _variant(ok_artifact, "stan_nuts", "stan_nuts", seed, 50.0, 0.1))
        write_json(runs / f"ours{seed}.json", _variant(ok_artifact, "ours", "nextstat_nuts", seed, ours, 0.3))
        write_json(runs / f"zz{seed}.json", _variant(ok_artifact, "a_baseline", "numpyro_nuts", seed, theirs, 0.1))
    summary = aggregate("t", sorted(runs.glob("*.json")))
    write_report(summary, tmp_path / "report")
    text = (tmp_path / "report" / "DETAILS.md").read_text()
    assert "### Head to head, without `stan_nuts`" in text
    # ours is the numerator although its label sorts last; 600/150 = 4x, envelope 300/200 to 900/100
    assert any(
        "ours / a_baseline" in line and "4.00x [1.50, 9.00]" in line and "3.00x [3.00, 3.00]" in line
        for line in text.splitlines()
    )
    assert "stan_nuts /" not in text and "/ stan_nuts" not in text


def test_convergence_is_a_cost_ratio_with_its_own_table_and_chart(tmp_path, ok_artifact):
    """Fewer gradients per chain to converge is better: the ratio is the reference's over
    the row's; a run that never converged is counted, not averaged in."""
    runs = tmp_path / "runs"
    for seed, ours, theirs in [(1, 20.0, 400.0), (2, 30.0, 600.0), (3, None, 800.0)]:
        for label, engine, grads in (("theirs", "blackjax_mams", theirs), ("ours", "nextstat_laps", ours)):
            doc = _variant(ok_artifact, label, engine, seed, 100.0, 0.1)
            doc["convergence"] = {
                "statistic": "b2",
                "threshold": 0.01,
                "grads_per_chain_to_converge": grads,
                "iterations_to_converge": None if grads is None else 3,
                "b2_max_final": 0.02 if grads is None else 0.001,
                "grads_per_chain_total": 900.0,
                "curve": [[10.0, 1.0], [900.0, 0.001]],
            }
            if label == "ours":  # an artifact made before the settle figure existed has no such field
                doc["convergence"].update(
                    settle_iterations=10,
                    variance_of_square="reference draws",
                    grads_per_chain_to_settle=None if grads is None else 2 * grads,
                )
            write_json(runs / f"{label}{seed}.json", doc)
    summary = aggregate("t", sorted(runs.glob("*.json")), reference="theirs")
    assert validation_errors(summary) == []
    ours = next(r for r in summary["rows"] if r["label"] == "ours")
    assert ours["metrics"]["grads_per_chain_to_converge"]["median"] == 25.0
    assert ours["ratios"]["grads_per_chain_to_converge"]["ratio_of_medians"] == pytest.approx(600.0 / 25.0)
    text = write_report(summary, tmp_path / "report").read_text()
    assert "### Ensemble convergence" in text and "charts/convergence_" in text
    line = next(
        line for line in text.splitlines() if line.startswith("| std_normal_d10") and "| ours" in line and "2/3" in line
    )
    assert "24.00x" in line and "50 ± 14" in line and "2/3" in line
    theirs = next(
        line
        for line in text.splitlines()
        if line.startswith("| std_normal_d10") and "| theirs" in line and "600 ± 200" in line
    )
    assert "0/0" in theirs  # not traced for settling: nothing counted as unsettled
    assert "grads_per_chain_to_settle" not in ours["ratios"]  # the reference has no settle figure to divide
    # a many-chain table leads with convergence, in the TL;DR and in its section
    tldr = text.split("## TL;DR")[1].split("## Results")[0]
    # the reference has no settle figure, so the TL;DR leads with converging: theirs 600 over ours 25
    assert "grads/chain to converge (theirs / this) against `theirs`, on std_normal_d10: `ours` 24.00x" in tldr
    results = text.split("## Results")[1]
    assert results.index("### Ensemble convergence") < results.index("| case")
    assert list((tmp_path / "report" / "charts").glob("convergence_*.png"))
    # "theirs" predates the field, so its runs count as scaled by the Gaussian form and the case is named
    assert "Var[x²] is each reference's own, measured over its draws, except on std_normal_d10:" in text
    for doc_path in runs.glob("theirs*.json"):
        doc = json.loads(doc_path.read_text())
        doc["convergence"]["variance_of_square"] = "reference draws"
        write_json(doc_path, doc)
    text = write_report(aggregate("t", sorted(runs.glob("*.json")), reference="theirs"), tmp_path / "again").read_text()
    assert "Var[x²] is each reference's own, measured over its draws.\n" in text


def _engine_facts_suite(tmp_path, ok_artifact):
    """Stan through PyStan (the reference), our NUTS and NumPyro's, three seeds each."""
    runs = tmp_path / "runs"
    for seed, ours, theirs in [(1, 300.0, 100.0), (2, 600.0, 150.0), (3, 900.0, 200.0)]:
        ref = _variant(ok_artifact, "stan_nuts", "stan_nuts", seed, 50.0, 0.1)
        ref["engine_info"]["frontend"] = "pystan"
        write_json(runs / f"ref{seed}.json", ref)
        write_json(runs / f"ours{seed}.json", _variant(ok_artifact, "ours", "nextstat_nuts", seed, ours, 0.3))
        write_json(runs / f"zz{seed}.json", _variant(ok_artifact, "a_baseline", "numpyro_nuts", seed, theirs, 0.1))
    return runs


def test_the_summary_carries_what_the_engines_say_about_themselves(tmp_path, ok_artifact):
    """Whether an engine is ours, what its own settings mean and what its frontend implies
    come from its EngineSpec, through the summary; so does each run's reproducing command."""
    runs = _engine_facts_suite(tmp_path, ok_artifact)
    typo = copy.deepcopy(ok_artifact)  # the failed artifact of a mistyped --engine: an engine without facts
    typo.update(
        label="typo",
        engine="nope",
        seed=1,
        status="failed",
        reason="unknown engine 'nope'",
        timing=None,
        diagnostics=None,
        summary=None,
        quality=None,
        correctness=None,
        gradients=None,
    )
    write_json(runs / "typo.json", typo)
    summary = aggregate("t", sorted(runs.glob("*.json")))
    assert validation_errors(summary) == []
    engines = summary["protocol"]["engines"]
    assert engines["ours"]["ours"] is True and engines["a_baseline"]["ours"] is False
    assert engines["typo"]["ours"] is False and engines["typo"]["setting_docs"] == {}
    nuts = load_engine("nextstat_nuts").settings
    assert engines["ours"]["setting_docs"] == {name: setting.doc for name, setting in nuts.items()}
    # numpyro's only own setting is the one every JAX-density engine takes: which density it samples
    assert engines["a_baseline"]["setting_docs"] == {"density": DENSITY.doc}
    rows = {r["label"]: r for r in summary["rows"]}
    assert rows["stan_nuts"]["frontend_caveat"] == load_engine("stan_nuts").frontend_caveats["pystan"]
    assert rows["ours"]["frontend_caveat"] is None
    assert {run["command"] for run in summary["runs"]} == {ok_artifact["provenance"]["command"]}
    text = write_report(summary, tmp_path / "report").read_text()
    details = (tmp_path / "report" / "DETAILS.md").read_text()
    assert "**Stan rows ran through PyStan**" in text
    assert f"- `nextstat_nuts` `adaptation`: {nuts['adaptation'].doc}." in details
    assert "- `nextstat_nuts` `top_level_join`:" in details


def test_the_report_reads_the_summary_alone(tmp_path, ok_artifact):
    """The run artifacts may be gone: the report says what the summary says, and nothing
    that the summary does not."""
    runs = _engine_facts_suite(tmp_path, ok_artifact)
    summary = aggregate("t", sorted(runs.glob("*.json")))
    for path in runs.glob("*.json"):
        path.unlink()
    engines = summary["protocol"]["engines"]
    engines["ours"]["ours"], engines["a_baseline"]["ours"] = False, True
    engines["a_baseline"]["setting_docs"] = {"step": "a setting this summary made up"}
    for row in summary["rows"]:
        row["frontend_caveat"] = "**Rows of a test frontend.**" if row["label"] == "a_baseline" else None
    for run in summary["runs"]:
        run["command"] = f"nextstat run --seed {run['seed']} --as-kept-in-the-summary"
    text = write_report(summary, tmp_path / "report").read_text()
    details = (tmp_path / "report" / "DETAILS.md").read_text()
    assert any(line.startswith("| std_normal_d10") and "a_baseline / ours" in line for line in details.splitlines())
    assert "**Rows of a test frontend.**" in text and "PyStan" not in text + details
    assert "- `numpyro_nuts` `step`: a setting this summary made up." in details
    assert "--as-kept-in-the-summary" in text


def test_a_summary_written_before_the_engine_facts_still_reports(tmp_path, ok_artifact):
    """Older summaries (the pinned gate baseline among them) lack the engine facts and the
    commands: they stay valid, and their report says less."""
    summary = aggregate("t", sorted(_engine_facts_suite(tmp_path, ok_artifact).glob("*.json")))
    for info in summary["protocol"]["engines"].values():
        del info["ours"], info["setting_docs"]
    for row in summary["rows"]:
        del row["frontend_caveat"]
    for run in summary["runs"]:
        del run["command"]
    assert validation_errors(summary) == []
    text = write_report(summary, tmp_path / "report").read_text()
    details = (tmp_path / "report" / "DETAILS.md").read_text()
    assert "own settings, as each engine describes them" not in text + details and "PyStan" not in text + details
    assert any(line.startswith("| std_normal_d10") and "a_baseline / ours" in line for line in details.splitlines())
    example = summary["runs"][0]
    assert f"nextstat run --case {example['case']} --engine {example['engine']} --seed {example['seed']} ..." in text


def test_the_report_imports_nothing_from_the_engines():
    code = "import sys, nextstat.report; print(sorted(m for m in sys.modules if m.startswith('nextstat.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "nextstat.report" in loaded
    assert "nextstat.engines" not in loaded and "nextstat.aggregate" not in loaded


def test_nutpie_rows_are_labelled_callback_bound(tmp_path, ok_artifact):
    runs = tmp_path / "runs"
    for seed in (1, 2):
        write_json(runs / f"ref{seed}.json", _variant(ok_artifact, "stan_nuts", "stan_nuts", seed, 50.0, 0.1))
    summary = aggregate("t", sorted(runs.glob("*.json")))
    assert "callback-bound" not in write_report(summary, tmp_path / "without").read_text()
    for seed in (1, 2):
        nutpie = _variant(ok_artifact, "nutpie_nuts", "nutpie_nuts", seed, 20.0, 0.1)
        nutpie["engine_info"]["frontend"] = load_engine("nutpie_nuts").callback_bound_frontends[0]
        write_json(runs / f"nutpie{seed}.json", nutpie)
    summary = aggregate("t", sorted(runs.glob("*.json")))
    assert "**nutpie rows are callback-bound.**" in write_report(summary, tmp_path / "with").read_text()


def test_no_ess_per_second_ratio_is_quoted_against_a_callback_bound_stan(tmp_path, ok_artifact):
    """Stan through PyStan is callback-bound: its rows and the rows taken against it keep
    their ESS/grad ratios, and their ESS/s ratios say why they are not quoted."""
    summary = aggregate("t", sorted(_engine_facts_suite(tmp_path, ok_artifact).glob("*.json")))
    rows = {r["label"]: r for r in summary["rows"]}
    assert rows["stan_nuts"]["callback_bound"] and not rows["ours"]["callback_bound"]
    assert rows["ours"]["time_ratios_withheld"] == ["stan_nuts"]
    assert "ess_bulk_per_s" not in rows["ours"]["ratios"] and "ess_tail_per_s" not in rows["ours"]["ratios"]
    assert rows["ours"]["ratios"]["ess_bulk_per_grad"]["ratio_of_medians"] == pytest.approx(3.0)
    text = write_report(summary, tmp_path / "report").read_text()
    assert "not quoted: `stan_nuts` callback-bound" in (tmp_path / "report" / "DETAILS.md").read_text()
    # no row has an ESS/s ratio, so the headline leads with the first lead figure that has one
    assert "ESS/s vs stan_nuts" not in text and "ESS/grad vs stan_nuts" in text
    tldr = text.split("## TL;DR")[1].split("##")[0]
    assert "ESS/grad against `stan_nuts`, on std_normal_d10: `ours` 3.00x" in tldr and "x ESS/s" not in tldr
    assert "`stan_nuts` calls the density through a Python callback" in tldr
    # beside a row with an ESS/s ratio, a callback-bound row says why it has none, and is rated per gradient
    quoted = {"reference": "stan_nuts", "ratio_of_medians": 2.0, "envelope": None}
    rows["a_baseline"]["ratios"]["ess_bulk_per_s"] = quoted
    text = write_report(summary, tmp_path / "report").read_text()
    assert "not quoted: callback-bound" in text
    assert "`ours` not quoted (callback-bound; 3.00x ESS/grad)" in text.split("## Results")[0]


def test_rows_run_before_a_setting_existed_say_what_they_ran_as(tmp_path, ok_artifact):
    """BlackJAX MAMS artifacts from before its ``kernel`` setting ran the static kernel:
    the summary and the report say so instead of passing them off as today's default."""
    runs = tmp_path / "runs"
    for seed in (1, 2):
        old = _variant(ok_artifact, "blackjax_mams", "blackjax_mams", seed, 100.0, 0.1)
        new = _variant(ok_artifact, "blackjax_mams_dynamic", "blackjax_mams", seed, 100.0, 0.1)
        new["config"]["settings"]["kernel"] = "dynamic"
        write_json(runs / f"old{seed}.json", old)
        write_json(runs / f"new{seed}.json", new)
    summary = aggregate("t", sorted(runs.glob("*.json")), reference="blackjax_mams")
    assert validation_errors(summary) == []
    rows = {r["label"]: r for r in summary["rows"]}
    assert rows["blackjax_mams"]["settings_unrecorded"] == {"kernel": "static"}
    assert rows["blackjax_mams_dynamic"]["settings_unrecorded"] == {}
    text = write_report(summary, tmp_path / "report").read_text()
    assert "`blackjax_mams` as `kernel: static`" in text and "`blackjax_mams_dynamic` as" not in text


def test_controls_are_counted_apart_and_one_that_passes_is_named(tmp_path, ok_artifact):
    """A pathological control passes when its gate fails: the TL;DR says so, and a control
    whose gate passed is a run that needs a look."""
    runs = tmp_path / "runs"
    for seed in (1, 2):
        for label, engine in [("stan_nuts", "stan_nuts"), ("ours", "nextstat_nuts")]:
            doc = _variant(ok_artifact, label, engine, seed, 100.0, 0.1)
            doc["case_info"]["is_control"] = True
            passed = label == "ours" and seed == 2
            doc["quality"]["verdict"] = "unexpected-pass" if passed else "expected-fail"
            write_json(runs / f"{label}{seed}.json", doc)
    summary = aggregate("t", sorted(runs.glob("*.json")))
    text = write_report(summary, tmp_path / "report").read_text()
    tldr = text.split("## TL;DR")[1].split("\n## ")[0]
    assert "**1 of 4 control runs passed their health gate**: a control must fail." in tldr
    line = next(line for line in text.splitlines() if "control passed its health gate" in line)
    assert line.startswith("| `ours`") and "| 2 " in line
    for doc_path in runs.glob("ours2.json"):
        doc = json.loads(doc_path.read_text())
        doc["quality"]["verdict"] = "expected-fail"
        write_json(doc_path, doc)
    text = write_report(aggregate("t", sorted(runs.glob("*.json"))), tmp_path / "again").read_text()
    assert "The 4 runs of pathological controls failed their gate, as they must." in text
    assert "control passed" not in text


def test_the_papers_second_moment_cost_is_a_cost_ratio_a_suite_can_lead_with(tmp_path, ok_artifact):
    """Gradients per chain until b2 < 0.01 (moment_bias.py): the reference's over this row's,
    medians over the seeds that got there, and the detail says how many did."""
    assert ok_artifact["second_moment_bias"]["chains"] == 2  # every run with a reference measures it
    runs = tmp_path / "runs"
    for seed, theirs, ours in [(1, 600.0, 200.0), (2, 500.0, 300.0), (3, 700.0, None)]:
        for label, grads in (("theirs", theirs), ("ours", ours)):
            doc = _variant(ok_artifact, label, "blackjax_nuts", seed, 100.0, 0.1)
            doc["second_moment_bias"]["warmup_grads_per_chain"] = 100.0
            doc["second_moment_bias"]["b2_max"].update(
                grads_per_chain=None if grads is None else grads / 2,  # a first dip, not the cost
                grads_per_chain_to_stay=grads,
                final=0.05 if grads is None else 0.004,
            )
            write_json(runs / f"{label}{seed}.json", doc)
    summary = aggregate(
        "t", sorted(runs.glob("*.json")), reference="theirs", presentation={"lead": ["b2_max_grads_per_chain"]}
    )
    assert validation_errors(summary) == []
    ours = next(r for r in summary["rows"] if r["label"] == "ours")
    assert ours["metrics"]["b2_max_grads_per_chain"]["median"] == 250.0
    assert ours["ratios"]["b2_max_grads_per_chain"]["ratio_of_medians"] == pytest.approx(600.0 / 250.0)
    assert ours["ratios"]["b2_max_grads_per_chain_with_warmup"]["ratio_of_medians"] == pytest.approx(700.0 / 350.0)
    # the paper's count is the draw after which b2 stays below 0.01; the first dip is reported beside it
    assert ours["metrics"]["b2_max_grads_per_chain_first_dip"]["median"] == 125.0
    report = write_report(summary, tmp_path / "report")
    tldr = report.read_text().split("## TL;DR")[1].split("\n## ")[0]
    assert "grads/chain to b2max < 0.01 (theirs / this)" in tldr and "2.40x" in tldr
    details = (tmp_path / "report" / "DETAILS.md").read_text()
    line = next(line for line in details.splitlines() if line.startswith("| std_normal_d10 | ours "))
    cells = [cell.strip() for cell in line.split("|")]
    at = cells.index("250 (2/3 got there)")
    assert cells[at + 1].startswith("2.40x [")


def test_a_papers_printed_figures_stand_beside_the_rows_that_stand_for_its_samplers(tmp_path, ok_artifact):
    runs = tmp_path / "runs"
    for seed, grads in [(1, 200.0), (2, 300.0), (3, None)]:
        doc = _variant(ok_artifact, "ours", "blackjax_nuts", seed, 100.0, 0.1)
        doc["second_moment_bias"]["b2_max"].update(
            grads_per_chain_to_stay=grads, final=0.05 if grads is None else 0.004
        )
        write_json(runs / f"ours{seed}.json", doc)
    published = {
        "source": "A paper, Table 1",
        "note": "It ran 128 chains.",
        "figures": [
            {"case": "std_normal_d10", "sampler": "NUTS", "labels": ["ours", "absent"],
             "figure": "b2_max_grads_per_chain", "value": 1000},
            {"case": "std_normal_d10", "sampler": "Slow", "labels": ["ours"],
             "figure": "b2_max_grads_per_chain", "value": 1e8, "above": True},
            {"case": "std_normal_d10", "sampler": "NUTS", "labels": ["ours"], "figure": "ess_bulk_per_grad",
             "value": 0.05},
        ],
    }  # fmt: skip
    summary = aggregate("t", sorted(runs.glob("*.json")), reference="ours", presentation={"published": published})
    assert validation_errors(summary) == []
    text = write_report(summary, tmp_path / "report").read_text()
    section = text.split("## Against the published figures")[1].split("\n## ")[0]
    assert "Published: A paper, Table 1." in section and "It ran 128 chains." in section
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]] for line in section.splitlines() if line.startswith("| std")
    ]
    assert rows == [
        ["std_normal_d10", "NUTS", "grads/chain to b2max < 0.01", "1,000", "`ours`", "250 (2/3 got there)", "4.00x"],
        ["std_normal_d10", "NUTS", "grads/chain to b2max < 0.01", "1,000", "`absent`", "not in this suite", "—"],
        ["std_normal_d10", "Slow", "grads/chain to b2max < 0.01", "> 100,000,000", "`ours`", "250 (2/3 got there)",
         "> 400,000.00x"],
        ["std_normal_d10", "NUTS", "ESS/grad", "0.0500", "`ours`", "0.1000", "2.00x"],
    ]  # fmt: skip
    assert (tmp_path / "report" / "tables" / "published.csv").exists()


@pytest.mark.parametrize(
    "published, why",
    [
        ({"figures": []}, "expected a mapping with source and figures"),
        ({"source": "x", "figures": [{"case": "c", "sampler": "s", "labels": ["a"], "figure": "nope", "value": 1}]},
         "figure 'nope' is not one of"),
        ({"source": "x", "figures": [{"case": "c", "sampler": "s", "labels": ["a"], "figure": "ess_bulk_per_grad",
                                      "value": -1}]}, "is not a positive number"),
        ({"source": "x", "figures": [{"case": "c", "sampler": "s", "figure": "ess_bulk_per_grad", "value": 1}]},
         "each figure needs"),
    ],
)  # fmt: skip
def test_a_published_block_that_cannot_be_read_is_one_clear_line(published, why):
    from nextstat.cli_summaries import UsageError, _presentation

    with pytest.raises(UsageError, match=why):
        _presentation({"published": published}, "suite.yaml: report")


def test_a_size_sweep_gets_slopes_crossovers_and_a_chart(tmp_path, ok_artifact):
    runs = tmp_path / "runs"
    for d in (2, 10, 100):  # ESS/s as 2000 d^-1 and 100 d^-0.3: they cross between d = 10 and 100
        for label, ess in (("fast_small", 2000.0 / d), ("flat", 100.0 * d**-0.3)):
            for seed in (1, 2):
                doc = _variant(ok_artifact, label, "blackjax_nuts", seed, ess, 0.1)
                doc["case"] = f"std_normal_d{d}"
                write_json(runs / f"{label}{d}_{seed}.json", doc)
    summary = aggregate("t", sorted(runs.glob("*.json")), reference="flat")
    text = write_report(summary, tmp_path / "report").read_text()
    section = text.split("### How cost grows")[1].split("\n## ")[0]
    assert "**std_normal_d<d>**, d = 2, 10, 100" in section
    rows = {
        cells[0]: cells
        for cells in (
            [c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines() if line.startswith("| `")
        )
    }
    assert rows["`fast_small`"][1:5] == ["1,000.0", "200.0", "20.0", "-1.00"]
    assert rows["`flat`"][4] == "-0.30"
    table_rows = [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines() if line.startswith("|")]
    assert ["10 → 100", "`flat`", "`fast_small`"] in table_rows  # the crossover, in its table
    assert list((tmp_path / "report" / "charts").glob("scaling_*.png"))


def test_a_chain_sweep_gets_its_own_view_against_the_chain_count(tmp_path, ok_artifact):
    runs = tmp_path / "runs"
    for chains in (16, 256, 4096):  # µs per gradient of all chains together falling as chains^-0.8
        for seed in (1, 2):
            doc = _variant(ok_artifact, f"laps_chains{chains}", "nextstat_laps", seed, 10.0 * chains**0.5, 0.1)
            doc["config"]["budget"]["chains"] = chains
            doc["timing"]["sampling_us_per_grad"] = 100.0 * chains**-0.8
            write_json(runs / f"laps{chains}_{seed}.json", doc)
    for seed in (1, 2):
        write_json(runs / f"flat{seed}.json", _variant(ok_artifact, "flat", "blackjax_nuts", seed, 100.0, 0.1))
    summary = aggregate("t", sorted(runs.glob("*.json")), reference="flat")
    text = write_report(summary, tmp_path / "report").read_text()
    section = text.split("### How cost grows")[1].split("\n## ")[0]
    case = ok_artifact["case"]
    assert f"**chains on {case}**, chains = 16, 256, 4096" in section
    row = next(line for line in section.splitlines() if line.startswith("| `laps`"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[4] == "+0.50" and cells[6] == "-0.80", cells  # ESS/s at 16, 256, 4096 chains, then the slopes
    assert any("chains-on" in path.name for path in (tmp_path / "report" / "charts").glob("scaling_*.png"))


def test_a_chain_sweeps_rows_stay_out_of_the_size_sweep():
    """A row swept over its chain count at one size is a point of the chain sweep, not a
    one-size line in the dimension sweep's table."""
    from nextstat.report.scaling import sweeps

    rows = [{"case": f"std_normal_d{d}", "label": "nuts", "budget": {"chains": 4}} for d in (2, 10, 100)]
    rows += [{"case": "std_normal_d100", "label": f"laps_chains{n}", "budget": {"chains": n}} for n in (16, 64, 256)]
    found = sweeps(rows)  # type: ignore[arg-type]
    assert [(sweep.title, sweep.axis, sorted(sweep.by_label)) for sweep in found] == [
        ("std_normal_d<d>", "d", ["nuts"]),
        ("chains on std_normal_d100", "chains", ["laps"]),
    ]


def test_a_swept_row_that_diagnoses_a_subset_of_its_chains_is_said_to_undercount():
    from nextstat.report.scaling import _subset_notes, sweeps

    rows = [
        {"case": f"std_normal_d{d}", "label": label, "budget": {"chains": chains},
         "settings": {"report_chains": report} if report else {}}
        for d in (2, 10, 100)
        for label, chains, report in (("laps", 1024, 256), ("all_diagnosed", 256, 256), ("nuts", 4, None))
    ]  # fmt: skip
    (note, _) = _subset_notes(sweeps(rows))  # type: ignore[arg-type]
    assert "`laps` 256 of 1,024 (4x)" in note and "all_diagnosed" not in note and "nuts" not in note


def test_a_runs_off_reference_mark_follows_its_own_threshold():
    """An engine's means against the reference engine's are off above the threshold the
    summary recorded for their number of parameters (4 where an older summary has none)."""
    from nextstat.report.checks import failures

    def summary(*agreement):
        return {"reference_engine": "stan_nuts", "runs": [], "agreement": list(agreement)}

    def pair(max_z, **threshold):
        return {"backend": "cpu", "case": "wide", "label": "ours", "reference": "stan_nuts", "seed": 1,
                "max_z": max_z, "worst_parameter": "x[3]", **threshold}  # fmt: skip

    assert "None: no run failed" in "\n".join(failures(summary(pair(4.6, threshold=5.4))))
    listed = "\n".join(failures(summary(pair(5.6, threshold=5.4))))
    assert "off `stan_nuts`'s means" in listed and "max \\|z\\| 5.60 (x[3])" in listed
    assert "max \\|z\\| 4.60" in "\n".join(failures(summary(pair(4.6))))  # older summary: 4
