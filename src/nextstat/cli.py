"""The ``nextstat`` command. Snakemake rules call only this, so every stage runs without Snakemake too."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

from .threads import claim_cores, limit_threads

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input: reported as one line naming the input, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return EXIT_USAGE
        if getattr(args, "posteriordb", None):
            _use_posteriordb(args.posteriordb)
        if getattr(args, "data", None):
            if not args.case.endswith(".stan"):
                raise UsageError(f"--data {args.data}: data go with a Stan program (--case path/to/model.stan)")
            args.case = f"{args.case}@{args.data}"
        return args.handler(args)
    except UsageError as exc:
        print(f"nextstat: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _use_posteriordb(directory: str) -> None:
    """``--posteriordb DIR``: checked here, then handed to case lookups (and to any process
    this one starts) through the environment."""
    import os

    from .cases.posteriordb import ENV_VAR, PosteriorDBError, posteriordb_dir

    try:
        os.environ[ENV_VAR] = str(posteriordb_dir(directory))
    except PosteriorDBError as exc:
        raise UsageError(f"--posteriordb: {exc}") from None


def _posteriordb_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--posteriordb",
        metavar="DIR",
        help="a posteriordb directory (posteriordb's layout), for cases named pdb:<posterior> "
        "(default: $NEXTSTAT_POSTERIORDB)",
    )


def _stan_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="JSON", help="the data of a Stan program given as --case path/to/model.stan")


def _build_parser() -> argparse.ArgumentParser:
    from . import cli_cases as cases
    from . import cli_summaries as summaries  # (they import this module's exit codes and errors)
    from . import cli_workflow as workflow

    parser = _Parser(prog="nextstat", description="Reproducible benchmarks of Bayesian MCMC samplers.")
    sub = parser.add_subparsers(title="commands", parser_class=_Parser)

    p = sub.add_parser("cases", help="list the built-in posterior cases, and posteriordb's where one is given")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _posteriordb_option(p)
    p.set_defaults(handler=cases.cmd_cases)

    p = sub.add_parser("engines", help="list the engines: ours, the libraries', and installed plug-ins")
    p.set_defaults(handler=cmd_engines)

    p = sub.add_parser("run", help="run one engine on one case with one seed and write its artifact")
    p.add_argument(
        "--case",
        required=True,
        help="built-in case name, pdb:<posteriordb posterior>, path/to/file.py:NAME or path/to/model.stan",
    )
    _stan_data_option(p)
    _posteriordb_option(p)
    p.add_argument("--engine", required=True, help="engine name (see `nextstat run --help`)")
    p.add_argument("--seed", required=True, type=_nonnegative_int, help="run seed; chain seeds derive from it")
    p.add_argument(
        "--budget", required=True, help="CHAINSxWARMUPxDRAWS (e.g. 4x500x1000), or N for 4 chains x N warmup x N draws"
    )
    p.add_argument("--out", required=True, help="artifact path (JSON)")
    p.add_argument("--label", help="row label in the report (default: the engine name)")
    p.add_argument("--suite", default="adhoc", help="suite name recorded in the artifact")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="engine setting, value in JSON (e.g. target_accept=0.95); repeatable",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="threads the engine may use; XLA and BLAS are limited to it (default 1)",
    )
    p.add_argument("--compile-record", help="Stan build record from `nextstat compile` (cold compile time)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("timing", help="cold, cached and warm start of one engine on one case (fresh processes)")
    p.add_argument("--case", required=True)
    p.add_argument("--engine", required=True)
    p.add_argument("--seed", required=True, type=_nonnegative_int)
    p.add_argument("--budget", required=True, help="CHAINSxWARMUPxDRAWS, or N")
    p.add_argument("--out", required=True)
    p.add_argument("--label")
    p.add_argument("--suite", default="adhoc")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--threads", type=_positive_int, default=1)
    _posteriordb_option(p)
    p.set_defaults(handler=cmd_timing)

    p = sub.add_parser("compile", help="build a case's model once, ahead of its runs, and record the compile time")
    p.add_argument("--case", required=True)
    p.add_argument("--engine", help="an engine with a compile step (default: the reference engine, Stan's)")
    _posteriordb_option(p)
    p.add_argument("--out", required=True)
    p.set_defaults(handler=cmd_compile)

    p = sub.add_parser("parity", help="compare Stan's log_prob and gradient with the case's JAX log density")
    p.add_argument(
        "--case", nargs="+", default=[], help="case names, pdb:<posteriordb posterior> or path/to/file.py:NAME"
    )
    p.add_argument("--all-posteriordb", action="store_true", help="also every posterior of the posteriordb directory")
    p.add_argument("--points", type=_positive_int, default=20, help="random unconstrained points (default 20)")
    p.add_argument(
        "--against",
        choices=("pystan", "bridgestan"),
        default="pystan",
        help="Stan's log density through PyStan (default) or the program's BridgeStan library ($BRIDGESTAN)",
    )
    p.add_argument("--markdown", help="also write the results as a markdown table here")
    _posteriordb_option(p)
    p.set_defaults(handler=cases.cmd_parity)

    p = sub.add_parser("reference", help="make a case's reference posterior with a long Stan run")
    p.add_argument("--case", required=True)
    p.add_argument("--out", help="where to write it (default: the built-in references folder)")
    p.add_argument("--seed", type=_nonnegative_int, default=4711)
    p.add_argument("--target-accept", type=float, default=0.95)
    _posteriordb_option(p)
    p.set_defaults(handler=cases.cmd_reference)

    p = sub.add_parser("validate", help="validate artifacts against their JSON schemas")
    p.add_argument("paths", nargs="+", help="artifact files or folders (searched for *.json)")
    p.add_argument("--out", help="write a validation record here when every artifact is valid")
    p.set_defaults(handler=summaries.cmd_validate)

    p = sub.add_parser("aggregate", help="medians over seeds for every case x engine row of a suite")
    p.add_argument("--suite", required=True)
    p.add_argument("--runs", required=True, nargs="+", help="run artifacts, or folders of them")
    p.add_argument(
        "--reference-engine", help="row label that ratios are taken against (default: the reference engine, Stan's)"
    )
    p.add_argument("--benchmarks", help="folder of Snakemake benchmark TSVs, for the harness overhead")
    p.add_argument("--timings", nargs="*", default=[], help="cold/cached/warm timing artifacts to include")
    p.add_argument("--sbc", nargs="*", default=[], help="simulation-based calibration artifacts to include")
    p.add_argument(
        "--presentation",
        help="the suite configuration's report: block as JSON (which figures lead, which differences are on purpose)",
    )
    p.add_argument("--out", required=True)
    p.set_defaults(handler=summaries.cmd_aggregate)

    p = sub.add_parser("report", help="write REPORT.md, DETAILS.md, charts and tables from a suite summary")
    p.add_argument("--summary", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument(
        "--config",
        help="a suite configuration whose report: block replaces the summary's (for summaries written before it)",
    )
    p.set_defaults(handler=summaries.cmd_report)

    p = sub.add_parser(
        "gate", help="check a suite summary against a baseline summary, or rows against rows (exit 1 on a regression)"
    )
    p.add_argument("--baseline", help="the baseline suite summary (JSON); not with --rows")
    p.add_argument("--current", required=True, help="the suite summary under test (JSON)")
    p.add_argument(
        "--rows",
        action="append",
        metavar="BASELINE=CURRENT",
        help="gate the row labelled CURRENT against the row labelled BASELINE of the same summary "
        "(e.g. a library's pull request against its main branch, two rows of one run); repeatable",
    )
    p.add_argument("--policy", help="YAML or JSON overrides of the gate's tolerances (see schemas/gate_policy)")
    p.add_argument("--out", help="gate result (JSON; default: gate.json beside --current)")
    p.add_argument("--markdown", help="the explanation (default: gate.md beside --out)")
    p.set_defaults(handler=summaries.cmd_gate)

    p = sub.add_parser("resume", help="resume a killed workflow: unlock it, then rerun it with --rerun-incomplete")
    p.add_argument("--configfile", help="the suite's config (default: the workflow's, config/config.yaml)")
    p.add_argument("--cores", default="2", help="Snakemake's --cores (default 2)")
    p.add_argument("--directory", default=".", help="the workflow's working directory (default: here)")
    p.add_argument("snakemake_args", nargs="*", metavar="SNAKEMAKE_ARG", help="more Snakemake arguments, after --")
    p.set_defaults(handler=workflow.cmd_resume)

    p = sub.add_parser(
        "batch",
        help="run many `nextstat run` command lines (as `snakemake -n -p` prints them) in one process",
    )
    p.add_argument("file", help="one `nextstat run ...` command per line; shell redirections are ignored")
    p.add_argument("--skip-existing", action="store_true", help="keep runs whose artifact exists and is ok or skipped")
    p.set_defaults(handler=workflow.cmd_batch)

    p = sub.add_parser("worker", help="the warm process the workflow's runs fork from (the workflow starts it)")
    p.add_argument("--socket", required=True, help="the Unix socket to listen on")
    p.add_argument("--threads", type=_positive_int, default=1, help="threads per run (as the runs' --threads)")
    p.add_argument("--parent", type=int, help="exit when this process (the workflow) is gone")
    p.add_argument("--idle", type=float, help="exit after this many seconds without a run (default: worker.IDLE_S)")
    p.set_defaults(handler=workflow.cmd_worker)

    p = sub.add_parser(
        "reproduce", help="rerun the runs of an artifact, a suite summary or a report folder and say if they reproduced"
    )
    p.add_argument("path", help="a run artifact, a suite summary (JSON), or a report folder (its summary.json)")
    p.add_argument("--sample", type=_positive_int, help="rerun the first N seeds of each row (default: every run)")
    p.add_argument("--out", help="the verdicts (JSON; default: reproduction.json in the working directory)")
    p.add_argument("--markdown", help="the table (default: beside --out, .md)")
    p.add_argument(
        "--checkout",
        help="rerun with the nextstat sources of this checkout (e.g. `git worktree add DIR <the record's commit>`), "
        "compared by this version; `auto`: each run with its own commit, found in this repository's history by "
        "the run's recorded source digest",
    )
    p.add_argument("--jobs", type=_positive_int, default=1, help="reruns side by side (default 1)")
    p.add_argument("--case", dest="cases", metavar="PATTERN", help="only rows whose case matches (shell pattern)")
    p.add_argument("--label", dest="labels", metavar="PATTERN", help="only rows whose label matches (shell pattern)")
    _posteriordb_option(p)
    p.set_defaults(handler=summaries.cmd_reproduce)

    p = sub.add_parser("sbc", help="simulation-based calibration of one engine on a case that can simulate")
    p.add_argument("--case", required=True, help="eight_schools, neal_funnel_ncp_10d, or path/to/file.py:SIMULATOR")
    p.add_argument("--engine", required=True)
    p.add_argument("--label", help="the engine row's label in a suite (default: the engine name)")
    p.add_argument("--replications", type=_positive_int, default=100)
    p.add_argument(
        "--first-replication",
        type=_nonnegative_int,
        default=0,
        help="number the replications from here: a shard of a larger run, merged by `nextstat aggregate --sbc`",
    )
    p.add_argument("--seed", required=True, type=_nonnegative_int)
    p.add_argument(
        "--replicate-by",
        choices=("auto", "runs", "chains"),
        default="auto",
        help="a run per replication, or (a case without data, e.g. the funnels) one run with a chain per "
        "replication and one compile (default: chains where the case has no data)",
    )
    p.add_argument(
        "--budget",
        default="4x500x500",
        help="CHAINSxWARMUPxDRAWS per replication (default 4x500x500; replicating by chains, CHAINS is ignored)",
    )
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--draws-per-rank", type=_positive_int, default=99, help="thinned draws each rank is among")
    p.add_argument("--bins", type=_positive_int, default=20, help="bins of the chi-square test (divide ranks + 1)")
    p.add_argument("--out", required=True, help="the SBC artifact (JSON)")
    p.add_argument(
        "--chart", help="rank histograms (PNG; default: beside --out); the ECDF chart goes beside it as *_ecdf.png"
    )
    p.set_defaults(handler=cmd_sbc)

    p = sub.add_parser("env", help="print this machine's environment fingerprint")
    p.add_argument("--out", help="write it to this file instead")
    p.set_defaults(handler=cmd_env)
    return parser


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is negative")
    return value


def _positive_int(text: str) -> int:
    value = _nonnegative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be at least 1")
    return value


def parse_settings(items: list[str]) -> dict[str, Any]:
    settings = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set '{item}': expected KEY=VALUE")
        try:
            settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key] = raw  # a bare word, e.g. metric=dense
    return settings


def cmd_sbc(args) -> int:
    from .sbc import cmd_sbc as run

    return run(args, parse_settings(args.settings))


def cmd_engines(args) -> int:
    from tabulate import tabulate

    from .engines import engine_listing

    print(tabulate(engine_listing(), headers=["engine", "what it is"], tablefmt="github"))
    return EXIT_OK


def cmd_run(args) -> int:
    from . import worker

    # the workflow's warm worker runs this in a fork of its own, the imports done: the same run
    delegated = worker.delegate(args.argv, args.threads, out=lambda line: print(line, file=sys.stderr))
    if delegated is not None:
        return delegated
    from .cases import CaseError
    from .engines import Budget, EngineError, SettingsError

    limit_threads(args.threads)
    cpus = claim_cores(args.threads)
    from . import runner
    from .artifacts import write_json
    from .run_spec import RunSpec

    spec = RunSpec(
        args.case,
        args.engine,
        args.seed,
        runner.UNREAD_BUDGET,
        label=args.label,
        suite=args.suite,
        threads=args.threads,
        out=args.out,
        cpus=cpus,
    )
    try:
        spec = dataclasses.replace(spec, budget=Budget.parse(args.budget))  # kept when only the settings are bad
        spec = dataclasses.replace(spec, settings=parse_settings(args.settings))
        artifact = runner.execute(spec, compile_record=args.compile_record)
    except (CaseError, EngineError, SettingsError, UsageError) as exc:
        write_json(args.out, runner.input_error_artifact(spec, str(exc)))
        raise UsageError(str(exc)) from None
    write_json(args.out, artifact)
    line = f"{args.case} / {artifact['label']} / seed {args.seed}: {artifact['status']}"
    if artifact["status"] == "ok":
        d, t = artifact["diagnostics"], artifact["timing"]
        shown = lambda value, fmt: "n/a" if value is None else format(value, fmt)  # noqa: E731  (NaN draws: no ESS)
        line += (
            f" (min ESS bulk {shown(d['min_ess_bulk'], '.0f')}, {shown(d['ess_bulk_per_s'], '.0f')} ESS/s,"
            f" R-hat {shown(d['max_rhat'], '.3f')}, {t['sampling_s']:.2f} s sampling,"
            f" health {artifact['quality']['verdict']})"
        )
    else:
        line += f": {artifact['reason']}"
    print(line)
    if (artifact.get("correctness") or {}).get("reason"):
        print(f"WARNING: {artifact['correctness']['reason']}", file=sys.stderr)
    if (artifact.get("quality") or {}).get("verdict") == "unexpected-pass":
        print(
            f"WARNING: pathological control {args.case} PASSED its health gates with {artifact['label']}: "
            "a control must keep failing; check the sampler and the gates",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_timing(args) -> int:
    from .artifacts import TIMING_SCHEMA, write_json
    from .cases import CaseError, get_case
    from .engines import Budget, EngineError, SettingsError, load_engine, resolve_settings
    from .run_spec import RunSpec
    from .timing import timing_artifact

    claim_cores(args.threads)  # the probes it starts inherit the claim
    try:
        get_case(args.case)
        load_engine(args.engine)
        budget = Budget.parse(args.budget)
        settings = resolve_settings(parse_settings(args.settings), args.engine)
    except (CaseError, EngineError, SettingsError) as exc:
        raise UsageError(str(exc)) from None
    doc = timing_artifact(
        RunSpec(
            args.case,
            args.engine,
            args.seed,
            budget,
            settings=settings,
            label=args.label,
            suite=args.suite,
            threads=args.threads,
            out=args.out,
        )
    )
    write_json(args.out, doc, TIMING_SCHEMA)
    if doc["status"] == "ok":
        m = doc["modes"]
        print(
            f"{args.case} / {doc['label']}: time to result cold {m['cold']['time_to_result_s']:.1f} s, "
            f"cached {m['cached']['time_to_result_s']:.1f} s; warm run {m['warm']['engine_wall_s']:.1f} s"
        )
    else:
        print(f"{args.case} / {doc['label']}: timing failed: {doc['reason']}")
    return EXIT_OK


def cmd_compile(args) -> int:
    import socket

    from .artifacts import STAN_BUILD_SCHEMA, utc_now, write_json
    from .cases import CaseError, get_case
    from .engines import REFERENCE_ENGINE, EngineError, EngineUnavailable, load_engine

    engine = args.engine or REFERENCE_ENGINE
    try:
        compile_model = load_engine(engine).compile
    except EngineError as exc:
        raise UsageError(str(exc)) from None
    if compile_model is None:
        raise UsageError(f"engine '{engine}' has no compile step (it compiles inside its runs)")

    record = {
        "schema_version": STAN_BUILD_SCHEMA,
        "case": args.case,
        "created_utc": utc_now(),
        "hostname": socket.gethostname(),
    }
    try:
        record.update(status="ok", reason=None, **compile_model(get_case(args.case)))
    except CaseError as exc:
        raise UsageError(str(exc)) from None
    except EngineUnavailable as exc:
        record.update(status="skipped", reason=str(exc))
    except Exception as exc:  # a compile error is recorded; the runs then fail with it too
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
    write_json(args.out, record)
    print(
        f"{args.case}: Stan model {record['status']}"
        + (
            f" ({record['compile_s']:.1f} s, cache {record['cache']})"
            if record["status"] == "ok"
            else f": {record['reason']}"
        )
    )
    return EXIT_OK


def cmd_env(args) -> int:
    from .artifacts import write_json
    from .environment import fingerprint

    env = fingerprint()
    if args.out:
        write_json(args.out, env)
    else:
        print(json.dumps(env, indent=2))
    return EXIT_OK
