"""``nextstat reproduce``: rerun recorded runs from their own record and say whether they reproduced.

A record is one run artifact, a suite summary, or a report folder (the ``summary.json`` a
report writes beside ``REPORT.md``). Each recorded run is run again in a fresh process with
its recorded command (for a summary whose artifacts are gone, the command rebuilt from the
run's record), its output in a scratch folder, and compared with the record:

- **exact** where the code (commit, or nextstat's installed version), the software
  (every tracked package's version, Python), the CPU (model and instruction-set flags) and the
  backend are the same:
  the sha256 of the float64 draws must match (``draws_sha256``, recorded by every artifact
  since it existed and kept by every summary since, so a summary alone, on a fresh clone
  without the run artifacts, is checked exactly); older artifacts are compared on their
  posterior summaries, every figure equal, and older summaries on every figure they keep
  that the draws alone decide (ESS, R-hat, steps per draw, |z|: not the clocks). A rerun in
  another environment whose draws are nonetheless identical says so beside its verdict;
- **statistical** otherwise, with the differences of environment listed first: every
  posterior mean within the z rule of the record's (|z| below the correctness threshold for
  as many parameters, ``diagnostics.correctness_z_limit``: 4 for one, on both Monte Carlo errors),
  bulk ESS per gradient within the seed envelope of the record's row widened by 1.25 (a
  summary) or within a factor of 2 of the record's (one artifact), and the same health
  verdict.

Anything else is **not reproduced**, with the reason. ``--sample N`` reruns the first N
seeds of each row (deterministic), ``--case`` / ``--label`` patterns select rows, ``--jobs``
reruns side by side, and ``--checkout auto`` reruns each run with its own commit's code
(``source_history`` finds it by the run's recorded source digest). The verdicts are a
schema-valid artifact and a markdown table; the command exits 0 only when every run
reproduced.
"""

from __future__ import annotations

import fnmatch
import json
import math
import shlex
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .artifacts import REPRODUCTION_SCHEMA, RUN_SCHEMA, SUMMARY_SCHEMA, ArtifactError, read_json, utc_now
from .diagnostics import correctness_z_limit

SINGLE_RUN_FACTOR = 2.0  # ESS per gradient of one run, rerun elsewhere: within this factor
ENVELOPE_SLACK = 1.25  # ... of a summary's row: within its seeds' [min, max], widened by this factor
EXACT, STATISTICAL, NOT_REPRODUCED = "exact", "statistical", "not reproduced"
AUTO = "auto"  # --checkout auto: each run's own commit, found by its source digest


class ReproduceError(ValueError):
    """A path that holds no record to reproduce."""


