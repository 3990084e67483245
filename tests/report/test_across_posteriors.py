"""The view for suites of many posteriors: each row's ESS per gradient relative to the
reference as a distribution over posteriors (REPORT.md's headline table), then per
posterior with failures named (DETAILS.md)."""

import copy

from nextstat.aggregate import aggregate
from nextstat.artifacts import validation_errors, write_json
from nextstat.engines.nutpie_nuts import FRONTEND
from nextstat.report import write_report


def _run(base, case, label, engine, seed, ess_per_grad, tail):
    doc = copy.deepcopy(base)
    doc.update(case=case, label=label, engine=engine, seed=seed)
    doc["diagnostics"]["ess_bulk_per_grad"] = ess_per_grad
    doc["diagnostics"]["min_ess_tail"], doc["gradients"]["sampling"] = tail, 10_000
    return doc


def _suite(tmp_path, ok_artifact, n_cases=9):
    runs = tmp_path / "runs"
    for i in range(n_cases):
        case = f"pdb:posterior_{i}"
        for seed in (1, 2, 3):
            rows = {
                ("stan_nuts", "stan_nuts"): (0.1, 1000.0),
                # ours: 0.5x .. 2.5x of Stan's bulk ESS/grad over the posteriors, tail 2x everywhere
                ("nextstat_nuts", "nextstat_nuts"): (0.1 * (0.5 + 0.25 * i), 2000.0),
                ("nextstat_mams", "nextstat_mams"): (0.2, 1000.0),
            }
            for (label, engine), (bulk, tail) in rows.items():
                write_json(runs / f"{i}-{label}-{seed}.json", _run(ok_artifact, case, label, engine, seed, bulk, tail))
    return aggregate("t", sorted(runs.glob("*.json")))


def test_each_row_gets_median_quartiles_and_worst_over_posteriors(tmp_path, ok_artifact):
    summary = _suite(tmp_path, ok_artifact)
    summary["presentation"] = {"lead": ["ess_bulk_per_grad", "ess_tail_per_grad"]}
    assert validation_errors(summary) == []
    main = write_report(summary, tmp_path / "report").read_text()
    text = (tmp_path / "report" / "DETAILS.md").read_text()
    # the headline: ratios 0.5, 0.75, ..., 2.5: median 1.5, quartiles 1.0 and 2.0, worst 0.5; tail 2x on each
    line = next(line for line in main.splitlines() if line.startswith("| `nextstat_nuts`"))
    assert "1.50x [1.00, 2.00], 0.50x" in line and "2.00x [2.00, 2.00], 2.00x" in line and "| 2/9 " in line
    # health pass and runs ok, summed over the posteriors (the short test runs fail their gate's ESS minimum)
    assert "| 0/27 " in line and "| 27/27 " in line
    assert "`nextstat_nuts` 1.50x [0.50x]" in main.split("## Results")[0]  # the TL;DR: median [worst]
    assert "Per posterior" not in main and "### Across 9 posteriors" not in main
    assert "### Across 9 posteriors: ESS per gradient relative to `stan_nuts`" in text
    line = next(line for line in text.splitlines() if line.startswith("| `nextstat_nuts`"))
    assert "1.50x [1.00, 2.00], 0.50x" in line and "2.00x [2.00, 2.00], 2.00x" in line and "| 2/9 " in line
    assert (tmp_path / "report" / "charts" / "sorted_ratios_cpu-cpu.png").exists() or any(
        p.name.startswith("sorted_ratios_") for p in (tmp_path / "report" / "charts").iterdir()
    )
    assert "#### Per posterior: bulk / tail ESS per gradient relative to `stan_nuts`" in text
    assert any(line.startswith("| pdb:posterior_0 ") and "0.50 / 2.00" in line for line in text.splitlines())
    # our MAMS against our NUTS, per posterior: 0.2 / 0.05 = 4x on the first
    assert "#### Our other samplers against `nextstat_nuts`, per posterior (ESS per gradient)" in text
    assert any(line.startswith("| pdb:posterior_0 ") and "4.00x" in line for line in text.splitlines())


def test_a_few_cases_get_no_such_view(tmp_path, ok_artifact):
    summary = _suite(tmp_path, ok_artifact, n_cases=3)
    text = write_report(summary, tmp_path / "report").read_text() + (tmp_path / "report" / "DETAILS.md").read_text()
    assert "Across 3 posteriors" not in text and "Per posterior" not in text
    # a row per case and engine in the headline instead, and the TL;DR names each case's ratio
    assert any(line.startswith("| pdb:posterior_2 | `nextstat_nuts`") for line in text.splitlines())


def _report_of_rows(tmp_path, ok_artifact, rows_of):
    """Nine posteriors x three seeds of the rows ``rows_of(i)`` gives for posterior i,
    {(label, engine, adaptation or None): bulk ESS per gradient}; REPORT.md and DETAILS.md."""
    runs = tmp_path / "runs"
    for i in range(9):
        for seed in (1, 2, 3):
            for (label, engine, adaptation), bulk in rows_of(i).items():
                doc = _run(ok_artifact, f"pdb:posterior_{i}", label, engine, seed, bulk, 1000.0)
                if adaptation:
                    doc["config"]["settings"]["adaptation"] = adaptation
                write_json(runs / f"{i}-{label}-{seed}.json", doc)
    text = write_report(aggregate("t", sorted(runs.glob("*.json"))), tmp_path / "report").read_text()
    return text, (tmp_path / "report" / "DETAILS.md").read_text()


