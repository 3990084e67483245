"""`nextstat batch`: command lines as the workflow writes them, run in one process."""

import json

import pytest

from nextstat import runner
from nextstat.batch import BatchError, parse_line, read_batch, run_batch

SNAKEMAKE_LINE = (
    "Shell command: NEXTSTAT_CACHE_DIR=/c /venv/bin/python -m nextstat run --suite laps-gpu --case eight_schools "
    "--engine blackjax_mams --label blackjax_mams_static --seed 42 --set 'kernel=\"static\"' --out r/s42.json "
    "> logs/s42.log 2>&1"
)


def test_a_snakemake_dry_run_line_parses_to_the_run_arguments_and_its_environment():
    line = parse_line(SNAKEMAKE_LINE, 3)
    assert line.environment == {"NEXTSTAT_CACHE_DIR": "/c"}
    assert line.argv[0] == "run" and line.argv[-2:] == ["--out", "r/s42.json"]
    assert 'kernel="static"' in line.argv and ">" not in " ".join(line.argv)
    assert line.title == "eight_schools / blackjax_mams_static / seed 42"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nextstat timing --case eight_schools --out t.json", "only `nextstat run`"),
        ("python train.py --epochs 3", "not a nextstat command"),
        ("nextstat run --case 'unclosed", "cannot be split"),
    ],
)
def test_lines_that_are_not_run_commands_are_refused_with_their_line_number(text, message):
    with pytest.raises(BatchError, match=f"line 7: {message}"):
        parse_line(text, 7)


def test_a_batch_runs_every_line_goes_on_after_a_failure_and_keeps_finished_artifacts(tmp_path):
    done = tmp_path / "done.json"
    done.write_text(json.dumps({"status": "ok"}))
    batch = tmp_path / "batch.txt"
    batch.write_text(
        "# comment\n\n"
        f"nextstat run --case a --seed 1 --out {done}\n"
        f"nextstat run --case b --seed 2 --out {tmp_path / 'new' / 'b.json'}\n"
        f"nextstat run --case c --seed 3 --out {tmp_path / 'c.json'}\n"
    )
    lines = read_batch(batch)
    assert [line.number for line in lines] == [3, 4, 5]
    calls, starts = [], []

    def run_command(argv):
        calls.append(argv[argv.index("--case") + 1])
        starts.append(runner.PROCESS_START[-1])  # each run's process_s counts from its own start
        if "c" in calls[-1]:
            raise RuntimeError("engine crashed")
        return 0

    counts = run_batch(lines, run_command, skip_existing=True, progress=lambda _: None)
    assert calls == ["b", "c"] and counts == {"ran": 1, "failed": 1, "skipped": 1}
    assert starts[0] <= starts[1] and runner.PROCESS_START == []
