"""The ``nextstat`` commands about cases: listing them (``cases``), checking a JAX density
against Stan's (``parity``) and remaking a reference posterior (``reference``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .cli import EXIT_INVALID, EXIT_OK, UsageError


def cmd_cases(args) -> int:
    import importlib.util
    import os

    from .cases import BUILTIN_CASES, GYM_PREFIX, POSTERIORDB_PREFIX, CaseError, get_case
    from .cases.gym_targets import TARGETS as GYM_TARGETS
    from .cases.posteriordb import ENV_VAR, list_posteriors

    names = list(BUILTIN_CASES)
    if importlib.util.find_spec("inference_gym") is not None:  # the gym extra
        names += [GYM_PREFIX + target for target in GYM_TARGETS]
    if os.environ.get(ENV_VAR):
        names += [POSTERIORDB_PREFIX + name for name in list_posteriors()]
    rows, problems = [], []
    for name in names:
        try:
            case = get_case(name)
        except CaseError as exc:  # one unreadable posterior does not hide the others
            problems.append(str(exc))
            continue
        rows.append(
            {
                "case": name,
                "dim": case.dim or "?",
                "family": case.family,
                "parameterization": case.parameterization,
                "reference": _reference_label(case),
                "stan": bool(case.stan_code),
                "jax_density": case.missing_jax_density is None,
                "control": case.is_control,
            }
        )
        if case.reference_problem is not None:
            problems.append(case.reference_problem["reason"])
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from tabulate import tabulate

        print(tabulate(rows, headers="keys"))
    for problem in problems:
        print(f"WARNING: {problem}", file=sys.stderr)
    return EXIT_OK


def _reference_label(case) -> str:
    if case.reference_problem is not None:
        return f"{case.reference_problem['verdict'].upper()} (unusable)"
    if case.reference is None:
        return "none"
    covered = len(case.reference.mean)
    if covered < len(case.param_names):
        return f"{case.reference.kind} ({covered} of {len(case.param_names)} parameters)"
    return case.reference.kind


def cmd_parity(args) -> int:
    from .cases import POSTERIORDB_PREFIX, CaseError, get_case
    from .cases.posteriordb import PosteriorDBError, list_posteriors
    from .cases.stan_program import StanProgramError
    from .engines import EngineUnavailable
    from .parity import parity

    specs = list(args.case)
    if args.all_posteriordb:
        try:
            specs += [POSTERIORDB_PREFIX + name for name in list_posteriors()]
        except PosteriorDBError as exc:
            raise UsageError(f"--all-posteriordb: {exc}") from None
    if not specs:
        raise UsageError("parity: give --case NAME ... or --all-posteriordb")
    failed = 0
    rows = []
    for spec in specs:
        try:
            case = get_case(spec)
            result = parity(case, n_points=args.points, against=args.against)
        except CaseError as exc:
            raise UsageError(str(exc)) from None
        except StanProgramError as exc:  # the program does not compile, or its data do not fit it
            print(f"{spec}: failed: {exc}")
            rows.append([spec, "—", "—", "—", "—", f"failed: {exc}"])
            failed += 1
            continue
        except EngineUnavailable as exc:
            print(f"{spec}: skipped: {exc}")
            rows.append([spec, "—", "—", "—", "—", f"skipped: {exc}"])
            continue
        failed += not result["passed"]
        rows.append(
            [
                spec,
                case.dim,
                f"{result['constant']:.6g}",
                f"{result['max_log_density_deviation']:.1e}",
                f"{result['max_gradient_deviation']:.1e}",
                "ok" if result["passed"] else "MISMATCH",
            ]
        )
        print(
            f"{spec}: {'ok' if result['passed'] else 'MISMATCH'}: max log-density deviation "
            f"{result['max_log_density_deviation']:.2e}, max gradient deviation {result['max_gradient_deviation']:.2e} "
            f"(relative, {result['points']} points, constant {result['constant']:.6g}, tolerance "
            f"{result['tolerance']:.0e})"
        )
    if args.markdown:
        _write_parity_table(args, rows)
    return EXIT_INVALID if failed else EXIT_OK


def _write_parity_table(args, rows: list[list[Any]]) -> None:
    from tabulate import tabulate

    from .parity import TOLERANCE

    command = " ".join(
        [
            "nextstat parity",
            *(["--all-posteriordb"] if args.all_posteriordb else []),
            *(["--case", *args.case] if args.case else []),
            *(["--against", args.against] if args.against != "pystan" else []),
        ]
    )
    through = (
        "`log_density` through BridgeStan (the program's library)"
        if args.against == "bridgestan"
        else "`log_prob` (PyStan)"
    )
    headers = ["case", "dim", "constant", "max log-density deviation", "max gradient deviation", "parity"]
    text = [
        "# Stan/JAX parity",
        "",
        f"`{command} --points {args.points}`: Stan's Jacobian-adjusted {through} against the case's "
        f"JAX log density at {args.points} random unconstrained points in U(-2, 2)^d. The two may differ by one "
        "constant (Stan's `~` drops normalizing terms); the deviations are relative (the log density's to "
        f"max(1, |log_prob|), the gradient's to the point's largest component); parity: both below {TOLERANCE:.0e}.",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
    ]
    Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(args.markdown).write_text("\n".join(text))


def cmd_reference(args) -> int:
    from .artifacts import REFERENCE_SCHEMA, write_json
    from .cases import CaseError, get_case
    from .cases.references import reference_path
    from .engines import EngineUnavailable
    from .reference import ReferenceFailed, make_reference

    try:
        case = get_case(args.case)
    except CaseError as exc:
        raise UsageError(str(exc)) from None
    if case.reference is not None and case.reference.kind == "analytic":
        raise UsageError(f"case '{case.name}' has an analytic reference; no reference run is needed")
    try:
        doc = make_reference(case, seed=args.seed, target_accept=args.target_accept)
    except (ReferenceFailed, EngineUnavailable) as exc:
        print(f"nextstat: reference not written: {exc}", file=sys.stderr)
        return EXIT_INVALID
    out = args.out or reference_path(case.name)
    write_json(out, doc, REFERENCE_SCHEMA)
    d = doc["diagnostics"]
    print(
        f"{case.name}: reference written to {out} (max R-hat {d['max_rhat']:.4f}, min ESS bulk "
        f"{d['min_ess_bulk']:.0f}, {d['divergences']} divergences)"
    )
    return EXIT_OK
