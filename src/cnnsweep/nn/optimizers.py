"""Optimizers behind one interface, `update(params, grads)`, with state per parameter name
created on the first update; every update is in place, so the network sees it at once."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np


class Optimizer:
    """Base class: subclasses implement `step(key, w, g)` for one parameter."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, float]] = {}

    def __init__(self, lr: float) -> None:
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"{self.name}: learning rate lr={lr} must be a positive number")
        self.lr = float(lr)
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.begin_update()
        for key, g in grads.items():
            self.step(key, params[key], g)

    def begin_update(self) -> None:
        """Hook for state shared by all parameters of one update (Adam's step count)."""

    def slot(self, key: str, name: str, like: np.ndarray) -> np.ndarray:
        slots = self.state.setdefault(key, {})
        if name not in slots:
            slots[name] = np.zeros_like(like)
        return slots[name]

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """w -= lr * g"""

    name = "sgd"
    defaults: ClassVar[dict[str, float]] = {"lr": 0.01}

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        w -= self.lr * g


def _check_fraction(owner: str, name: str, value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {name}={value} must be in [0, 1)")
    return float(value)


class Momentum(Optimizer):
    """v = m*v - lr*g; w += v"""

    name = "momentum"
    defaults: ClassVar[dict[str, float]] = {"lr": 0.01, "momentum": 0.9}

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = _check_fraction(self.name, "momentum", momentum)

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        v = self.slot(key, "v", w)
        v *= self.momentum
        v -= self.lr * g
        w += v


class Nesterov(Momentum):
    """The book's Nesterov form: v = m*v - lr*g; w += m*m*v - (1+m)*lr*g"""

    name = "nesterov"

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        m = self.momentum
        v = self.slot(key, "v", w)
        v *= m
        v -= self.lr * g
        w += m * m * v
        w -= (1 + m) * self.lr * g


class AdaGrad(Optimizer):
    """h += g*g; w -= lr * g / (sqrt(h) + eps)"""

    name = "adagrad"
    defaults: ClassVar[dict[str, float]] = {"lr": 0.01, "eps": 1e-7}

    def __init__(self, lr: float = 0.01, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.eps = float(eps)

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        h = self.slot(key, "h", w)
        h += g * g
        w -= self.lr * g / (np.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """h = d*h + (1-d)*g*g; w -= lr * g / (sqrt(h) + eps)"""

    name = "rmsprop"
    defaults: ClassVar[dict[str, float]] = {"lr": 0.01, "decay_rate": 0.99, "eps": 1e-7}

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.decay_rate = _check_fraction(self.name, "decay_rate", decay_rate)
        self.eps = float(eps)

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        h = self.slot(key, "h", w)
        h *= self.decay_rate
        h += (1 - self.decay_rate) * g * g
        w -= self.lr * g / (np.sqrt(h) + self.eps)


class Adam(Optimizer):
    """t += 1; lr_t = lr*sqrt(1-b2^t)/(1-b1^t); m += (1-b1)(g-m); v += (1-b2)(g²-v);
    w -= lr_t * m / (sqrt(v) + eps)"""

    name = "adam"
    defaults: ClassVar[dict[str, float]] = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999,
                                            "eps": 1e-7}

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.beta1 = _check_fraction(self.name, "beta1", beta1)
        self.beta2 = _check_fraction(self.name, "beta2", beta2)
        self.eps = float(eps)
        self.t = 0

    def begin_update(self) -> None:
        self.t += 1
        self.lr_t = self.lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        m = self.slot(key, "m", w)
        v = self.slot(key, "v", w)
        # The formula above, with two temporaries instead of nine (this runs every step).
        tmp = g - m
        tmp *= 1 - self.beta1
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1 - self.beta2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr_t
        w -= tmp


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)
}


def make_optimizer(name: str, **kwargs: float) -> Optimizer:
    """An optimizer by registry name, e.g. `make_optimizer('adam', lr=1e-3)`."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") \
            from None
    return cls(**kwargs)
