import json
from pathlib import Path

import jsonschema
import pytest

from nextstat.artifacts import ArtifactError, validation_errors, write_json
from nextstat.engines import Budget
from nextstat.paths import schemas_dir
from nextstat.run_spec import RunSpec
from nextstat.runner import input_error_artifact


@pytest.mark.parametrize("path", sorted(schemas_dir().glob("*.schema.json")), ids=lambda p: p.name)
def test_schemas_are_valid_2020_12(path):
    jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_real_run_artifact_is_valid(artifact):
    assert artifact["status"] == "ok"
    assert validation_errors(artifact) == []
    assert set(artifact["summary"]) == {f"x[{i}]" for i in range(1, 11)}
    assert artifact["environment"]["packages"]["blackjax"] == "1.7.1"
    assert artifact["fairness"]["chain_method"] == "sequential"
    assert artifact["timing"]["peak_rss_mb"] > 50  # a process that imported JAX and BlackJAX


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda a: a.pop("seed"), "<root>: 'seed' is a required property"),
        (lambda a: a["diagnostics"].__setitem__("max_rhat", "high"), "diagnostics.max_rhat"),
        (lambda a: a["summary"]["x[1]"].pop("mcse"), "summary.x[1]"),
        (lambda a: a.__setitem__("status", "great"), "status"),
        (lambda a: a["fairness"].__setitem__("dtype", "float16"), "fairness.dtype"),
        (lambda a: a["environment"].__setitem__("hardware_sha256", "xyz"), "environment.hardware_sha256"),
        (lambda a: a.__setitem__("reason", "ok runs carry no reason"), "reason"),
    ],
)
def test_corrupted_artifacts_name_the_failing_field(artifact, mutate, field):
    mutate(artifact)
    errors = validation_errors(artifact)
    assert errors and any(e.startswith(field) for e in errors), errors


def test_failed_and_skipped_artifacts_are_schema_valid(artifact):
    failed = input_error_artifact(
        RunSpec("nope", "blackjax_nuts", 1, Budget(1, 0, 4), suite="t", out="x.json"), "unknown case 'nope'"
    )
    assert failed["status"] == "failed" and validation_errors(failed) == []
    skipped = {
        **artifact,
        "status": "skipped",
        "reason": "no Stan program",
        "timing": None,
        "diagnostics": None,
        "summary": None,
        "quality": None,
        "correctness": None,
        "gradients": None,
    }
    assert validation_errors(skipped) == []
    assert validation_errors({**skipped, "reason": None})  # a skip must say why


def test_write_is_atomic_and_refuses_invalid_documents(tmp_path, artifact):
    path = tmp_path / "run.json"
    write_json(path, artifact)
    assert json.loads(path.read_text())["seed"] == artifact["seed"]
    artifact["seed"] = -1
    with pytest.raises(ArtifactError, match="seed"):
        write_json(path, artifact)
    assert json.loads(path.read_text())["seed"] != -1  # the good file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary left behind


def test_a_copy_without_git_names_its_commit_through_the_environment(monkeypatch):
    from nextstat import environment

    def no_git(*args, **kwargs):
        raise OSError("git: not found")

    monkeypatch.setattr(environment.subprocess, "run", no_git)
    monkeypatch.delenv("NEXTSTAT_GIT_COMMIT", raising=False)
    assert environment.git_state() == {"commit": None, "dirty": None}
    monkeypatch.setenv("NEXTSTAT_GIT_COMMIT", "c" * 40)
    assert environment.git_state() == {"commit": "c" * 40, "dirty": None}


def test_the_headline_figures_a_suite_may_lead_with_are_the_same_in_both_schemas():
    """The suite config's ``report.lead`` and the summary's ``presentation.lead`` accept exactly
    the figures the report knows how to title (summary_types.HEADLINE_FIGURES)."""
    import yaml

    from nextstat.summary_types import HEADLINE_FIGURES

    summary = json.loads((schemas_dir() / "suite_summary.v1.schema.json").read_text())
    config = yaml.safe_load((Path(__file__).parents[1] / "workflow" / "schemas" / "config.schema.yaml").read_text())
    in_summary = summary["properties"]["presentation"]["properties"]["lead"]["items"]["enum"]
    in_config = config["properties"]["report"]["properties"]["lead"]["items"]["enum"]
    assert in_summary == in_config == list(HEADLINE_FIGURES)


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[1] / "config" / "suites").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_committed_suite_is_a_valid_configuration_with_a_readable_report_block(path):
    import yaml

    from nextstat.cli_summaries import _presentation

    root = Path(__file__).parents[1]
    schema = yaml.safe_load((root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    suite = yaml.safe_load(path.read_text())
    # a suite's file is laid over config/config.yaml, as `--configfile` lays it in the workflow
    config = {**yaml.safe_load((root / "config" / "config.yaml").read_text()), **suite}
    jsonschema.validate(config, schema)
    _presentation(suite.get("report"), f"{path.name}: report")