def recorded_runs(
    path: Path, sample: int | None, cases: str | None = None, labels: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(the runs to rerun, each {"record", "artifact" or None, "envelope"}, the summary or None);
    ``cases`` and ``labels``: shell patterns (fnmatch) a summary's rows must match."""
    if path.is_dir():
        candidate = path / "summary.json"
        if not candidate.is_file():
            raise ReproduceError(
                f"{path}: no summary.json in this folder (reports written before `nextstat report` kept their "
                "summary have none: pass results/<suite>/summary.json, or rerun the suite)"
            )
        path = candidate
    try:
        doc = read_json(path)
    except ArtifactError as exc:
        raise ReproduceError(str(exc)) from None
    kind = doc.get("schema_version") if isinstance(doc, dict) else None
    if kind == RUN_SCHEMA:
        return [{"record": doc, "artifact": doc, "envelope": None}], None
    if kind != SUMMARY_SCHEMA:
        raise ReproduceError(f"{path}: neither a run artifact nor a suite summary (schema_version {kind!r})")
    rows = {(r["backend"], r["case"], r["label"]): r for r in doc["rows"]}
    by_row: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for run in doc["runs"]:
        by_row[(run["backend"], run["case"], run["label"])].append(run)
    chosen = []
    for key, runs in sorted(by_row.items()):
        if (cases and not fnmatch.fnmatchcase(key[1], cases)) or (labels and not fnmatch.fnmatchcase(key[2], labels)):
            continue
        runs = sorted(runs, key=lambda r: r["seed"])[: sample or None]
        row = rows.get(key)
        stats = (row or {}).get("metrics", {}).get("ess_bulk_per_grad")
        for run in runs:
            artifact = _artifact_beside(path, run["path"])
            chosen.append({"record": run, "artifact": artifact, "envelope": stats})
    if not chosen and (cases or labels):
        asked = " and ".join(f"{flag} {value!r}" for flag, value in (("--case", cases), ("--label", labels)) if value)
        known = sorted({f"{case} / {label}" for _, case, label in by_row})
        raise ReproduceError(
            f"{path}: no row matches {asked} (rows: {', '.join(known[:6])}{', ...' if len(known) > 6 else ''})"
        )
    return chosen, doc


def _artifact_beside(summary_path: Path, recorded: str) -> dict[str, Any] | None:
    """The run's artifact where it still is: at its recorded path, or in ``runs/`` beside the
    summary (``runs/<case>/<label>/seed<N>.json``); None where it is gone."""
    path = Path(recorded)
    for candidate in (path, summary_path.parent / "runs" / Path(*path.parts[-3:])):
        if candidate.is_file():
            try:
                return read_json(candidate)
            except ArtifactError:
                return None
    return None


def rerun_command(entry: dict[str, Any], summary: dict[str, Any] | None, out: Path) -> list[str]:
    """The recorded command with its output redirected to ``out``, as an argv for this Python."""
    artifact, record = entry["artifact"], entry["record"]
    command = (artifact or {}).get("provenance", {}).get("command") or record.get("command")
    if command:
        argv = shlex.split(command)
        if argv[:2] != ["nextstat", "run"]:
            raise ReproduceError(f"recorded command is not a `nextstat run`: {command}")
        args = argv[2:]
        if "--out" in args:
            index = args.index("--out")
            args = args[:index] + args[index + 2 :]
        return [sys.executable, "-m", "nextstat", "run", *args, "--out", str(out)]
    # an older summary whose artifacts are gone: its record says what ran
    case = record["case"]
    from .cases import POSTERIORDB_PREFIX, is_builtin
    from .cases.posteriordb import PosteriorDBError, list_posteriors

    if not is_builtin(case):
        try:
            posteriors = list_posteriors()
        except PosteriorDBError:
            posteriors = []
        if case not in posteriors:
            raise ReproduceError(f"{case}: the run's case spec is not recorded and it is no built-in case")
        case = POSTERIORDB_PREFIX + case
    budget = record["budget"]
    settings = [f"--set={key}={json.dumps(value)}" for key, value in sorted(record["settings"].items())]
    return [
        sys.executable, "-m", "nextstat", "run", "--suite", (summary or {}).get("suite", "adhoc"),
        "--case", case, "--engine", record["engine"], "--label", record["label"], "--seed", str(record["seed"]),
        "--budget", f"{budget['chains']}x{budget['warmup']}x{budget['draws']}", *settings, "--out", str(out),
    ]  # fmt: skip


def environment_differences(
    recorded: dict[str, Any] | None,
    current: dict[str, Any],
    recorded_source: str | None = None,
    current_source: str | None = None,
) -> list[str]:
    """What differs between the recorded run's environment and the rerun's (as the rerun's
    artifact records it: the rerun may run other code than this process, e.g. a checkout at
    the record's commit on ``PYTHONPATH``), in the terms that decide exactness: code
    (nextstat's sources by their sha256 where the record has it, else the commit and a clean
    checkout), packages, Python, CPU model and instruction-set flags, backend."""
    if recorded is None:
        return ["the recorded environment is not in the record"]
    out = []
    old_git, new_git = recorded.get("git") or {}, current.get("git") or {}
    if recorded_source is not None:
        if current_source is None:
            from .runner import source_sha256

            current_source = source_sha256()
        if recorded_source != current_source:
            out.append(f"nextstat's sources {recorded_source[:12]} -> {current_source[:12]}")
    elif old_git.get("commit") != new_git.get("commit"):
        out.append(f"commit {old_git.get('commit')} -> {new_git.get('commit')}")
    elif old_git.get("dirty") or new_git.get("dirty"):
        out.append("uncommitted changes in the recorded or the current checkout (no source digest recorded)")
    for name in sorted(set(recorded.get("packages", {})) | set(current.get("packages", {}))):
        old, new = recorded.get("packages", {}).get(name), current.get("packages", {}).get(name)
        if old != new:
            out.append(f"{name} {old} -> {new}")
    if recorded.get("python") != current.get("python"):
        out.append(f"Python {recorded.get('python')} -> {current.get('python')}")
    old_cpu, new_cpu = recorded.get("cpu") or {}, current.get("cpu") or {}
    if old_cpu.get("model") != new_cpu.get("model"):
        out.append(f"CPU {old_cpu.get('model')} -> {new_cpu.get('model')}")
    elif old_cpu.get("flags_sha256") and old_cpu.get("flags_sha256") != new_cpu.get("flags_sha256"):
        # a virtual machine's model name can hide another CPU: its instruction sets tell
        out.append("CPU instruction-set flags differ (same model name: another CPU)")
    old_backend = ((recorded.get("jax") or {}).get("backend")) or "cpu"
    new_backend = ((current.get("jax") or {}).get("backend")) or "cpu"
    if old_backend != new_backend:
        out.append(f"backend {old_backend} -> {new_backend}")
    return out


def compare(entry: dict[str, Any], rerun: dict[str, Any], differences: list[str]) -> tuple[str, str]:
    """(verdict, reason) for one rerun against its record."""
    if rerun.get("status") != "ok":
        return NOT_REPRODUCED, f"the rerun {rerun.get('status')}: {rerun.get('reason')}"
    artifact, record = entry["artifact"], entry["record"]
    recorded_status = (artifact or record).get("status")
    if recorded_status != "ok":
        return NOT_REPRODUCED, f"the record's run was {recorded_status}, the rerun ok"
    identical, how = _bit_for_bit(entry, rerun)
    if not differences:
        if identical:
            return EXACT, how
        if identical is False:
            return NOT_REPRODUCED, f"same code, software, CPU and seed, but {how}"
    verdict, reason = _statistical(entry, rerun, differences)
    if identical:  # another environment, and still the very same draws: worth saying
        reason += f"; {how} nonetheless"
    return verdict, reason


def _bit_for_bit(entry: dict[str, Any], rerun: dict[str, Any]) -> tuple[bool | None, str]:
    """Whether the rerun's draws are the record's to the last bit, and how that was told: by
    the draws digest; else (older artifacts) by every posterior summary figure; else (older
    summaries, artifacts gone) by every figure the summary keeps that the draws alone decide.
    None where the record keeps nothing to tell it by."""
    artifact, record = entry["artifact"], entry["record"]
    old_digest = (artifact or {}).get("draws_sha256") or record.get("draws_sha256")
    if old_digest:
        if old_digest == rerun.get("draws_sha256"):
            return True, "draws identical (sha256)"
        return False, "the draws differ (sha256)"
    if artifact is not None:
        if _same_summaries(artifact["summary"], rerun["summary"]):
            return True, "no draws digest in the record: every summary figure identical"
        return False, "the summaries differ"
    if record.get("metrics"):
        return _same_draw_figures(record, rerun)
    return None, ""


def _same_draw_figures(record: dict[str, Any], rerun: dict[str, Any]) -> tuple[bool, str]:
    """An older summary's run (no draws digest, artifact gone) against its rerun: every figure
    the summary keeps that the draws alone decide, equal to the last bit or not."""
    from .aggregate import METRICS, run_record

    again = run_record(Path("rerun"), rerun)
    names = [name for name, (section, _) in METRICS.items() if section != "timing" and "_per_s" not in name]

    def figures(run: Mapping[str, Any]) -> dict[str, Any]:
        return {name: run["metrics"].get(name) for name in names} | {"|z|": (run.get("correctness") or {}).get("max_z")}

    old, new = figures(record), figures(again)
    compared = [name for name in old if old[name] is not None]
    differing = [name for name in compared if not _same(old[name], new[name])]
    if differing:
        first = differing[0]
        return False, (
            f"{len(differing)} of the summary's figures differ (e.g. {first} {new[first]!r} against {old[first]!r})"
        )
    return True, f"no draws digest in the summary: all {len(compared)} draw-decided figures it keeps identical"


def _same_summaries(old: dict[str, Any], new: dict[str, Any]) -> bool:
    if set(old) != set(new):
        return False
    return all(set(old[p]) == set(new[p]) and all(_same(old[p][k], new[p][k]) for k in old[p]) for p in old)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _statistical(entry: dict[str, Any], rerun: dict[str, Any], differences: list[str]) -> tuple[str, str]:
    artifact, record = entry["artifact"], entry["record"]
    problems = []
    if artifact is not None:
        limit = correctness_z_limit(len(artifact["summary"]))
        for name, old in artifact["summary"].items():
            new = rerun["summary"].get(name)
            if new is None:
                problems.append(f"{name} missing from the rerun")
                continue
            scale = math.sqrt(old["mcse"] ** 2 + new["mcse"] ** 2)
            z = abs(new["mean"] - old["mean"]) / scale if scale > 0 else math.inf
            if not z < limit:
                problems.append(f"{name} mean {new['mean']:.4g} against {old['mean']:.4g} (|z| = {z:.1f})")
    old_metric = (artifact or {}).get("diagnostics", {}).get("ess_bulk_per_grad") or record.get("metrics", {}).get(
        "ess_bulk_per_grad"
    )
    new_metric = rerun["diagnostics"].get("ess_bulk_per_grad")
    envelope = entry["envelope"]
    if envelope and new_metric is not None:
        low, high = envelope["min"], envelope["max"]
        if not low / ENVELOPE_SLACK <= new_metric <= high * ENVELOPE_SLACK:
            problems.append(f"bulk ESS/grad {new_metric:.4g} outside the row's seeds [{low:.4g}, {high:.4g}] (x1.25)")
    elif old_metric and new_metric is not None:
        if not old_metric / SINGLE_RUN_FACTOR <= new_metric <= old_metric * SINGLE_RUN_FACTOR:
            problems.append(f"bulk ESS/grad {new_metric:.4g} against {old_metric:.4g} (beyond 2x)")
    old_verdict = (artifact or {}).get("quality", {}).get("verdict") or record.get("verdict")
    new_verdict = rerun.get("quality", {}).get("verdict")
    if old_verdict and old_verdict != new_verdict:
        problems.append(f"health verdict {new_verdict} against {old_verdict}")
    why = "; ".join(differences) if differences else "no draws or summaries recorded to compare exactly"
    if problems:
        return NOT_REPRODUCED, f"{'; '.join(problems)} (not exact: {why})"
    checked = f"means within |z| < {limit:.2g}, " if artifact is not None else "(no posterior means kept) "
    return STATISTICAL, f"{checked}ESS/grad and health as recorded (not exact: {why})"


def reproduce(
    path: Path,
    sample: int | None = None,
    log=print,
    checkout: str | None = None,
    jobs: int = 1,
    cases: str | None = None,
    labels: str | None = None,
) -> dict[str, Any]:
    """Rerun and compare every selected run of the record at ``path``; the verdict artifact.
    ``checkout``: a source tree whose ``src/nextstat`` the reruns import instead of this one
    (the record's commit, checked out), while this version compares; ``"auto"``: each run's
    own commit, found in this repository's history by the run's recorded source digest
    (``source_history``). ``jobs`` reruns run side by side; ``cases`` and ``labels`` are
    shell patterns that select rows."""
    from concurrent.futures import ThreadPoolExecutor

    from .environment import fingerprint

    fixed_sources = _checkout_sources(checkout) if checkout and checkout != AUTO else None
    entries, summary = recorded_runs(path, sample, cases=cases, labels=labels)
    current = fingerprint()
    with tempfile.TemporaryDirectory(prefix="nextstat-reproduce-") as scratch:
        if checkout == AUTO:
            sources, notes = own_commit_sources(entries, summary, Path(scratch) / "sources", log)
        else:
            sources, notes = [fixed_sources] * len(entries), [None] * len(entries)

        def one(index: int) -> dict[str, Any]:
            result = _rerun(entries[index], summary, current, Path(scratch) / f"run{index}.json", sources[index], log,
                            f"{index + 1} of {len(entries)}")  # fmt: skip
            if notes[index]:
                result["reason"] += f" ({notes[index]})"
            return result

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(one, range(len(entries))))
    return {
        "schema_version": REPRODUCTION_SCHEMA,
        "created_utc": utc_now(),
        "record": str(path),
        "sample": sample,
        **({"checkout": str(checkout)} if checkout else {}),
        **({"cases": cases} if cases else {}),
        **({"labels": labels} if labels else {}),
        "environment_sha256": current["fingerprint_sha256"],
        "reproduced": all(r["verdict"] != NOT_REPRODUCED for r in results),
        "runs": results,
    }


