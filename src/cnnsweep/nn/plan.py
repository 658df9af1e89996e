"""Layer plans: every layer of a network with its per-sample shapes, before any allocation.

An architecture (architectures.py) describes itself to a `Planner`, which computes each layer's
output shape and raises `GeometryError` with the sizes when they do not fit. Each plan type then
builds its own layer (`build`): adding a layer kind means one plan class here and one layer class
in layers.py, nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cnnsweep.nn.im2col import GeometryError, output_size
from cnnsweep.nn.init import WeightInit
from cnnsweep.nn.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Layer,
    Pooling,
    Relu,
    Sigmoid,
)


@dataclass(frozen=True)
class BuildContext:
    """What building a layer may need besides its plan."""

    init: WeightInit
    rng: np.random.Generator  # weights and dropout masks come from the run's one generator
    dtype: np.dtype
    first: bool  # the network's first layer: its input gradient is never needed


@dataclass(frozen=True)
class LayerPlan:
    in_shape: tuple[int, ...]  # per sample, no batch axis
    out_shape: tuple[int, ...]

    # A layer with weights starts the next parameter index: W1, b1 belong to the first such
    # layer, and the layers after it (batch norm's gamma1, beta1) share its index.
    has_weights: ClassVar[bool] = False

    def build(self, ctx: BuildContext) -> Layer:
        raise NotImplementedError


@dataclass(frozen=True)
class ConvPlan(LayerPlan):
    filter_size: int
    pad: int
    stride: int
    has_weights: ClassVar[bool] = True

    def build(self, ctx: BuildContext) -> Layer:
        FN, C, fs = self.out_shape[0], self.in_shape[0], self.filter_size
        W = ctx.init.weights((FN, C, fs, fs), C * fs * fs, ctx.rng, ctx.dtype)
        return Convolution(W, np.zeros(FN, ctx.dtype), self.stride, self.pad,
                           needs_input_grad=not ctx.first)


@dataclass(frozen=True)
class AffinePlan(LayerPlan):
    has_weights: ClassVar[bool] = True

    def build(self, ctx: BuildContext) -> Layer:
        fan_in, units = math.prod(self.in_shape), self.out_shape[0]
        W = ctx.init.weights((fan_in, units), fan_in, ctx.rng, ctx.dtype)
        return Affine(W, np.zeros(units, ctx.dtype), needs_input_grad=not ctx.first)


@dataclass(frozen=True)
class PoolPlan(LayerPlan):
    size: int
    stride: int
    pad: int
    mode: str

    def build(self, ctx: BuildContext) -> Layer:
        return Pooling(self.size, self.size, self.stride, self.pad, self.mode)


@dataclass(frozen=True)
class BatchNormPlan(LayerPlan):
    spatial: bool  # per channel over (N, H, W), else per feature (the book's form)

    def build(self, ctx: BuildContext) -> Layer:
        size = self.in_shape[0] if self.spatial else math.prod(self.in_shape)
        return BatchNormalization(np.ones(size, ctx.dtype), np.zeros(size, ctx.dtype),
                                  spatial=self.spatial)


@dataclass(frozen=True)
class ReluPlan(LayerPlan):
    def build(self, ctx: BuildContext) -> Layer:
        # In place is safe here: no layer that a planner emits keeps a reference to its output
        # or to the gradient it receives (max pooling keeps routes, not its output).
        return Relu(inplace=True)


@dataclass(frozen=True)
class SigmoidPlan(LayerPlan):
    def build(self, ctx: BuildContext) -> Layer:
        return Sigmoid()


@dataclass(frozen=True)
class DropoutPlan(LayerPlan):
    ratio: float

    def build(self, ctx: BuildContext) -> Layer:
        return Dropout(self.ratio, ctx.rng)


ACTIVATIONS: dict[str, type[LayerPlan]] = {"relu": ReluPlan, "sigmoid": SigmoidPlan}


class Planner:
    """Accumulates layer plans while tracking the per-sample shape; `name` arguments say which
    setting a geometry error is about."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.shape = tuple(input_shape)
        self.layers: list[LayerPlan] = []

    def _add(self, plan_type: type[LayerPlan], out_shape: tuple[int, ...], **options: object) \
            -> None:
        self.layers.append(plan_type(self.shape, tuple(out_shape), **options))
        self.shape = tuple(out_shape)

    def conv(self, filter_num: int, filter_size: int, pad: int, stride: int, name: str) -> None:
        if len(self.shape) != 3:
            raise GeometryError(f"{name}: needs (C, H, W) input, got shape {self.shape}")
        if filter_num < 1:
            raise GeometryError(f"{name}: filter_num = {filter_num} must be at least 1")
        _, H, W = self.shape
        oh = output_size(H, filter_size, pad, stride, layer=name)
        ow = output_size(W, filter_size, pad, stride, layer=name)
        self._add(ConvPlan, (filter_num, oh, ow), filter_size=filter_size, pad=pad,
                  stride=stride)

    def pool(self, size: int, stride: int, pad: int, mode: str, name: str = "pool") -> None:
        if len(self.shape) != 3:
            raise GeometryError(f"{name}: needs (C, H, W) input, got shape {self.shape}")
        C, H, W = self.shape
        if mode == "max" and 2 * pad > size:
            # A window could then hold padding alone: its maximum would be -inf (PyTorch
            # refuses this too).
            raise GeometryError(f"{name}: pad = {pad} must be at most half of size = {size} "
                                f"for max pooling; lower pad or raise size")
        oh = output_size(H, size, pad, stride, layer=name, window_name="size")
        ow = output_size(W, size, pad, stride, layer=name, window_name="size")
        # ReLU then max pooling is computed as max pooling then ReLU: the two commute (the max
        # of rectified values is the rectified max; the gradient reaches a window's first
        # maximum when that is positive and nothing otherwise, either way), and the ReLU then
        # touches a window's share of the elements. Same numbers to the bit
        # (tests/nn/test_plan.py). The ReLU works in place on pooling's output, after pooling
        # has found its routes: it zeroes only windows whose maximum is not positive, and those
        # then receive no gradient, so where pooling routes theirs does not matter.
        relu_before = mode == "max" and self.layers and type(self.layers[-1]) is ReluPlan
        if relu_before:
            self.layers.pop()
        self._add(PoolPlan, (C, oh, ow), size=size, stride=stride, pad=pad, mode=mode)
        if relu_before:
            self._add(ReluPlan, self.shape)

    def affine(self, units: int, name: str) -> None:
        if units < 1:
            raise GeometryError(f"{name}: size = {units} must be at least 1")
        self._add(AffinePlan, (units,))

    def batchnorm(self, spatial: bool) -> None:
        self._add(BatchNormPlan, self.shape, spatial=spatial)

    def activation(self, name: str) -> None:
        self._add(ACTIVATIONS[name], self.shape)

    def dropout(self, ratio: float) -> None:
        self._add(DropoutPlan, self.shape, ratio=ratio)
