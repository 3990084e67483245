"""Isotropic standard normal: the sanity baseline with analytic moments."""

from __future__ import annotations

from .base import Case, Reference, identity, indexed_names

STAN_CODE = """
data { int<lower=1> d; }
parameters { vector[d] x; }
model { x ~ std_normal(); }
"""


def std_normal(d: int) -> Case:
    names = indexed_names("x", d)

    def log_density(x):
        return -0.5 * (x * x).sum()

    return Case(
        name=f"std_normal_d{d}",
        family="std_normal",
        parameterization="none",
        description=f"Standard normal in {d} dimensions; analytic reference.",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data={"d": d},
        stan_code=STAN_CODE,
        stan_data={"d": d},
        reference=Reference(
            kind="analytic",
            mean={n: 0.0 for n in names},
            sd={n: 1.0 for n in names},
            mcse={n: 0.0 for n in names},
            source="N(0, I)",
        ),
    )
