"""Architectures as plain frozen dataclasses: their fields are the settings (with the book's
defaults), `__post_init__` checks the values, and `plan` lays out the layers.

A subclass with a `name` registers itself in `ARCHITECTURES`; the config group `arch=<name>` and
its keys (`conv.filter_num`, `hidden_size`, …) are derived from its fields (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from cnnsweep.nn.checks import require_at_least, require_choice, require_fraction
from cnnsweep.nn.im2col import GeometryError
from cnnsweep.nn.plan import ACTIVATIONS, LayerPlan, Planner
from cnnsweep.nn.registry import Registered

ARCHITECTURES: dict[str, type[Architecture]] = {}


class Architecture(Registered):
    """Base class of the specs: registration by `name` and planning."""

    registry: ClassVar[dict[str, type[Architecture]]] = ARCHITECTURES

    def layers(self, p: Planner, n_classes: int) -> None:
        """Describe every layer to the planner, input to output."""
        raise NotImplementedError


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
    mode: str = "max"  # max | avg

    def __post_init__(self) -> None:
        require_choice("mode", self.mode, ("max", "avg"))


@dataclass(frozen=True)
class SimpleConvNetSpec(Architecture):
    """conv → [BN] → ReLU → pool → affine → [BN] → ReLU → [dropout] → affine (book ch.7)."""

    name: ClassVar[str] = "simple_convnet"
    conv: ConvSpec = field(default_factory=ConvSpec)
    pool: PoolSpec = field(default_factory=PoolSpec)
    hidden_size: int = 100  # units of the hidden affine layer
    batchnorm: bool = False  # batch norm after the convolution (per channel) and the affine
    dropout: float = 0.0  # dropout ratio after the hidden activation (0: none)

    def __post_init__(self) -> None:
        require_fraction("dropout", self.dropout)

    def layers(self, p: Planner, n_classes: int) -> None:
        c, pool = self.conv, self.pool
        p.conv(c.filter_num, c.filter_size, c.pad, c.stride, name="conv")
        if self.batchnorm:
            p.batchnorm(spatial=True)
        p.activation("relu")
        p.pool(pool.size, pool.stride, pool.pad, pool.mode)
        p.affine(self.hidden_size, name="hidden_size")
        if self.batchnorm:
            p.batchnorm(spatial=False)
        p.activation("relu")
        if self.dropout > 0:
            p.dropout(self.dropout)
        p.affine(n_classes, name="output")


@dataclass(frozen=True)
class MLPSpec(Architecture):
    """(affine → [BN] → activation → [dropout]) per hidden size, then affine (book ch.6)."""

    name: ClassVar[str] = "mlp"
    hidden_sizes: tuple[int, ...] = (100, 100, 100, 100)  # units of each hidden layer
    activation: str = "relu"  # relu | sigmoid
    batchnorm: bool = False  # batch norm after each hidden affine layer (the book's ch.6 form)
    dropout: float = 0.0  # dropout ratio after each hidden activation (0: none)

    def __post_init__(self) -> None:
        require_choice("activation", self.activation, tuple(ACTIVATIONS))
        require_fraction("dropout", self.dropout)

    def layers(self, p: Planner, n_classes: int) -> None:
        for i, units in enumerate(self.hidden_sizes):
            p.affine(units, name=f"hidden_sizes[{i}]")
            if self.batchnorm:
                p.batchnorm(spatial=False)
            p.activation(self.activation)
            if self.dropout > 0:
                p.dropout(self.dropout)
        p.affine(n_classes, name="output")


@dataclass(frozen=True)
class DeepConvNetSpec(Architecture):
    """The book's ch.8 VGG-like net: six 3×3 convs (pad 1, the fourth pad 2) in pairs, each
    pair followed by 2×2 max pooling, then affine(hidden) → ReLU → dropout → affine → dropout."""

    name: ClassVar[str] = "deep_convnet"
    channels: tuple[int, ...] = (16, 16, 32, 32, 64, 64)  # output channels of the six convs
    hidden_size: int = 50  # units of the hidden affine layer
    dropout: float = 0.5  # dropout ratio after the hidden and the output affine layers

    def __post_init__(self) -> None:
        if len(self.channels) != 6:
            raise GeometryError(f"channels={list(self.channels)} must list 6 sizes")
        require_fraction("dropout", self.dropout)

    def layers(self, p: Planner, n_classes: int) -> None:
        for i, ch in enumerate(self.channels):
            p.conv(ch, 3, 2 if i == 3 else 1, 1, name=f"conv{i + 1}")
            p.activation("relu")
            if i % 2:
                p.pool(2, 2, 0, "max", name=f"pool{i // 2 + 1}")
        p.affine(self.hidden_size, name="hidden_size")
        p.activation("relu")
        p.dropout(self.dropout)
        p.affine(n_classes, name="output")
        p.dropout(self.dropout)


def plan_network(spec: Architecture, input_shape: Sequence[int], n_classes: int = 10) \
        -> list[LayerPlan]:
    """Every layer of `spec` with its shapes; raises GeometryError before any allocation."""
    require_at_least("n_classes", n_classes, 1)
    planner = Planner(tuple(input_shape))
    spec.layers(planner, n_classes)
    return planner.layers
