"""How weights start: Gaussian with a fixed standard deviation, or scaled by the fan-in (Xavier,
He). Biases always start at 0."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnsweep.nn.checks import require_choice, require_positive

INITIALISERS = ("std", "xavier", "he")


@dataclass(frozen=True)
class WeightInit:
    name: str = "std"  # std (a fixed standard deviation), xavier or he
    std: float = 0.01  # the standard deviation when name=std (the book's SimpleConvNet default)

    def __post_init__(self) -> None:
        require_choice("name", self.name, INITIALISERS)
        require_positive("std", self.std)

    @classmethod
    def of(cls, init: WeightInit | str | float) -> WeightInit:
        """`'he'` → He; a number → that fixed standard deviation."""
        if isinstance(init, WeightInit):
            return init
        if isinstance(init, (int, float)) and not isinstance(init, bool):
            return cls("std", float(init))
        return cls(str(init))

    def scale(self, fan_in: int) -> float:
        """The standard deviation for a layer with `fan_in` inputs per output (`C*FH*FW` for a
        convolution, the input width for an affine layer): Xavier `sqrt(1 / fan_in)`, He
        `sqrt(2 / fan_in)`."""
        if self.name == "xavier":
            return math.sqrt(1.0 / fan_in)
        if self.name == "he":
            return math.sqrt(2.0 / fan_in)
        return float(self.std)

    def weights(self, shape: tuple[int, ...], fan_in: int, rng: np.random.Generator,
                dtype: np.dtype) -> np.ndarray:
        return (self.scale(fan_in) * rng.standard_normal(shape)).astype(dtype)