def _rerun(
    entry: dict[str, Any],
    summary: dict[str, Any] | None,
    current: dict[str, Any],
    out: Path,
    sources: Path | None,
    log,
    position: str,
) -> dict[str, Any]:
    """Rerun one recorded run into ``out`` (importing ``sources`` first where given) and compare."""
    record = entry["record"]
    name = f"{record['case']} / {record['label']} / seed {record['seed']}"
    recorded_env = entry_environment(entry, summary)
    recorded_source = entry_source(entry)
    try:
        argv = rerun_command(entry, summary, out)
    except ReproduceError as exc:
        differences = environment_differences(recorded_env, current, recorded_source)
        log(f"{name}: {NOT_REPRODUCED}: {exc}")
        return _result(record, NOT_REPRODUCED, str(exc), differences, None)
    log(f"{name}: rerunning ({position})")
    done = subprocess.run(argv, capture_output=True, text=True, env=_rerun_environment(entry, sources))
    if not out.is_file():
        differences = environment_differences(recorded_env, current, recorded_source)
        reason = f"the rerun wrote no artifact (exit {done.returncode}): {done.stderr.strip()[-300:]}"
        return _result(record, NOT_REPRODUCED, reason, differences, argv)
    rerun = read_json(out)
    differences = environment_differences(
        recorded_env,
        rerun.get("environment") or current,
        recorded_source,
        (rerun.get("provenance") or {}).get("source_sha256"),
    )
    verdict, reason = compare(entry, rerun, differences)
    log(f"{name}: {verdict}: {reason}")
    return _result(record, verdict, reason, differences, argv)


