"""Our JAX ESS (``samplers.ess``) is BlackJAX's estimator, and our MAMS needs no BlackJAX."""

import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def float64():
    import jax

    jax.config.update("jax_enable_x64", True)


def _ar1(rng, chains, draws, dim, phi):
    x = np.empty((chains, draws, dim))
    noise = rng.normal(size=(chains, draws, dim))
    x[:, 0] = noise[:, 0]
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


#: (chains, draws, dim, lag-1 autocorrelation): independent, correlated and antithetic
#: chains, odd lengths, and chains so short or so correlated that every pair of
#: autocorrelations stays positive
SHAPES = [
    (4, 1000, 3, 0.0),
    (1, 200, 5, 0.5),
    (1, 151, 2, 0.9),
    (2, 12, 3, 0.99),
    (1, 10, 4, -0.7),
    (8, 37, 2, 0.3),
    (1, 2, 2, 0.0),
    (1, 3, 2, 0.5),
    (3, 500, 2, -0.4),
]


@pytest.mark.parametrize("shape", SHAPES)
def test_ess_equals_blackjaxs(shape):
    import jax
    from blackjax.diagnostics import effective_sample_size as blackjax_ess

    from nextstat.samplers.ess import effective_sample_size

    chains = jax.numpy.asarray(_ar1(np.random.default_rng(sum(shape[:3])), *shape))
    theirs = np.asarray(blackjax_ess(chains, chain_axis=0, sample_axis=1)).reshape(-1)
    np.testing.assert_allclose(np.asarray(effective_sample_size(chains)), theirs, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(jax.jit(effective_sample_size)(chains)), theirs, rtol=1e-10)


def test_ess_of_constant_and_nan_coordinates():
    from blackjax.diagnostics import effective_sample_size as blackjax_ess

    from nextstat.samplers.ess import effective_sample_size

    chains = _ar1(np.random.default_rng(1), 2, 100, 3, 0.2)
    chains[:, :, 1] = 3.0
    chains[1, 5, 2] = np.nan
    ours = np.asarray(effective_sample_size(chains))
    assert ours[0] > 0 and ours[1] == 0.0 and np.isnan(ours[2])
    np.testing.assert_allclose(ours, np.asarray(blackjax_ess(chains, chain_axis=0, sample_axis=1)), rtol=1e-10)
    with pytest.raises(ValueError, match="at least 2 draws"):
        effective_sample_size(chains[:, :1])


def test_our_mams_imports_no_blackjax():
    code = (
        "import sys; import nextstat.samplers.mams_warmup, nextstat.engines.nextstat_mams; "
        "print('blackjax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
