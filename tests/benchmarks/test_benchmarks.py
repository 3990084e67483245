"""The side-by-side benchmarks run end to end on a tiny budget and print their tables
(their figures are measurements for the reports, never asserted here)."""

import os

import pytest

from nextstat.benchmarks import laps_steps, metric_ceiling


def test_metric_ceiling_prints_every_metric_and_the_summary(tmp_path, capsys):
    out = tmp_path / "ceiling.md"
    metric_ceiling.main(
        [
            "std_normal_d2",
            "--seeds",
            "1",
            "--warmup",
            "150",
            "--draws",
            "200",
            "--reference-draws",
            "300",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in text.splitlines()
        if line.startswith("| std_normal_d2")
    ]
    assert [row[1] for row in rows] == list(metric_ceiling.VARIANTS)
    assert rows[0][3] == "1.00x"  # the baseline against itself
    assert "median over cases vs stan" in text
    assert out.read_text().startswith(
        "# Metric ceiling, std_normal_d2: `python -m nextstat.benchmarks.metric_ceiling std_normal_d2`"
    )


def test_laps_steps_prints_one_row_per_step_count(tmp_path, capsys):
    out = tmp_path / "steps.md"
    laps_steps.main(
        [
            "std_normal_d2",
            "--steps",
            "1",
            "2",
            "--seeds",
            "1",
            "--chains",
            "64",
            "--report-chains",
            "32",
            "--warmup",
            "60",
            "--draws",
            "100",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert "**std_normal_d2**: the chooser picked" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2
    assert out.read_text().startswith("# LAPS steps per draw")


def test_far_starts_prints_one_row_per_variant(tmp_path, capsys):
    from nextstat.benchmarks import far_starts

    out = tmp_path / "far.md"
    far_starts.main(
        [
            "std_normal_d2",
            "--seeds",
            "1",
            "--variants",
            "all",
            "none",
            "--warmup",
            "100",
            "--draws",
            "100",
            "--chains",
            "2",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert "| all " in printed and "| none " in printed
    assert out.read_text().startswith("# Far starts")


def test_mams_length_rule_runs_both_rules_on_the_same_chains(tmp_path, capsys):
    from nextstat.benchmarks import mams_length_rule

    out = tmp_path / "rule.md"
    mams_length_rule.main(
        ["std_normal_d2", "--seeds", "1", "--budget", "2x200x200", "--set", "length_jitter=uniform", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in printed.splitlines() if line.startswith("| std_normal_d2 ")]
    assert [cells[1].strip() for cells in rows] == ["mean-ess", "per-parameter"]
    assert rows[0][-1].strip().endswith("x")  # the tail-ESS gain of the paper's rule, a ratio
    assert out.read_text().startswith("# MAMS: the trajectory length")
    assert "--set length_jitter=uniform`" in out.read_text()  # the table says which settings made it
    with pytest.raises(SystemExit):
        mams_length_rule.main(["std_normal_d2", "--budget", "2x200"])
    with pytest.raises(SystemExit):  # a setting the engine does not have is named, not ignored
        mams_length_rule.main(["std_normal_d2", "--budget", "2x200x200", "--set", "no_such_setting=1"])


def test_mams_length_factor_sets_each_variant_beside_the_first_and_a_committed_row(tmp_path, capsys):
    import json

    from nextstat.benchmarks import mams_length_factor

    summary = tmp_path / "summary.json"  # a committed row, as a suite summary holds it
    metrics = {"ess_bulk_per_grad": {"median": 0.5}, "ess_tail_per_grad": {"median": 0.25}}
    summary.write_text(json.dumps({"rows": [{"case": "std_normal_d2", "label": "nuts", "metrics": metrics}]}))
    out = tmp_path / "factor.md"
    mams_length_factor.main(
        ["std_normal_d2", "--variants", "0.4:none", "1.6:uniform", "--seeds", "1", "--budget", "2x200x200"]
        + ["--against", str(summary), "nuts", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    case_row = next(line for line in printed.splitlines() if line.startswith("| std_normal_d2 "))
    cells = [cell.strip() for cell in case_row.split("|")[2:-1]]
    assert len(cells) == 8  # bulk, tail, gradients a draw and the b2 cost for each variant
    steps = float(cells[2]), float(cells[6])
    assert cells[3] != "—"  # the standard normal's reference has second moments: a count or "never"
    assert steps[1] > steps[0]  # four times the factor: more steps a draw
    baseline = next(line for line in printed.splitlines() if line.startswith("| 0.4:none "))
    assert baseline.split("|")[2].strip() == "1.00x"  # the first variant over itself
    against = float(baseline.split("|")[4].strip().rstrip("x"))
    assert against == pytest.approx(float(cells[0]) / 0.5, abs=0.01)  # bulk over the committed row's 0.5
    assert out.read_text().startswith("# MAMS: the trajectory length's factor")
    with pytest.raises(SystemExit):
        mams_length_factor.main(["std_normal_d2", "--variants", "long:none"])
    with pytest.raises(SystemExit):  # a row the summary does not have is named before any run
        mams_length_factor.main(["std_normal_d2", "--against", str(summary), "no_such_row"])


def test_mams_metric_cost_times_both_forms_of_the_preconditioner(tmp_path, capsys):
    from nextstat.benchmarks import mams_metric_cost

    out = tmp_path / "cost.md"
    mams_metric_cost.main(["--dims", "3", "--draws", "5", "--repeats", "1", "--out", str(out)])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 3 |")][0]
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert float(cells[1]) > 0 and float(cells[2]) > 0 and cells[3].endswith("x")
    assert out.read_text().startswith("# MAMS: a dense preconditioner's cost")
    with pytest.raises(SystemExit):
        mams_metric_cost.main(["--dims", "0"])


def test_mams_settle_runs_each_chain_with_and_without_the_check(tmp_path, capsys):
    """Chains the check leaves alone print the same figures both ways (their draws are the
    same); the summary counts chains the check resumed and frozen chains both ways."""
    from nextstat.benchmarks import mams_settle

    out = tmp_path / "settle.md"
    mams_settle.main(["std_normal_d2", "--seed", "1", "--chains", "2", "--warmup", "100", "--draws", "20", "--all"])
    printed = capsys.readouterr().out
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in printed.splitlines() if line.startswith("| ")]
    rows = [cells for cells in rows if cells[0].isdigit()]
    assert [cells[0] for cells in rows] == ["0", "1"]
    for cells in rows:
        assert len(cells) == 12
        if cells[6] == "0":
            assert cells[1:6] == cells[7:12]
    assert "2 chains; the check resumed warmup on" in printed
    mams_settle.main(["std_normal_d2", "--chains", "1", "--warmup", "100", "--draws", "5", "--out", str(out)])
    assert out.read_text().startswith("# The settle check on std_normal_d2, seed 123")
    with pytest.raises(SystemExit):
        mams_settle.main(["std_normal_d2", "--adaptation", "dense"])


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
    reason="pinning a run to a CPU of its own needs 2 usable CPUs",
)
def test_pinning_runs_every_cell_pinned_or_not_as_asked(tmp_path, monkeypatch, capsys):
    from nextstat.benchmarks import pinning

    monkeypatch.setattr(pinning, "BUDGET", "2x50x50")
    monkeypatch.setattr(pinning, "ENGINES", ("nextstat_nuts",))
    out = tmp_path / "PINNING.md"
    pinning.main(["--case", "std_normal_d2", "--seeds", "1", "--out", str(out)])
    rows = [line for line in out.read_text().splitlines() if line.startswith("| nextstat_nuts")]
    # unpinned and pinned, alone and beside a busy loop; a run that ignored the ask would have raised
    assert [tuple(cell.strip() for cell in row.split("|")[2:4]) for row in rows] == [
        ("no", "no"),
        ("yes", "no"),
        ("no", "yes"),
        ("yes", "yes"),
    ]
    assert all(float(row.split("|")[4]) > 0 for row in rows)
    assert capsys.readouterr().out.count("| nextstat_nuts") == 4


def test_nutpie_schedule_scores_every_variant_against_nutpie(tmp_path, capsys):
    """Two of our variants and nutpie on a tiny budget: a summary row per variant and a
    per-posterior row for nutpie (the baseline, 1) and each variant."""
    pytest.importorskip("nutpie", reason="nutpie is the baseline of this benchmark")
    from nextstat.benchmarks import nutpie_schedule

    out = tmp_path / "schedule.md"
    variants = [nutpie_schedule.OURS, nutpie_schedule.STAN_WINDOWS]
    argv = ["std_normal_d2", "--seeds", "1", "--budget", "2x150x200", "--variants", "all", "stan-windows"]
    argv += ["--out", str(out)]
    nutpie_schedule.main(argv)
    text = capsys.readouterr().out
    summary_table, per_posterior_table = text.split("Per posterior")
    summary = [line.split("|")[1].strip() for line in summary_table.splitlines() if line.startswith("| ours,")]
    assert summary == variants  # one summary row per variant, in order
    rows = [line.split("|")[2].strip() for line in per_posterior_table.splitlines() if line.startswith("|")]
    assert rows[2:] == ["nutpie", *variants]  # after the header and its rule
    assert out.read_text().startswith(
        "# nutpie's schedule, element by element: `python -m nextstat.benchmarks.nutpie_schedule std_normal_d2"
    )


def test_shared_programs_runs_each_engine_both_ways(capsys):
    from nextstat.benchmarks import shared_programs

    shared_programs.main(["--case", "eight_schools", "--replications", "2", "--engines", "nextstat_nuts"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("nextstat_nuts")]
    assert len(rows) == 1
    assert "bit-identical draws in" in rows[0] and "of 2 replications" in rows[0]
