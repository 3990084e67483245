"""The ``nextstat`` commands for a suite's artifacts after its runs: validate, aggregate,
gate, report and reproduce (``cli`` builds the parser and holds the rest)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from .cli import EXIT_INVALID, EXIT_OK, UsageError
from .summary_types import HEADLINE_FIGURES, Presentation

#: What `validate --out` writes into a suite folder: the record of a check, not one of the
#: suite's artifacts, so validating a folder leaves it out.
VALIDATION_RECORD = "validation.json"


def _expand(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*.json") if not p.name.startswith(".") and p.name != VALIDATION_RECORD
            )
        else:
            files.append(path)
    return files


def cmd_validate(args) -> int:
    from .artifacts import VALIDATION_SCHEMA, ArtifactError, read_json, utc_now, validation_errors, write_json

    files = _expand(args.paths)
    if not files:
        raise UsageError(f"no artifacts found in {' '.join(args.paths)}")
    invalid = 0
    for path in files:
        try:
            errors = validation_errors(read_json(path))
        except ArtifactError as exc:
            errors = [str(exc).removeprefix(f"{path}: ")]
        if errors:
            invalid += 1
            print(
                f"{path}: INVALID: {errors[0]}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""),
                file=sys.stderr,
            )
    print(f"validated {len(files)} artifact(s): {len(files) - invalid} valid, {invalid} invalid")
    if invalid:
        return EXIT_INVALID
    if args.out:
        write_json(
            args.out,
            {
                "schema_version": VALIDATION_SCHEMA,
                "validated_utc": utc_now(),
                "artifacts": [str(p) for p in files],
                "valid": len(files),
            },
        )
    return EXIT_OK


def cmd_aggregate(args) -> int:
    from .aggregate import aggregate
    from .artifacts import SUMMARY_SCHEMA, ArtifactError, write_json
    from .engines import REFERENCE_ENGINE

    files = _expand(args.runs)
    if not files:
        raise UsageError(f"no run artifacts found in {' '.join(args.runs)}")
    presentation = _presentation(json.loads(args.presentation) if args.presentation else None, "--presentation")
    try:
        summary = aggregate(
            args.suite,
            files,
            reference=args.reference_engine or REFERENCE_ENGINE,
            benchmarks_dir=args.benchmarks,
            timing_paths=_expand(args.timings),
            presentation=presentation,
            sbc_paths=_expand(args.sbc),
        )
    except ArtifactError as exc:
        raise UsageError(str(exc)) from None
    write_json(args.out, summary, SUMMARY_SCHEMA)
    print(f"{args.suite}: {len(summary['runs'])} runs -> {len(summary['rows'])} rows -> {args.out}")
    return EXIT_OK


def cmd_gate(args) -> int:
    from .artifacts import GATE_SCHEMA, write_json
    from .gate import GateInputError, evaluate, load_policy, load_summary, markdown, rows_against_rows

    if (args.baseline is None) == (not args.rows):
        raise UsageError("gate: give --baseline SUMMARY, or --rows BASELINE=CURRENT (rows of --current), not both")
    try:
        policy = load_policy(args.policy)
        current = load_summary(args.current, "current")
        if args.rows:
            pairs = [tuple(pair.split("=", 1)) for pair in args.rows]
            if any(len(pair) != 2 or not all(pair) for pair in pairs):
                raise GateInputError(f"--rows {' '.join(args.rows)}: expected BASELINE=CURRENT labels")
            baseline, current = rows_against_rows(current, pairs)
            baseline_path = f"{args.current} rows {', '.join(b for b, _ in pairs)}"
        else:
            baseline, baseline_path = load_summary(args.baseline, "baseline"), args.baseline
        result = evaluate(baseline, current, policy, baseline_path, args.current)
    except GateInputError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out) if args.out else Path(args.current).with_name("gate.json")
    md_path = Path(args.markdown) if args.markdown else out.with_suffix(".md")
    write_json(out, result, GATE_SCHEMA)
    text = markdown(result)
    md_path.write_text(text)
    print(text)
    print(f"gate: {result['verdict']} -> {out}, {md_path}")
    return EXIT_OK if result["verdict"] == "pass" else EXIT_INVALID


def _presentation(block: Any, source: str) -> Presentation | None:
    """A suite's report: block, checked: the figures it leads with must be ones the
    summary has (``HEADLINE_FIGURES``), each declared difference a field, labels and why."""
    if not block:
        return None
    if not isinstance(block, dict) or set(block) - {"lead", "declared", "published"}:
        raise UsageError(f"{source}: expected a mapping with lead, declared and/or published, got {block!r}")
    unknown = [name for name in block.get("lead") or [] if name not in HEADLINE_FIGURES]
    if unknown:
        raise UsageError(
            f"{source}: lead: {', '.join(map(str, unknown))} not a headline figure "
            f"(one of {', '.join(HEADLINE_FIGURES)})"
        )
    for entry in block.get("declared") or []:
        if not isinstance(entry, dict) or set(entry) != {"field", "labels", "why"} or not entry["labels"]:
            raise UsageError(f"{source}: declared: each entry needs field, labels (a list) and why, got {entry!r}")
    if "published" in block:
        _check_published(block["published"], f"{source}: published")
    return cast(Presentation, block)


def _check_published(block: Any, source: str) -> None:
    """A publication's figures: a source, and per figure the case, the paper's sampler, the
    rows that stand for it, a headline figure and the printed value."""
    if not isinstance(block, dict) or not block.get("source") or not isinstance(block.get("figures"), list):
        raise UsageError(f"{source}: expected a mapping with source and figures (a list), got {block!r}")
    needed = {"case", "sampler", "labels", "figure", "value"}
    for entry in block["figures"]:
        if not isinstance(entry, dict) or needed - set(entry) or set(entry) - needed - {"above"}:
            raise UsageError(
                f"{source}: each figure needs {', '.join(sorted(needed))} (and may say above), got {entry!r}"
            )
        if entry["figure"] not in HEADLINE_FIGURES:
            raise UsageError(f"{source}: figure {entry['figure']!r} is not one of {', '.join(HEADLINE_FIGURES)}")
        if isinstance(entry["value"], bool) or not isinstance(entry["value"], (int, float)) or entry["value"] <= 0:
            raise UsageError(
                f"{source}: value {entry['value']!r} of {entry['case']}/{entry['sampler']} is not a positive number"
            )
        if not isinstance(entry["labels"], list) or not entry["labels"]:
            raise UsageError(f"{source}: labels of {entry['case']}/{entry['sampler']} must be a non-empty list")


def cmd_report(args) -> int:
    from .artifacts import SUMMARY_SCHEMA, ArtifactError, read_json, validation_errors
    from .report import write_report

    try:
        summary = read_json(args.summary)
    except ArtifactError as exc:
        raise UsageError(str(exc)) from None
    errors = validation_errors(summary, SUMMARY_SCHEMA)
    if errors:
        raise UsageError(f"{args.summary}: not a valid suite summary: {errors[0]}")
    if args.config:
        import yaml

        try:
            config = yaml.safe_load(Path(args.config).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"--config {args.config}: cannot read it: {exc}") from None
        presentation = _presentation((config or {}).get("report"), f"--config {args.config}: report")
        summary.pop("presentation", None)
        if presentation:
            summary["presentation"] = presentation
    path = write_report(summary, Path(args.out_dir))
    print(f"report: {path}")
    return EXIT_OK


def cmd_reproduce(args) -> int:
    from .artifacts import REPRODUCTION_SCHEMA, write_json
    from .reproduce import ReproduceError, markdown, reproduce

    try:
        result = reproduce(
            Path(args.path),
            args.sample,
            log=lambda line: print(line, file=sys.stderr, flush=True),
            checkout=args.checkout,
            jobs=args.jobs,
            cases=args.cases,
            labels=args.labels,
        )
    except ReproduceError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out or "reproduction.json")
    write_json(out, result, REPRODUCTION_SCHEMA)
    text = markdown(result)
    (Path(args.markdown) if args.markdown else out.with_suffix(".md")).write_text(text)
    print(text)
    return EXIT_OK if result["reproduced"] else EXIT_INVALID
