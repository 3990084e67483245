"""In-house samplers: pure JAX functions in BlackJAX's shape (``init``, ``build_kernel``,
NamedTuple states), with integrators, metrics and adaptation kept apart from kernels."""
