"""Which sized family a case name belongs to, and its size: ``std_normal_d100`` is
``std_normal_d<d>`` at d = 100; and which chain-count sweep an engine row belongs to:
``nextstat_laps_chains256`` is ``nextstat_laps`` at 256 chains. Pure string work, shared by
the case registry (which builds any member, ``cases.SIZED_FAMILIES``), the workflow (which
expands a row's ``chains: [...]``) and the report's scaling view (which reads only names)."""

from __future__ import annotations

import re

#: family -> the name pattern; its group ``d`` is the size the scaling view plots (the
#: dimension), any other group a fixed parameter of the family (the Gaussian's kappa)
SIZE_PATTERNS: dict[str, re.Pattern[str]] = {
    "std_normal_d<d>": re.compile(r"std_normal_d(?P<d>[1-9]\d*)"),
    "gaussian_kappa<kappa>_d<d>": re.compile(r"gaussian_kappa(?P<kappa>[1-9]\d*)_d(?P<d>[1-9]\d*)"),
    "neal_funnel_<d>d": re.compile(r"neal_funnel_(?P<d>[1-9]\d*)d"),
    "neal_funnel_ncp_<d>d": re.compile(r"neal_funnel_ncp_(?P<d>[1-9]\d*)d"),
    "rosenbrock_d<d>": re.compile(r"rosenbrock_d(?P<d>[1-9]\d*[02468]|[2468])"),
    "logistic_n<n>_d<d>": re.compile(r"logistic_n(?P<n>[1-9]\d*)_d(?P<d>[1-9]\d*)"),
}


def sized_match(name: str) -> tuple[str, re.Match[str]] | None:
    """The family ``name`` is a member of, and the match; None for any other name."""
    for family, pattern in SIZE_PATTERNS.items():
        match = pattern.fullmatch(name)
        if match:
            return family, match
    return None


def family_and_size(name: str) -> tuple[str, int] | None:
    """``gaussian_kappa100_d50`` -> (``gaussian_kappa100_d<d>``, 50): the family with its fixed
    parameters filled in, and the size; None for a name outside the sized families."""
    found = sized_match(name)
    if found is None:
        return None
    family, match = found
    fixed = {key: value for key, value in match.groupdict().items() if key != "d"}
    for key, value in fixed.items():
        family = family.replace(f"<{key}>", value)
    return family, int(match["d"])


#: an engine row of a chain-count sweep: ``<label>_chains<n>``
CHAIN_SWEEP = re.compile(r"(?P<base>.+)_chains(?P<n>[1-9]\d*)")


def chain_sweep_label(label: str, chains: int) -> str:
    """The label of ``label``'s row at ``chains`` chains."""
    return f"{label}_chains{chains}"


def chain_sweep_member(label: str) -> tuple[str, int] | None:
    """``nextstat_laps_chains256`` -> (``nextstat_laps``, 256); None for any other label."""
    match = CHAIN_SWEEP.fullmatch(label)
    return (match["base"], int(match["n"])) if match else None
