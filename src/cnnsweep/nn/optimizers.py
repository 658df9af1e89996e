"""Optimizers behind one interface, `update(params, grads)`, with state per parameter name
created on the first update; every update is in place, so the network sees it at once.

A new optimizer is one subclass with a `name`: defining it registers it in `OPTIMIZERS`, and its
`__init__` keyword arguments are its hyper-parameters, with their defaults, for the whole project
(the config schema `optimizer=<name>` is derived from them; see docs/extending.md).
"""

from __future__ import annotations

import inspect
import math
from typing import ClassVar

import numpy as np

from cnnsweep.nn.checks import require_fraction, require_positive
from cnnsweep.nn.registry import Registered

OPTIMIZERS: dict[str, type[Optimizer]] = {}


class Optimizer(Registered):
    """Base class: subclasses implement `step(key, w, g)` for one parameter."""

    registry: ClassVar[dict[str, type[Optimizer]]] = OPTIMIZERS

    def __init__(self, lr: float) -> None:
        self.lr = float(require_positive("lr", lr))
        self.state: dict[str, dict[str, np.ndarray]] = {}

    @classmethod
    def hyperparameters(cls) -> dict[str, float]:
        """The keyword arguments of `__init__` and their defaults, in order (`lr` first)."""
        return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
                if p.name != "self"}

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

    def counters(self) -> dict[str, int]:
        """Scalar state shared by all parameters (Adam's step count); saved in checkpoints."""
        return {}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Everything an update depends on besides the hyper-parameters: the per-parameter
        slots as `{"<param>/<slot>": array}` and the counters."""
        arrays = {f"{key}/{name}": arr for key, slots in self.state.items()
                  for name, arr in slots.items()}
        return arrays, self.counters()

    def load_state_dict(self, arrays: dict[str, np.ndarray], counters: dict[str, int]) -> None:
        """Restore what `state_dict` returned (copies, so the caller's arrays stay its own)."""
        unknown = sorted(set(counters) - set(self.counters()))
        if unknown:
            raise ValueError(f"{self.name} has no counter {', '.join(unknown)}")
        self.state = {}
        for flat, arr in arrays.items():
            key, _, name = flat.rpartition("/")
            self.state.setdefault(key, {})[name] = np.array(arr, copy=True)
        for name, value in counters.items():
            setattr(self, name, int(value))


class SGD(Optimizer):
    """w -= lr * g"""

    name = "sgd"

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        w -= self.lr * g


class Momentum(Optimizer):
    """v = m*v - lr*g; w += v"""

    name = "momentum"

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = require_fraction("momentum", momentum)

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

    def __init__(self, lr: float = 0.01, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.eps = float(require_positive("eps", eps))

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        h = self.slot(key, "h", w)
        h += g * g
        w -= self.lr * g / (np.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """h = d*h + (1-d)*g*g; w -= lr * g / (sqrt(h) + eps)"""

    name = "rmsprop"

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.decay_rate = require_fraction("decay_rate", decay_rate)
        self.eps = float(require_positive("eps", eps))

    def step(self, key: str, w: np.ndarray, g: np.ndarray) -> None:
        h = self.slot(key, "h", w)
        h *= self.decay_rate
        h += (1 - self.decay_rate) * g * g
        w -= self.lr * g / (np.sqrt(h) + self.eps)


class Adam(Optimizer):
    """t += 1; lr_t = lr*sqrt(1-b2^t)/(1-b1^t); m += (1-b1)(g-m); v += (1-b2)(g²-v);
    w -= lr_t * m / (sqrt(v) + eps)"""

    name = "adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.beta1 = require_fraction("beta1", beta1)
        self.beta2 = require_fraction("beta2", beta2)
        self.eps = float(require_positive("eps", eps))
        self.t = 0

    def counters(self) -> dict[str, int]:
        return {"t": self.t}

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


def make_optimizer(name: str, **hyperparameters: float) -> Optimizer:
    """An optimizer by registry name, e.g. `make_optimizer('adam', lr=1e-3)`."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") \
            from None
    return cls(**hyperparameters)
