"""Neal's funnel in 10 dimensions: v ~ N(0, 3), x_i | v ~ N(0, exp(v / 2)), i = 1..9.

The centered form is a pathological control: NUTS with a diagonal metric cannot
adapt to both the neck and the mouth, so it must keep failing its health gates.
The non-centered form samples v and z_i = x_i / exp(v / 2) ~ N(0, 1) independently.
Both have analytic references.
"""

from __future__ import annotations

import numpy as np

from .base import Case, Reference, identity, indexed_names

D = 10  # v and nine x_i

CENTERED_STAN = """
data { int<lower=2> d; }
parameters { real v; vector[d - 1] x; }
model {
  v ~ normal(0, 3);
  x ~ normal(0, exp(v / 2));
}
"""

NCP_STAN = """
data { int<lower=2> d; }
parameters { real v; vector[d - 1] z; }
model {
  v ~ normal(0, 3);
  z ~ std_normal();
}
"""


def neal_funnel(d: int = D) -> Case:
    names = ("v", *indexed_names("x", d - 1))

    def log_density(theta):
        import jax.numpy as jnp

        v, x = theta[0], theta[1:]
        return -(v**2) / 18.0 - 0.5 * jnp.exp(-v) * jnp.sum(x**2) - 0.5 * (d - 1) * v

    # Marginals: v ~ N(0, 3); x_i has mean 0 and variance E[exp(v)] = exp(9 / 2).
    sd_x = float(np.exp(9.0 / 4.0))
    return Case(
        name=f"neal_funnel_{d}d",
        family="funnel",
        parameterization="centered",
        description=f"Neal's funnel, centered, {d} dimensions: the pathological control (expected to fail).",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data={"d": d},
        stan_code=CENTERED_STAN,
        stan_data={"d": d},
        reference=Reference(
            kind="analytic",
            mean={n: 0.0 for n in names},
            sd={"v": 3.0, **{n: sd_x for n in names[1:]}},
            mcse={n: 0.0 for n in names},
            # Var[x^2]: v's 2 * 3^4; x's E[x^4] - E[x^2]^2 = 3 E[exp(2 v)] - E[exp(v)]^2 = 3 e^18 - e^9,
            # about 10^7 times the Gaussian 2 sd^4 a reference without it would stand in
            var_sq={"v": 162.0, **{n: float(3.0 * np.exp(18.0) - np.exp(9.0)) for n in names[1:]}},
            source="v ~ N(0, 3); x_i ~ N(0, exp(v / 2)) marginally: mean 0, sd exp(9/4)",
        ),
        is_control=True,
    )


def neal_funnel_ncp(d: int = D) -> Case:
    names = ("v", *indexed_names("z", d - 1))

    def log_density(theta):
        import jax.numpy as jnp

        v, z = theta[0], theta[1:]
        return -(v**2) / 18.0 - 0.5 * jnp.sum(z**2)

    return Case(
        name=f"neal_funnel_ncp_{d}d",
        family="funnel",
        parameterization="ncp",
        description=f"Neal's funnel, non-centered, {d} dimensions: v ~ N(0, 3), z_i ~ N(0, 1).",
        unconstrained_names=names,
        param_names=names,
        log_density=log_density,
        constrain=identity,
        data={"d": d},
        stan_code=NCP_STAN,
        stan_data={"d": d},
        reference=Reference(
            kind="analytic",
            mean={n: 0.0 for n in names},
            sd={"v": 3.0, **{n: 1.0 for n in names[1:]}},
            mcse={n: 0.0 for n in names},
            source="v ~ N(0, 3), z_i ~ N(0, 1)",
        ),
    )