def test_our_rows_meet_other_libraries_rows_of_the_same_adaptation(tmp_path, ok_artifact):
    """Our Fisher row against nutpie's Fisher row (same ``adaptation`` setting), summarised
    over posteriors and per posterior; rows without that setting, or with another value,
    are not paired."""
    text, details = _report_of_rows(
        tmp_path,
        ok_artifact,
        lambda i: {
            ("stan_nuts", "stan_nuts", None): 0.1,
            ("nextstat_nuts", "nextstat_nuts", "stan"): 0.1,
            ("nextstat_nuts_fisher", "nextstat_nuts", "fisher"): 0.1 * (1 + i),
            ("nutpie_nuts", "nutpie_nuts", "fisher"): 0.2,
            ("nutpie_nuts_lowrank", "nutpie_nuts", "fisher-lowrank"): 0.3,
        },
    )
    assert "#### Our rows against another library's with the same metric adaptation\n" in text
    paired = [line for line in text.splitlines() if line.startswith("| `nextstat_nuts") and "` / `" in line]
    assert len(paired) == 1 and "`nextstat_nuts_fisher` / `nutpie_nuts`" in paired[0]
    # ratios 0.5, 1.0, ..., 4.5 over the nine posteriors: median 2.5, quartiles 1.5 and 3.5, worst 0.5
    assert "2.50x [1.50, 3.50], 0.50x" in paired[0] and "| 1/9 " in paired[0]
    cells = [cell.strip() for cell in paired[0].split("|")[1:-1]]
    assert cells[-2] == "1.00x [1.00, 1.00], 1.00x"  # bulk ESS/s: the same in every run here
    assert "#### Our rows against another library's with the same metric adaptation, per posterior" in details
    assert any(line.startswith("| pdb:posterior_0 ") and "| 0.50 / " in line for line in details.splitlines())


def test_our_other_samplers_meet_our_nuts_with_the_same_metric_or_both_at_their_defaults(tmp_path, ok_artifact):
    """Our low-rank MAMS against our low-rank NUTS (same ``adaptation``), our default MAMS
    against our default NUTS (the rows labelled as their engines); not across metrics."""
    text, details = _report_of_rows(
        tmp_path,
        ok_artifact,
        lambda i: {
            ("stan_nuts", "stan_nuts", None): 0.1,  # the reference
            ("nextstat_nuts", "nextstat_nuts", "stan"): 0.1,
            ("nextstat_nuts_fisher_lowrank", "nextstat_nuts", "fisher-lowrank"): 1.0,
            ("nextstat_mams", "nextstat_mams", "variance"): 0.1 * (1 + i),
            ("nextstat_mams_fisher_lowrank", "nextstat_mams", "fisher-lowrank"): 0.8,
        },
    )
    assert (
        "#### Our other samplers against our NUTS with the same metric adaptation (or both at their defaults)" in text
    )
    paired = [line for line in text.splitlines() if "` / `" in line and line.startswith("| `nextstat_mams")]
    assert len(paired) == 2
    low_rank = next(
        line for line in paired if "`nextstat_mams_fisher_lowrank` / `nextstat_nuts_fisher_lowrank`" in line
    )
    assert "0.80x [0.80, 0.80], 0.80x" in low_rank and "| 9/9 " in low_rank
    defaults = next(line for line in paired if "`nextstat_mams` / `nextstat_nuts`" in line)
    assert "| variance / stan |" in defaults and "5.00x [3.00, 7.00], 1.00x" in defaults
    assert "Our rows against another library's" not in text  # no other library here
    assert (
        "#### Our other samplers against our NUTS with the same metric adaptation (or both at their defaults), per"
        in (details)
    )


def test_where_ess_per_second_leads_each_posterior_gets_its_ratio_and_callback_bound_rows_none(tmp_path, ok_artifact):
    runs = tmp_path / "runs"
    for i in range(9):
        for seed in (1, 2, 3):
            for label, engine, per_s, frontend in (
                ("stan_nuts", "stan_nuts", 100.0, None),
                ("nextstat_nuts", "nextstat_nuts", 100.0 * (1 + i), None),
                ("nutpie_nuts", "nutpie_nuts", 50.0, FRONTEND),
            ):
                doc = _run(ok_artifact, f"pdb:posterior_{i}", label, engine, seed, 0.1, 1000.0)
                doc["diagnostics"]["ess_bulk_per_s"] = per_s
                if frontend:
                    doc["engine_info"]["frontend"] = frontend
                write_json(runs / f"{i}-{label}-{seed}.json", doc)
    summary = aggregate("t", sorted(runs.glob("*.json")))
    assert [r["callback_bound"] for r in summary["rows"] if r["label"] == "nutpie_nuts"][0]
    write_report(summary, tmp_path / "report")  # ESS/s leads by default
    details = (tmp_path / "report" / "DETAILS.md").read_text()
    section = details.split("#### Per posterior: bulk ESS/s relative to `stan_nuts`")[1].split("\n#")[0]
    assert "not quoted, callback-bound: `nutpie_nuts`" in section and "| `nutpie_nuts`" not in section
    assert any(
        line.startswith("| pdb:posterior_2 ") and "| 100 " in line and "3.00x" in line for line in section.splitlines()
    )
