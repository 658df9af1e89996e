"""Networks assembled from a plain architecture spec.

A spec (a dataclass) is first turned into a *plan*: every layer with its input and output shape,
checked before a single weight is allocated, so a bad geometry fails at once with the sizes.
The plan then becomes a `Network`: an ordered list of layers, a params dict naming the same
arrays the layers hold (`W1`, `b1`, `gamma1`, … as in the book), and predict/loss/gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnsweep.nn.im2col import GeometryError, output_size
from cnnsweep.nn.init import init_weights
from cnnsweep.nn.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Layer,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
)

__all__ = [
    "ConvSpec",
    "DeepConvNetSpec",
    "GeometryError",
    "LayerPlan",
    "MLPSpec",
    "Network",
    "PoolSpec",
    "SimpleConvNetSpec",
    "build_network",
    "plan_network",
]


@dataclass(frozen=True)
class ConvSpec:
    filter_num: int = 30  # output channels
    filter_size: int = 5  # square filters, FH = FW
    pad: int = 0  # zero padding on each side
    stride: int = 1


@dataclass(frozen=True)
class PoolSpec:
    size: int = 2  # square window
    stride: int = 2  # the book uses stride = size (windows that do not overlap)
    pad: int = 0
    mode: str = "max"  # "max" or "avg"


@dataclass(frozen=True)
class SimpleConvNetSpec:
    """conv → [BN] → ReLU → pool → affine → [BN] → ReLU → [dropout] → affine (book ch.7)."""

    conv: ConvSpec = field(default_factory=ConvSpec)
    pool: PoolSpec = field(default_factory=PoolSpec)
    hidden_size: int = 100
    batchnorm: bool = False
    dropout: float = 0.0


@dataclass(frozen=True)
class MLPSpec:
    """(affine → [BN] → activation → [dropout]) per hidden size, then affine (book ch.6)."""

    hidden_sizes: tuple[int, ...] = (100, 100, 100, 100)
    activation: str = "relu"  # "relu" or "sigmoid"
    batchnorm: bool = False
    dropout: float = 0.0


@dataclass(frozen=True)
class DeepConvNetSpec:
    """The book's ch.8 VGG-like net: six 3×3 convs (pad 1, the fourth pad 2) in pairs, each
    pair followed by 2×2 max pooling, then affine(hidden) → ReLU → dropout → affine → dropout."""

    channels: tuple[int, ...] = (16, 16, 32, 32, 64, 64)
    hidden_size: int = 50
    dropout: float = 0.5


ArchSpec = SimpleConvNetSpec | MLPSpec | DeepConvNetSpec


@dataclass(frozen=True)
class LayerPlan:
    kind: str  # conv, pool, affine, batchnorm, relu, sigmoid, dropout
    in_shape: tuple[int, ...]  # per sample, no batch axis
    out_shape: tuple[int, ...]
    options: dict = field(default_factory=dict)


class _Planner:
    """Accumulates layers while tracking the per-sample shape."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.shape = tuple(input_shape)
        self.layers: list[LayerPlan] = []

    def add(self, kind: str, out_shape: tuple[int, ...], **options: object) -> None:
        self.layers.append(LayerPlan(kind, self.shape, tuple(out_shape), dict(options)))
        self.shape = tuple(out_shape)

    def conv(self, filter_num: int, filter_size: int, pad: int, stride: int, name: str) -> None:
        if len(self.shape) != 3:
            raise GeometryError(f"{name}: needs (C, H, W) input, got shape {self.shape}")
        if filter_num < 1:
            raise GeometryError(f"{name}: filter_num = {filter_num} must be at least 1")
        C, H, W = self.shape
        oh = output_size(H, filter_size, pad, stride, layer=name)
        ow = output_size(W, filter_size, pad, stride, layer=name)
        self.add("conv", (filter_num, oh, ow), filter_size=filter_size, pad=pad, stride=stride,
                 fan_in=C * filter_size * filter_size)

    def pool(self, spec: PoolSpec, name: str = "pool") -> None:
        C, H, W = self.shape
        oh = output_size(H, spec.size, spec.pad, spec.stride, layer=name, window_name="size")
        ow = output_size(W, spec.size, spec.pad, spec.stride, layer=name, window_name="size")
        self.add("pool", (C, oh, ow), size=spec.size, stride=spec.stride, pad=spec.pad,
                 mode=spec.mode)

    def affine(self, units: int, name: str) -> None:
        if units < 1:
            raise GeometryError(f"{name}: size = {units} must be at least 1")
        fan_in = math.prod(self.shape)
        self.add("affine", (units,), fan_in=fan_in)

    def same(self, kind: str, **options: object) -> None:
        self.add(kind, self.shape, **options)


