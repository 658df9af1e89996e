"""Numerical gradients by central differences, for tests and for users checking a new layer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f() / d x, perturbing `x` in place one element at a time (restored afterwards).

    Use float64 arrays: in float32 the differences drown in rounding error.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("x must be contiguous so that it can be perturbed in place")
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + h
        plus = f()
        flat_x[i] = original - h
        minus = f()
        flat_x[i] = original
        flat_g[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """`max|x − y| / max(1e-8, |x| + |y|)`, elementwise, as in CS231n's checks."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def check_layer_gradients(forward: Callable[[np.ndarray], np.ndarray],
                          backward: Callable[[np.ndarray], np.ndarray | None],
                          inputs: dict[str, np.ndarray], dout: np.ndarray,
                          analytic: Callable[[], dict[str, np.ndarray]]) -> dict[str, float]:
    """Relative error between analytic and numerical gradients of `sum(forward(x) * dout)`.

    `inputs` names every array to check (the input and the layer's parameters); `analytic`
    returns their analytic gradients after one `forward` + `backward(dout)`.
    """
    x = inputs["x"]
    forward(x)
    dx = backward(dout)
    grads = dict(analytic())
    if dx is not None:
        grads["x"] = dx
    errors = {}
    for name, arr in inputs.items():
        if name not in grads:
            continue
        num = numerical_gradient(lambda: float(np.sum(forward(x) * dout)), arr)
        errors[name] = rel_error(grads[name], num)
    return errors