def entry_environment(entry: dict[str, Any], summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """The recorded run's environment fingerprint: its artifact's, else its summary's."""
    return (entry["artifact"] or {}).get("environment") or (
        (summary or {}).get("environments", {}).get(entry["record"].get("fingerprint_sha256"))
    )


def entry_source(entry: dict[str, Any]) -> str | None:
    """The recorded run's source digest (artifact, else summary record), or None (older records)."""
    provenance = (entry["artifact"] or {}).get("provenance") or {}
    return provenance.get("source_sha256") or entry["record"].get("source_sha256")


def own_commit_sources(
    entries: list[dict[str, Any]], summary: dict[str, Any] | None, scratch: Path, log, repo: Path | None = None
) -> tuple[list[Path | None], list[str | None]]:
    """For each entry, the sources its rerun imports (None: this checkout's) and a note for its
    verdict: the commit whose ``src/nextstat`` has the run's recorded source digest, exported
    once per commit under ``scratch`` (also where it is this checkout's code, so that edits
    made while a long reproduction runs do not reach its reruns); for a record without a
    digest, its recorded commit where that checkout was clean. Code that no commit holds (a
    run made from uncommitted changes) reruns with this checkout's, and the note says so. ``repo``: the repository to
    search (default: the one holding this nextstat)."""
    from .paths import PACKAGE_DIR
    from .runner import source_sha256
    from .source_history import SourceHistoryError, commits_for_sources, export_sources, repository_root

    try:
        repo = repo or repository_root(PACKAGE_DIR)
        found = commits_for_sources(repo, {d for d in map(entry_source, entries) if d})
    except SourceHistoryError as exc:
        raise ReproduceError(
            f"--checkout auto needs nextstat's own git repository ({PACKAGE_DIR} is not in one: {exc}); "
            "clone it, or pass --checkout DIR"
        ) from None
    current, exported = source_sha256(), {}

    def exported_sources(commit: str) -> Path:
        if commit not in exported:
            exported[commit] = export_sources(repo, commit, scratch / commit[:12])
        return exported[commit]

    sources: list[Path | None] = []
    notes: list[str | None] = []
    for entry in entries:
        digest = entry_source(entry)
        git = (entry_environment(entry, summary) or {}).get("git") or {}
        commit, note = None, None
        if digest in found:  # exported even where it is this checkout's: edits made while it runs stay out
            commit = found[digest]
        elif digest == current:
            pass  # this checkout's uncommitted code: nowhere else to take it from
        elif digest:
            note = (
                f"its sources {digest[:12]} are in no commit of {repo.name}'s history: rerun with this checkout's code"
            )
        elif git.get("commit") and not git.get("dirty"):
            commit = git["commit"]
        else:
            note = f"made from uncommitted changes to {str(git.get('commit'))[:10]}: rerun with this checkout's code"
        if commit is not None:
            try:
                sources.append(exported_sources(commit))
                note = f"rerun at {commit[:10]}"
            except SourceHistoryError as exc:
                sources.append(None)
                note = f"its commit {commit[:10]} could not be exported ({exc}): rerun with this checkout's code"
        else:
            sources.append(None)
        notes.append(note)
    log(f"--checkout auto: {len(exported)} commit(s) exported for {sum(s is not None for s in sources)} of "
        f"{len(entries)} runs; the rest rerun with this checkout")  # fmt: skip
    return sources, notes


def _checkout_sources(checkout: str) -> Path:
    sources = Path(checkout).resolve() / "src"
    if not (sources / "nextstat" / "__init__.py").is_file():
        raise ReproduceError(f"--checkout {checkout}: no src/nextstat/__init__.py in it (not a nextstat checkout)")
    return sources


def _rerun_environment(entry: dict[str, Any], sources: Path | None = None) -> dict[str, str]:
    """This process's environment, with ``sources`` first on the reruns' import path where
    given, and the posteriordb directory the record's case was read from where none is set
    here (the workflow hands it to each run through the environment, so the recorded
    command does not name it)."""
    import os

    from .cases.posteriordb import ENV_VAR

    environment = dict(os.environ)
    if sources is not None:
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(sources), environment.get("PYTHONPATH")]))
    source = ((entry["artifact"] or {}).get("case_info") or {}).get("source") or ""
    if not environment.get(ENV_VAR) and source.startswith("posteriordb:"):
        root = source.removeprefix("posteriordb:")
        if Path(root).is_dir():
            environment[ENV_VAR] = root
    return environment