def plan_network(spec: ArchSpec, input_shape: Sequence[int], output_size: int = 10) \
        -> list[LayerPlan]:
    """Every layer of `spec` with its shapes; raises GeometryError before any allocation."""
    p = _Planner(tuple(input_shape))
    if isinstance(spec, SimpleConvNetSpec):
        c = spec.conv
        p.conv(c.filter_num, c.filter_size, c.pad, c.stride, name="conv")
        if spec.batchnorm:
            p.same("batchnorm", spatial=True)
        p.same("relu")
        p.pool(spec.pool)
        p.affine(spec.hidden_size, name="hidden_size")
        if spec.batchnorm:
            p.same("batchnorm", spatial=False)
        p.same("relu")
        if spec.dropout > 0:
            p.same("dropout", ratio=spec.dropout)
        p.affine(output_size, name="output")
    elif isinstance(spec, MLPSpec):
        if spec.activation not in ("relu", "sigmoid"):
            raise ValueError(f"activation {spec.activation!r} is not one of 'relu', 'sigmoid'")
        for i, units in enumerate(spec.hidden_sizes):
            p.affine(units, name=f"hidden_sizes[{i}]")
            if spec.batchnorm:
                p.same("batchnorm", spatial=False)
            p.same(spec.activation)
            if spec.dropout > 0:
                p.same("dropout", ratio=spec.dropout)
        p.affine(output_size, name="output")
    elif isinstance(spec, DeepConvNetSpec):
        if len(spec.channels) != 6:
            raise GeometryError(f"deep_convnet: channels {list(spec.channels)} must list 6 sizes")
        for i, ch in enumerate(spec.channels):
            p.conv(ch, 3, 2 if i == 3 else 1, 1, name=f"conv{i + 1}")
            p.same("relu")
            if i % 2:
                p.pool(PoolSpec(2, 2, 0, "max"), name=f"pool{i // 2 + 1}")
        p.affine(spec.hidden_size, name="hidden_size")
        p.same("relu")
        p.same("dropout", ratio=spec.dropout)
        p.affine(output_size, name="output")
        p.same("dropout", ratio=spec.dropout)
    else:
        raise TypeError(f"unknown architecture spec {type(spec).__name__}")
    return p.layers


