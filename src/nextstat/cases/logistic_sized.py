"""A logistic regression of any size whose data every machine builds to the same bits.

``logistic_n<n>_d<d>``: n rows, d coefficients, no intercept, N(0, 1) priors; the scaling
suite sweeps d. The other built-in logistic regressions read committed data files because
their generators go through BLAS products and ``exp``, whose last bits differ between CPU
kernels (``case_data``); a file per size of a sweep would be megabytes, so this family's
generator uses integers only, which are exact everywhere:

- covariates ``X = K / 1000`` with integers K uniform on [-1000, 1000] (uniform on [-1, 1]
  on a grid of 0.001; the division is one correctly rounded IEEE operation);
- the true coefficients' integers B uniform on [-1000, 1000], and the linear predictor's
  integer ``S = K @ B`` (exact in int64);
- outcomes ``y = 1`` where ``3 S + E * isqrt(d) > 0``, E the sum of four integers uniform on
  [-10^6, 10^6]: a latent-variable model whose signal (3 S / isqrt(d), sd about 10^6) and
  noise (E, sd about 1.15 * 10^6) stay in proportion at every d, so the outcomes are neither
  all-determined nor pure noise. The noise is Irwin-Hall, close to normal, so the data come
  from a probit-like link and the model fitted is the logistic one: a posterior, like any
  other, defined by its data; nothing here is checked against the generating coefficients.

The committed references (``references/logistic_n<n>_d<d>.json``, long Stan runs) cover the
sizes the scaling suite runs; any other size builds and runs without a reference, and says so.
"""

from __future__ import annotations

import math

import numpy as np

from .base import DATASET_SEED, Case
from .glm_logistic import logreg_given

#: n x d past this is refused: the covariates are held as one float64 matrix
MAX_CELLS = 50_000_000
GRID = 1000
NOISE_SPAN = 10**6
NOISE_TERMS = 4


class LogisticSizeError(ValueError):
    """A size this family does not build."""


def simulate_exact(n: int, d: int, seed: int = DATASET_SEED) -> dict:
    """The family's data, from integers only (see the module's docstring)."""
    if n * d > MAX_CELLS:
        raise LogisticSizeError(
            f"logistic_n{n}_d{d}: {n:,} x {d:,} covariates is past the {MAX_CELLS:,} this family builds"
        )
    rng = np.random.default_rng(seed)
    K = rng.integers(-GRID, GRID, size=(n, d), endpoint=True, dtype=np.int64)
    B = rng.integers(-GRID, GRID, size=d, endpoint=True, dtype=np.int64)
    S = K @ B  # integer matmul: no BLAS, exact
    E = rng.integers(-NOISE_SPAN, NOISE_SPAN, size=(n, NOISE_TERMS), endpoint=True, dtype=np.int64).sum(axis=1)
    y = (3 * S + E * math.isqrt(d) > 0).astype(np.int64)
    return {"N": n, "P": d, "X": K / GRID, "y": y}


def logistic_sized(n: int, d: int) -> Case:
    data = simulate_exact(n, d)
    return logreg_given(
        f"logistic_n{n}_d{d}",
        data,
        f"Logistic regression, no intercept, {n} rows x {d} covariates uniform on [-1, 1] (a 0.001 grid), "
        "N(0, 1) priors; data from integer arithmetic, the same bits on every machine.",
        stan_data={"N": n, "P": d, "X": data["X"].tolist(), "y": data["y"].tolist()},
    )
