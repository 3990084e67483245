"""Remake built-in cases' committed data files from their generators.

``python -m nextstat.cases.remake_data CASE [CASE ...]``. Only for a deliberate change
of a case: the result's last bits depend on this machine's BLAS kernels (the committed
files were made with OpenBLAS's SkylakeX kernels, ``OPENBLAS_CORETYPE=SkylakeX``), and
every reference made on the old data must then be remade with ``nextstat reference``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .case_data import write_case_data
from .glm_logistic import SCALED_COLUMNS, simulate, simulate_correlated
from .hier_logistic import simulate as simulate_hier_logistic


def generators() -> dict[str, Callable[[], dict[str, Any]]]:
    """How each committed file was made: case name -> its generator (dataset seed 12345)."""
    return {
        "glm_logistic_n200_p6": lambda: simulate(200, 6),
        "glm_logistic_n1000_p20": lambda: simulate(1000, 20),
        "glm_logistic_n5000_p20": lambda: simulate(5000, 20),
        "logreg_n1000_p10": lambda: simulate_correlated(1000, 10, 0.5),
        "logreg_scaled_n1000_p10": lambda: simulate_correlated(1000, 10, 0.9, column_scales=SCALED_COLUMNS),
        "hier_logistic_ri": simulate_hier_logistic,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nextstat.cases.remake_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="+", metavar="CASE", choices=sorted(generators()))
    args = parser.parse_args(argv)
    for name in args.cases:
        print(f"{name}: {write_case_data(name, generators()[name]())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
