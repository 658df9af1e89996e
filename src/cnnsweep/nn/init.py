"""Weight initialisers by name: a fixed standard deviation, Xavier or He (biases start at 0)."""

from __future__ import annotations

import math

import numpy as np

# The book also accepts the activation it pairs each scheme with.
_ALIASES = {"sigmoid": "xavier", "relu": "he"}
INITIALISERS = ("std", "xavier", "he")


def weight_std(init: str | float, fan_in: int, std: float = 0.01) -> float:
    """Standard deviation of a layer's weights for `init` ∈ {'std', 'xavier', 'he'} or a number.

    Xavier: `sqrt(1 / fan_in)`; He: `sqrt(2 / fan_in)`; `fan_in` is `C*FH*FW` for a convolution
    and the input width for an affine layer.
    """
    if isinstance(init, (int, float)) and not isinstance(init, bool):
        return float(init)
    name = _ALIASES.get(str(init).lower(), str(init).lower())
    if name == "std":
        return float(std)
    if name == "xavier":
        return math.sqrt(1.0 / fan_in)
    if name == "he":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"unknown weight init {init!r}; choose one of {', '.join(INITIALISERS)} "
                     "or give a number (the standard deviation)")


def init_weights(shape: tuple[int, ...], fan_in: int, init: str | float, std: float,
                 rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    """Gaussian weights of the given shape with the standard deviation `weight_std` picks."""
    scale = weight_std(init, fan_in, std)
    return (scale * rng.standard_normal(shape)).astype(dtype)
