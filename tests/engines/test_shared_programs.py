"""compile_ahead inside programs_shared_across_data: one compile for programs that differ
only in the data they close over, and never a program reused with another dataset's values."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from nextstat.engines import jax_common  # noqa: E402
from nextstat.engines.jax_common import compile_ahead, programs_shared_across_data  # noqa: E402


@pytest.fixture(autouse=True)
def float64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def regression_gradient(X: np.ndarray, y: np.ndarray):
    """A log density's value and gradient closing over its data, as a case's does."""
    return jax.value_and_grad(lambda b: -0.5 * jnp.sum((y - X @ b) ** 2) - 0.5 * jnp.sum(b**2))


def datasets(n: int):
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(30, 3)), rng.normal(size=30)) for _ in range(n)]


def test_one_compile_serves_every_dataset_with_its_own_values():
    point = np.array([0.3, -0.2, 0.1])
    with programs_shared_across_data():
        shared = [compile_ahead(regression_gradient(X, y), point)[0](point) for X, y in datasets(3)]
        assert len(jax_common._shared_programs) == 1
    afresh = [compile_ahead(regression_gradient(X, y), point)[0](point) for X, y in datasets(3)]
    for (value, grad), (value_afresh, grad_afresh) in zip(shared, afresh, strict=True):
        np.testing.assert_allclose(value, value_afresh, rtol=1e-12)
        np.testing.assert_allclose(grad, grad_afresh, rtol=1e-12)
    assert len({float(value) for value, _ in shared}) == 3  # each dataset's own value
    assert jax_common._shared_programs is None  # closed again outside


def test_a_jitted_call_closing_over_data_is_inlined_and_shared():
    """A library's own ``jax.jit`` (BlackJAX jits its loops) keeps the data it closes over
    inside its nested program, where the printed program does not show it: the call is
    inlined, its data handed over as the program's own, and each dataset gets its values."""

    def nested(X, y):
        inner = jax.jit(lambda b: jnp.sum((y - X @ b) ** 2))
        return lambda b: inner(b) + jnp.sum(b)

    point = np.ones(3)
    with programs_shared_across_data():
        values = [float(compile_ahead(nested(X, y), point)[0](point)) for X, y in datasets(2)]
        assert len(jax_common._shared_programs) == 1
    expected = [float(np.sum((y - X @ point) ** 2) + 3.0) for X, y in datasets(2)]
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_data_still_nested_inside_a_loop_is_never_reused():
    """A jitted call inside a loop's body stays nested: its constants key the program by
    value, so another dataset compiles afresh instead of running with the first's data."""

    def in_a_loop(X, y):
        inner = jax.jit(lambda b: jnp.sum((y - X @ b) ** 2))
        return lambda b: jax.lax.fori_loop(0, 2, lambda i, total: total + inner(b), 0.0)

    point = np.ones(3)
    with programs_shared_across_data():
        values = [float(compile_ahead(in_a_loop(X, y), point)[0](point)) for X, y in datasets(2)]
        assert len(jax_common._shared_programs) == 2
    expected = [2 * float(np.sum((y - X @ point) ** 2)) for X, y in datasets(2)]
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_a_program_that_calls_back_into_python_is_compiled_afresh():
    seen: list[str] = []

    def with_callback(tag: str):
        def record(x):
            seen.append(tag)
            return np.zeros((), x.dtype)

        return lambda x: x + jax.pure_callback(record, jax.ShapeDtypeStruct((), jnp.float64), x[0])

    point = np.zeros(2)
    with programs_shared_across_data():
        for tag in ("first", "second"):
            compile_ahead(with_callback(tag), point)[0](point)
        assert not jax_common._shared_programs
    assert seen == ["first", "second"]
