"""The SBC picture the SBC papers draw (Säilynoja, Bürkner and Vehtari 2022): per parameter,
the ECDF of the ranks minus the uniform CDF, inside its simultaneous 95% band.

A rank r among L draws takes the values 0..L, each with probability 1/(L + 1) when the
engine is calibrated, so u = (r + 1)/(L + 1) has P(u <= z) = z at z = k/(L + 1). The band
is arviz's simultaneous (``optimized``) band for that many replications at those points:
a calibrated parameter's whole ECDF difference stays inside it with probability 0.95. A
parameter that leaves it anywhere is named; the histogram's chi-square test
(``sbc.uniformity``) stays the artifact's verdict, this is the second opinion the
papers prefer for its power against a shifted or too-wide posterior.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

#: the band's coverage, simultaneous over the evaluation points
BAND_PROB = 0.95
#: at most this many evaluation points (evenly spaced over the rank grid)
MAX_POINTS = 100


def _grid(draws_per_rank: int) -> np.ndarray:
    """The evaluation points k/(L + 1), k = 1..L, thinned to at most ``MAX_POINTS``."""
    k = np.unique(np.linspace(1, draws_per_rank, min(draws_per_rank, MAX_POINTS)).round().astype(int))
    return k / (draws_per_rank + 1)


def ecdf_difference(ranks: np.ndarray, draws_per_rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(evaluation points z, ECDF(z) - z) of one parameter's ranks."""
    z = _grid(draws_per_rank)
    u = (np.asarray(ranks) + 1) / (draws_per_rank + 1)
    ecdf = np.searchsorted(np.sort(u), z, side="right") / len(u)
    return z, ecdf - z


@cache
def band(n_replications: int, draws_per_rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, lower - z, upper - z): the simultaneous band of the ECDF difference (an
    optimisation of a few seconds, so computed once per replication and draw count)."""
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    z = _grid(draws_per_rank)
    lower, upper = ecdf_confidence_band(n_replications, z, z, prob=BAND_PROB, method="optimized")
    return z, np.asarray(lower) - z, np.asarray(upper) - z


def band_exits(artifact: dict[str, Any]) -> list[str]:
    """The parameters whose rank ECDF leaves the simultaneous 95% band."""
    n, draws = artifact["replications_done"], artifact["draws_per_rank"]
    if n == 0:
        return []
    _, low, high = band(n, draws)
    exits = []
    for name in artifact["parameters"]:
        _, diff = ecdf_difference(np.asarray(artifact["ranks"][name]), draws)
        if np.any(diff < low - 1e-12) or np.any(diff > high + 1e-12):
            exits.append(name)
    return exits


def ecdf_difference_chart(artifact: dict[str, Any], path: Path) -> Path:
    """One panel per parameter: the ECDF difference of its ranks and the 95% band."""
    from .charts import parameter_panels

    n, draws = artifact["replications_done"], artifact["draws_per_rank"]
    z, low, high = band(n, draws)
    exits = set(band_exits(artifact))

    def draw(ax, name):
        ax.fill_between(z, low, high, color="0.85", step="post")
        _, diff = ecdf_difference(np.asarray(artifact["ranks"][name]), draws)
        ax.step(z, diff, where="post", color="tab:red" if name in exits else "tab:blue", lw=1.2)
        ax.axhline(0.0, color="0.4", lw=0.6)
        ax.set_title(name + (" (leaves the band)" if name in exits else ""), fontsize=8)

    title = (
        f"SBC rank ECDF minus uniform: {artifact['engine']} on {artifact['case']}, {n} replications "
        f"(grey: simultaneous {BAND_PROB:.0%} band)"
    )
    return parameter_panels(artifact["parameters"], draw, title, path)
