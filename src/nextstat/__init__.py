"""nextstat: a reproducible benchmark harness for Bayesian MCMC samplers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str | None = version("nextstat")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = None


def sample(model, **kwargs):
    """Sample a posterior with nextstat's own samplers; see ``nextstat.api.sample``."""
    from .api import sample as _sample

    return _sample(model, **kwargs)
