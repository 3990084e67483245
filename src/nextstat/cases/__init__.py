"""Case registry: built-in posteriors by name, user cases by ``path/to/file.py:NAME``."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from ..sizes import sized_match
from ..user_code import load_named
from .base import DATASET_SEED, Case, Reference
from .eight_schools import eight_schools
from .funnel import neal_funnel, neal_funnel_ncp
from .glm_logistic import SCALED_COLUMNS, glm_logistic, logreg
from .gym_targets import PREFIX as GYM_PREFIX
from .gym_targets import GymError, gym_case
from .hier_logistic import hier_logistic_ri
from .logistic_sized import LogisticSizeError, logistic_sized
from .paper_targets import banana, ill_conditioned_gaussian, rosenbrock
from .posteriordb import PREFIX as POSTERIORDB_PREFIX
from .posteriordb import PosteriorDBError, posteriordb_case
from .references import attach_reference
from .stan_program import StanProgramError, is_stan_spec, stan_program_case
from .std_normal import std_normal

__all__ = [
    "Case",
    "Reference",
    "DATASET_SEED",
    "BUILTIN_CASES",
    "GYM_PREFIX",
    "POSTERIORDB_PREFIX",
    "get_case",
    "list_cases",
    "CaseError",
    "SIZED_FAMILIES",
    "is_builtin",
]

#: The published protocol's cases (and one of ours, last), in the order the report lists them.
BUILTIN_CASES: dict[str, Callable[[], Case]] = {
    "std_normal_d2": lambda: std_normal(2),
    "std_normal_d10": lambda: std_normal(10),
    "std_normal_d50": lambda: std_normal(50),
    "eight_schools": eight_schools,
    "neal_funnel_10d": lambda: neal_funnel(10),
    "neal_funnel_ncp_10d": lambda: neal_funnel_ncp(10),
    "glm_logistic_n200_p6": lambda: glm_logistic(200, 6),
    "logreg_n1000_p10": lambda: logreg(1000, 10),
    "glm_logistic_n1000_p20": lambda: glm_logistic(1000, 20),
    "glm_logistic_n5000_p20": lambda: glm_logistic(5000, 20),
    "hier_logistic_ri": hier_logistic_ri,
    # not in the published protocol: a posterior where the metric matters (strong
    # correlations and scales over two decades), for the fisher suite's metric comparison
    "logreg_scaled_n1000_p10": lambda: logreg(1000, 10, rho=0.9, column_scales=SCALED_COLUMNS),
    # the MAMS paper's targets without data (its Table 1), for the mams-paper suite
    "banana_d2": banana,
    "rosenbrock_d36": lambda: rosenbrock(18),
    "gaussian_kappa100_d100": lambda: ill_conditioned_gaussian(100, 100.0),
    "neal_funnel_20d": lambda: neal_funnel(20),
}


#: Families whose size is in the name (``sizes.SIZE_PATTERNS``), for any size: a suite sweeps
#: them by listing names (std_normal_d2 ... std_normal_d10000). Each has an analytic reference
#: at every size but the logistic regression, which has a committed long-run reference at the
#: sizes the scaling suite runs (``references/``) and none at any other. The built-in names
#: above are members too and resolve to the same case.
SIZED_FAMILIES: dict[str, Callable[[dict[str, str]], Case]] = {
    "std_normal_d<d>": lambda g: std_normal(int(g["d"])),
    "gaussian_kappa<kappa>_d<d>": lambda g: ill_conditioned_gaussian(int(g["d"]), float(g["kappa"])),
    "neal_funnel_<d>d": lambda g: neal_funnel(int(g["d"])),
    "neal_funnel_ncp_<d>d": lambda g: neal_funnel_ncp(int(g["d"])),
    "rosenbrock_d<d>": lambda g: rosenbrock(int(g["d"]) // 2),
    "logistic_n<n>_d<d>": lambda g: logistic_sized(int(g["n"]), int(g["d"])),
}
#: sizes past this are refused rather than allocated
MAX_SIZE = 1_000_000


def sized_case(name: str) -> Case | None:
    """The member of a sized family that ``name`` names, or None where it names none."""
    found = sized_match(name)
    if found is None:
        return None
    family, match = found
    groups = match.groupdict()
    if not all(2 <= int(size) <= MAX_SIZE for size in groups.values()):
        raise CaseError(f"case '{name}': its sizes must be between 2 and {MAX_SIZE:,}")
    try:
        return attach_reference(SIZED_FAMILIES[family](groups))
    except LogisticSizeError as exc:
        raise CaseError(f"case '{name}': {exc}") from None


def is_builtin(name: str) -> bool:
    """A built-in case, or a member of a sized family (no case is built to tell)."""
    return name in BUILTIN_CASES or sized_match(name) is not None


class CaseError(ValueError):
    """A case name, case file or posteriordb posterior that cannot be resolved."""


def list_cases() -> list[str]:
    return list(BUILTIN_CASES)


@cache
def get_case(spec: str) -> Case:
    """A built-in case by name, ``file.py:NAME`` for a user's own case, ``pdb:NAME`` for a
    posterior of the posteriordb directory named by ``$NEXTSTAT_POSTERIORDB`` (the CLI's
    ``--posteriordb DIR`` sets it), or ``gym:TARGET`` for an inference-gym target."""
    if spec in BUILTIN_CASES:
        return attach_reference(BUILTIN_CASES[spec]())
    sized = sized_case(spec)
    if sized is not None:
        return sized
    if spec.startswith(GYM_PREFIX):
        try:
            return gym_case(spec.removeprefix(GYM_PREFIX))
        except GymError as exc:
            raise CaseError(str(exc)) from None
    if spec.startswith(POSTERIORDB_PREFIX):
        try:
            return posteriordb_case(spec.removeprefix(POSTERIORDB_PREFIX))
        except PosteriorDBError as exc:
            raise CaseError(f"case '{spec}': {exc}") from None
    if ".py:" in spec:
        return _load_user_case(spec)
    if is_stan_spec(spec):
        try:
            return stan_program_case(spec)
        except StanProgramError as exc:
            raise CaseError(str(exc)) from None
    raise CaseError(
        f"unknown case '{spec}': expected one of {', '.join(BUILTIN_CASES)}, a sized family "
        f"({', '.join(SIZED_FAMILIES)}), pdb:<posteriordb posterior>, "
        "gym:<inference-gym target>, "
        "path/to/file.py:NAME or path/to/model.stan[@data.json]"
    )


def _load_user_case(spec: str) -> Case:
    return _with_source(load_named(spec, "case", Case, CaseError), spec)


def _with_source(case: Case, spec: str) -> Case:
    from dataclasses import replace

    return replace(case, source=spec)
