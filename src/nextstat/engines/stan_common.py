"""What Stan's engine and the Stan/JAX parity check share: building a model with PyStan."""

from __future__ import annotations


def pystan_build(program_code: str, data, random_seed: int):
    """``stan.build`` with PyStan's progress lines sent to stderr, where logs belong
    (stdout is the command's own output)."""
    import contextlib
    import sys

    import stan

    with contextlib.redirect_stdout(sys.stderr):
        return stan.build(program_code, data=dict(data or {}), random_seed=random_seed)