def _result(record, verdict: str, reason: str, differences: list[str], argv) -> dict[str, Any]:
    return {
        "case": record["case"],
        "label": record["label"],
        "seed": record["seed"],
        "verdict": verdict,
        "reason": reason,
        "environment_differences": differences,
        "command": shlex.join(argv[2:]) if argv else None,
    }


def markdown(result: dict[str, Any]) -> str:
    from .report.sink import markdown_table

    counts: dict[str, int] = defaultdict(int)
    for run in result["runs"]:
        counts[run["verdict"]] += 1
    head = ", ".join(f"{n} {verdict}" for verdict, n in counts.items()) or "no runs"
    options = [
        f"{flag} {shlex.quote(str(result[key]))}"
        for flag, key in (
            ("--sample", "sample"),
            ("--case", "cases"),
            ("--label", "labels"),
            ("--checkout", "checkout"),
        )
        if result.get(key)
    ]
    command = shlex.join(["nextstat", "reproduce", result["record"]]) + "".join(f" {o}" for o in options)
    rows = [[r["case"], r["label"], r["seed"], r["verdict"], r["reason"]] for r in result["runs"]]
    table = markdown_table(rows, ["case", "label", "seed", "verdict", "why"])
    return f"# Reproduction of {result['record']}\n\n`{command}` ({result['created_utc']}): {head}.\n\n{table}\n"