class Network:
    """Layers in order plus softmax-with-loss; `params` maps `W1`, `b1`, … to the layers' arrays.

    `weight_decay` (λ) adds `0.5 * λ * sum(W**2)` over every weight (not bias, not BN) to the
    loss and `λ * W` to those gradients, as the book's MultiLayerNet does.
    """

    def __init__(self, layers: list[tuple[str, Layer]], weight_decay: float = 0.0) -> None:
        self.layers = layers
        self.last_layer = SoftmaxWithLoss()
        self.weight_decay = float(weight_decay)
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self._owners: dict[str, tuple[Layer, str]] = {}
        for suffix, layer in layers:
            for local, arr in layer.params.items():
                self.params[f"{local}{suffix}"] = arr
                self._owners[f"{local}{suffix}"] = (layer, local)
            for local, arr in layer.buffers.items():
                self.buffers[f"{local}{suffix}"] = arr
        self.weight_keys = [k for k in self.params if k.startswith("W")]

    @property
    def param_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    @property
    def dtype(self) -> np.dtype:
        return next(iter(self.params.values())).dtype

    # Evaluation runs in chunks: past ~100 images the im2col temporaries outgrow the caches
    # (a DeepConvNet batch of 1,000 needs 450 MB of columns) and throughput drops 2-5×.
    EVAL_CHUNK = 100

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Class scores `(N, K)` of a batch (before softmax)."""
        if not train and len(x) > self.EVAL_CHUNK:
            return np.concatenate([self.predict(x[i : i + self.EVAL_CHUNK])
                                   for i in range(0, len(x), self.EVAL_CHUNK)])
        for _, layer in self.layers:
            x = layer.forward(x, train)
        return x

    def weight_decay_loss(self) -> float:
        if not self.weight_decay:
            return 0.0
        total = sum(float(np.sum(self.params[k] ** 2)) for k in self.weight_keys)
        return 0.5 * self.weight_decay * total

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        return self.last_layer.forward(self.predict(x, train), t) + self.weight_decay_loss()

    def loss_and_gradient(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict]:
        """One training forward and backward pass: the loss and every parameter's gradient."""
        loss = self.loss(x, t, train=True)
        dout = self.last_layer.backward(1.0)
        for _, layer in reversed(self.layers):
            dout = layer.backward(dout)
            if dout is None:  # the first layer skipped its input gradient
                break
        grads = {key: layer.grads[local] for key, (layer, local) in self._owners.items()}
        if self.weight_decay:
            for k in self.weight_keys:
                grads[k] = grads[k] + self.weight_decay * self.params[k]
        return loss, grads

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        return self.loss_and_gradient(x, t)[1]

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        """Fraction of correct predictions (evaluation mode; `predict` works in chunks)."""
        if len(x) == 0:
            return float("nan")
        labels = t.argmax(axis=1) if t.ndim > 1 else t
        return float(np.mean(self.predict(x).argmax(axis=1) == labels))

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**self.params, **self.buffers}

    def save(self, path: str | Path) -> None:
        np.savez(path, **self.state_dict())

    def load(self, path: str | Path) -> None:
        """Copy parameters saved by `save` into this network (shapes must match)."""
        state = self.state_dict()
        with np.load(path, allow_pickle=False) as saved:
            missing = sorted(set(state) - set(saved.files))
            if missing:
                raise ValueError(f"{path}: no arrays for {', '.join(missing)}")
            for key, target in state.items():
                if saved[key].shape != target.shape:
                    raise ValueError(f"{path}: {key} has shape {saved[key].shape}, "
                                     f"the network expects {target.shape}")
                np.copyto(target, saved[key])


def build_network(spec: ArchSpec, input_shape: Sequence[int] = (1, 28, 28),
                  output_size: int = 10, *, init: str | float = "std", init_std: float = 0.01,
                  rng: np.random.Generator | None = None, dtype: np.dtype | str = np.float32,
                  weight_decay: float = 0.0) -> Network:
    """Build the network of `spec` for inputs of `input_shape` (per sample)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    dtype = np.dtype(dtype)
    plan = plan_network(spec, input_shape, output_size)
    layers: list[tuple[str, Layer]] = []
    index = 0
    for i, lp in enumerate(plan):
        first = i == 0
        if lp.kind == "conv":
            index += 1
            fs, fan_in = lp.options["filter_size"], lp.options["fan_in"]
            shape = (lp.out_shape[0], lp.in_shape[0], fs, fs)
            W = init_weights(shape, fan_in, init, init_std, rng, dtype)
            layer: Layer = Convolution(W, np.zeros(shape[0], dtype), lp.options["stride"],
                                       lp.options["pad"], needs_input_grad=not first)
        elif lp.kind == "affine":
            index += 1
            fan_in = lp.options["fan_in"]
            W = init_weights((fan_in, lp.out_shape[0]), fan_in, init, init_std, rng, dtype)
            layer = Affine(W, np.zeros(lp.out_shape[0], dtype), needs_input_grad=not first)
        elif lp.kind == "batchnorm":
            size = lp.in_shape[0] if lp.options["spatial"] else math.prod(lp.in_shape)
            layer = BatchNormalization(np.ones(size, dtype), np.zeros(size, dtype),
                                       spatial=lp.options["spatial"])
        elif lp.kind == "pool":
            o = lp.options
            layer = Pooling(o["size"], o["size"], o["stride"], o["pad"], o["mode"])
        elif lp.kind == "relu":
            layer = Relu(inplace=True)  # every layer before it discards its output
        elif lp.kind == "sigmoid":
            layer = Sigmoid()
        elif lp.kind == "dropout":
            layer = Dropout(lp.options["ratio"], rng)
        else:  # pragma: no cover - plan_network only emits the kinds above
            raise AssertionError(lp.kind)
        layers.append((str(index), layer))
    return Network(layers, weight_decay=weight_decay)
