"""A network: its layers in order, the softmax-with-loss on top, and a params dict naming the
same arrays the layers hold (`W1`, `b1`, `gamma1`, … as in the book).

`build_network` turns an architecture spec into one: planned first (every shape checked before a
weight is allocated), then each layer built by its own plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cnnsweep.nn.architectures import Architecture, plan_network
from cnnsweep.nn.checks import require_at_least, require_not_negative
from cnnsweep.nn.init import WeightInit
from cnnsweep.nn.layers import (
    BatchNormalization,
    Convolution,
    Layer,
    SoftmaxWithLoss,
    backward_through,
    forward_through,
)
from cnnsweep.nn.parallel import BatchSplit
from cnnsweep.nn.plan import BuildContext, LayerPlan

# Evaluation's chunks: at least 100 images, more while a chunk's largest layer output stays
# within 4 MiB. Inference of 1,000 images in chunks of 50 / 100 / 200 / 500 / 1,000, ms,
# interleaved in one process per network, one thread: DeepConvNet (largest output 49 KiB per
# image) 442 / 430 / 435 / 516 / 712, SimpleConvNet (68 KiB) 68 / 66 / 74 / 68 / 89: beyond
# 100-200 images the activations fall out of the caches. The book's MLP (400 bytes) 4.8 / 3.8 /
# 3.6 / 3.7 / 3.5, and with two (BLAS) threads 5.1 / 4.3 / 2.7 / 2.3 / 2.3: its GEMMs need rows.
MIN_EVAL_CHUNK = 100
EVAL_CHUNK_BYTES = 4 << 20


class Network:
    """Layers in order plus softmax-with-loss; `params` maps `W1`, `b1`, … to the layers' arrays.

    `weight_decay` (λ) adds `0.5 * λ * sum(W**2)` over every weight (not bias, not BN) to the
    loss and `λ * W` to those gradients, as the book's MultiLayerNet does.
    """

    def __init__(self, layers: list[tuple[str, Layer]], weight_decay: float = 0.0,
                 eval_chunk: int = MIN_EVAL_CHUNK) -> None:
        self.layers = layers
        self.eval_chunk = eval_chunk  # images per evaluation pass: evaluation_chunk()
        self._stack = [layer for _, layer in layers]
        self.last_layer = SoftmaxWithLoss()
        require_not_negative("weight_decay", weight_decay)
        self.weight_decay = float(weight_decay)
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self._owners: dict[str, tuple[Layer, str]] = {}
        self._positions: dict[str, int] = {}  # a parameter's layer, by its place in the stack
        for position, (suffix, layer) in enumerate(layers):
            for local, arr in layer.params.items():
                self.params[f"{local}{suffix}"] = arr
                self._owners[f"{local}{suffix}"] = (layer, local)
                self._positions[f"{local}{suffix}"] = position
            for local, arr in layer.buffers.items():
                self.buffers[f"{local}{suffix}"] = arr
        self.weight_keys = [k for k in self.params if k.startswith("W")]
        self._split: BatchSplit | None = None

    def set_threads(self, threads: int) -> int:
        """Split each training batch (and evaluation's chunks) over `threads` Python threads,
        one copy of the layer stack each (nn/parallel.py); give BLAS one thread per copy.

        Returns the number of threads the batch is split over: `threads`, or 1 (the caller
        then gives the threads to BLAS) for a network with batch normalisation, whose
        statistics are the whole batch's, and for one without convolutions, whose step is a
        few GEMMs too short to split (an MLP step split over two threads ran at 0.6× of one).
        One thread computes exactly as before.
        """
        require_at_least("threads", threads, 1)
        kinds = {type(layer) for layer in self._stack}
        self._split = None
        if threads > 1 and Convolution in kinds and BatchNormalization not in kinds:
            self._split = BatchSplit(self._stack, threads)
        return 1 if self._split is None else threads

    @property
    def param_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    @property
    def dtype(self) -> np.dtype:
        return next(iter(self.params.values())).dtype

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Class scores `(N, K)` of a batch (before softmax); evaluation runs `eval_chunk`
        images at a time (dealt to the threads of a split batch)."""
        chunk = self.eval_chunk
        if not train and len(x) > chunk:
            if self._split is not None:
                return self._split.predict(x, chunk)
            return np.concatenate([self.predict(x[i : i + chunk])
                                   for i in range(0, len(x), chunk)])
        return forward_through(self._stack, x, train)

    def weight_decay_loss(self) -> float:
        if not self.weight_decay:
            return 0.0
        # math.fsum: the exactly rounded sum, the same on every Python (3.12's sum() of floats
        # compensates, 3.11's does not, and logged losses differed in their last bits).
        total = math.fsum(float(np.sum(self.params[k] ** 2)) for k in self.weight_keys)
        return 0.5 * self.weight_decay * total

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        return self.last_layer.forward(self.predict(x, train), t) + self.weight_decay_loss()

    def loss_and_gradient(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict]:
        """One training forward and backward pass: the loss and every parameter's gradient."""
        if self._split is not None and len(x) > 1:
            loss, by_position = self._split.loss_and_gradients(x, t)
            loss += self.weight_decay_loss()
            grads = {key: by_position[self._positions[key]][local]
                     for key, (_, local) in self._owners.items()}
        else:
            loss = self.loss(x, t, train=True)
            backward_through(self._stack, self.last_layer.backward(1.0))
            grads = {key: layer.grads[local] for key, (layer, local) in self._owners.items()}
        if self.weight_decay:
            for k in self.weight_keys:
                grads[k] = grads[k] + self.weight_decay * self.params[k]
        return loss, grads

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


def build_network(spec: Architecture, input_shape: Sequence[int] = (1, 28, 28),
                  n_classes: int = 10, *, init: WeightInit | str | float = "std",
                  rng: np.random.Generator | None = None, dtype: np.dtype | str = np.float32,
                  weight_decay: float = 0.0) -> Network:
    """Build the network of `spec` for inputs of `input_shape` (per sample, e.g. (1, 28, 28))."""
    return network_from_plan(plan_network(spec, input_shape, n_classes), init=init, rng=rng,
                             dtype=dtype, weight_decay=weight_decay)


def evaluation_chunk(plan: Sequence[LayerPlan], dtype: np.dtype) -> int:
    """Images per evaluation pass of the network `plan` describes (see EVAL_CHUNK_BYTES)."""
    largest = max(math.prod(layer.out_shape) for layer in plan) * np.dtype(dtype).itemsize
    return max(MIN_EVAL_CHUNK, EVAL_CHUNK_BYTES // largest)


def network_from_plan(plan: Sequence[LayerPlan], *,
                      init: WeightInit | str | float = "std",
                      rng: np.random.Generator | None = None, dtype: np.dtype | str = np.float32,
                      weight_decay: float = 0.0) -> Network:
    """Build each planned layer in order; weights are drawn from `rng` in that order."""
    rng = rng if rng is not None else np.random.default_rng(0)
    init, dtype = WeightInit.of(init), np.dtype(dtype)
    layers: list[tuple[str, Layer]] = []
    index = 0
    for i, layer_plan in enumerate(plan):
        index += layer_plan.has_weights
        layer = layer_plan.build(BuildContext(init, rng, dtype, first=i == 0))
        layers.append((str(index), layer))
    return Network(layers, weight_decay=weight_decay,
                   eval_chunk=evaluation_chunk(plan, dtype))
