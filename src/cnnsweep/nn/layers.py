"""Layers as small classes: `forward(x, train)` caches what `backward(dout)` needs.

A layer with parameters keeps them in `params` (and their gradients in `grads`) under local
names (`W`, `b`, `gamma`, `beta`); the network exposes the same arrays under global names
(`W1`, `b1`, …), and optimizers update them in place, so nothing is ever copied back.

`backward(dout)` takes the gradient of the loss with respect to the layer's output (the shape
`forward` returned) and returns the gradient with respect to its input (the shape `forward`
received), or None where the input gradient is not needed (the network's first layer).

Memory layout: 4-d arrays have the logical shape `(N, C, H, W)`, but between a convolution and
the next one they lie in memory as `(C, H, W, N)` ("batch-last"): a convolution's GEMM
produces that order, and ReLU and pooling keep it (tests/nn/test_layout.py holds them to it).
In it, one pixel of one channel is a contiguous run over the batch, so building a convolution's
columns and pooling's window views copy stretches of rows times the batch (hundreds to
thousands of elements, where an image row of 7-28 held NumPy to short inner loops), and the
GEMM writes the next layer's input directly.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from cnnsweep.nn.functions import cross_entropy, labels_to_indices, sigmoid, softmax
from cnnsweep.nn.im2col import (
    gather_columns,
    output_size,
    pad_batch_last,
    pad_images,
    row_blocks,
    scratch_array,
    unpad_images,
    window_offsets,
    windows,
)


class MaskSource(Protocol):
    """Where a dropout layer takes its mask from while a batch is split over threads (one
    mask for the whole batch, each copy its rows: `nn/parallel.WholeBatchMask`)."""

    def rows_of(self, layer: Dropout, sample_shape: tuple[int, ...]) -> np.ndarray: ...


class Layer:
    """Base class: no parameters, identity buffers."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]

    def __init__(self) -> None:
        self.params, self.grads, self.buffers = {}, {}, {}

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """The layer's output; `train` selects training behaviour (dropout, batch statistics)."""
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dL/dinput from dL/doutput, storing parameter gradients in `grads`."""
        raise NotImplementedError

    def replica(self) -> Layer:
        """A copy for another thread (nn/parallel.py): the same parameter arrays and settings,
        its own caches and gradients."""
        twin = copy.copy(self)
        twin.grads = {}
        return twin


def forward_through(layers: Sequence[Layer], x: np.ndarray, train: bool) -> np.ndarray:
    """x through every layer of a stack, first to last."""
    for layer in layers:
        x = layer.forward(x, train)
    return x


def backward_through(layers: Sequence[Layer], dout: np.ndarray) -> None:
    """dout back through a stack, last layer to first, each storing its parameter gradients;
    stops at a layer that returns None (a first layer that skips its input gradient)."""
    for layer in reversed(layers):
        dout = layer.backward(dout)
        if dout is None:
            return


class Relu(Layer):
    """max(x, 0); any shape. With `inplace`, forward overwrites its input and backward its
    incoming gradient: safe (and one allocation less each way) when the layer before keeps no
    reference to its output and the layer after none to its input gradient, as in the
    networks that `build_network` assembles."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """x: any shape → the same shape (and memory layout)."""
        out = np.maximum(x, 0, out=x if self.inplace else None)
        if train:  # evaluation has no backward: its mask would be a pass over the output wasted
            self.positive = out > 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: the output's shape → dx: the same shape (`dout` itself when in place)."""
        return np.multiply(dout, self.positive, out=dout if self.inplace else None)


class Sigmoid(Layer):
    """1 / (1 + exp(-x)); any shape."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """x: any shape → the same shape."""
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: the output's shape → dx: the same shape."""
        return dout * (1.0 - self.out) * self.out


class Affine(Layer):
    """x `(N, ...)` flattened to `(N, D)`, times W `(D, M)`, plus b `(M,)` → `(N, M)`."""

    def __init__(self, W: np.ndarray, b: np.ndarray, needs_input_grad: bool = True) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.needs_input_grad = needs_input_grad

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """x: `(N, ...)` with D values per sample → `(N, M)`."""
        self.input_shape = x.shape
        # A batch-last (N, C, H, W) (layers.py's layout) is a (D, N) matrix in memory: used
        # transposed, as BLAS reads it, where flattening would copy every element transposed.
        # Any other input (an MLP's images) flattens for free.
        self.batch_last = x.ndim == 4 and x.transpose(1, 2, 3, 0).flags.c_contiguous
        if self.batch_last:
            self.x = x.transpose(1, 2, 3, 0).reshape(-1, x.shape[0]).T
        else:
            self.x = x.reshape(x.shape[0], -1)
        out = self.x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout: `(N, M)` → dx: the input's shape `(N, ...)` and layout; grads W `(D, M)`, b
        `(M,)`."""
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        if not self.needs_input_grad:
            return None
        if self.batch_last:
            N, C, H, W = self.input_shape  # W (D, M) · dout.T (M, N) is (C, H, W, N) in memory
            return (self.params["W"] @ dout.T).reshape(C, H, W, N).transpose(3, 0, 1, 2)
        return (dout @ self.params["W"].T).reshape(self.input_shape)


class Convolution(Layer):
    """x `(N, C, H, W)` * W `(FN, C, FH, FW)` + b `(FN,)` → `(N, FN, OH, OW)` by im2col.

    `OH = (H + 2*pad - FH) / stride + 1`. Everything runs batch-last: the input is read as
    `(C, H + 2*pad, W + 2*pad, N)` (free when it is a convolution's output and pad is 0, one
    copy otherwise), and the output is the GEMM `W (FN, FH*FW*C) · cols (FH*FW*C, OH*OW*N)`,
    which lies in memory as `(FN, OH, OW, N)`. The columns (im2col.py) are built for blocks of
    output rows that fit in `COLUMN_BLOCK_BYTES` and are not kept: backward builds them again,
    which costs less than keeping 10-50 MB per layer. With `needs_input_grad=False` (the first
    layer) backward skips the input gradient.
    """

    # Per block of columns. Steps of two networks interleaved in one process (batch 100): a
    # DeepConvNet's at 2 MiB ran 6-8% faster than at 8 MiB with one thread and 3-7% with two
    # (the block stays in cache between its copy and its GEMM); at 1 MiB and below, two threads
    # lost 4-14% (more NumPy calls, each taking the GIL); 4 MiB ran 1.00× / 0.97× of 2 MiB.
    # SimpleConvNet: 1.07× / 1.01×.
    COLUMN_BLOCK_BYTES = 2 << 20

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0,
                 needs_input_grad: bool = True) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.stride, self.pad = stride, pad
        self.needs_input_grad = needs_input_grad

    def _column_blocks(self, view: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """For each block of output rows of a `windows` view `(FH, FW, C, OH, OW, N)`: the rows
        and their columns `(FH*FW*C, rows*OW*N)` in the thread's scratch buffer (valid until
        the next block)."""
        fh, fw, C, oh, ow, N = view.shape
        row_bytes = fh * fw * C * ow * N * view.itemsize
        for rows in row_blocks(oh, row_bytes, self.COLUMN_BLOCK_BYTES):
            cols = scratch_array((fh * fw * C * (rows.stop - rows.start) * ow * N,), view.dtype)
            yield rows, gather_columns(view, rows, cols)

    def _convolve(self, view: np.ndarray, filter_rows: np.ndarray) -> np.ndarray:
        """`filter_rows (F, FH*FW*C) · columns of a windows view`, block by block, into
        `(F, OH*OW*N)`: forward's output, and at stride 1 backward's input gradient."""
        oh, ow, N = view.shape[3:]
        per_row = ow * N
        out = np.empty((filter_rows.shape[0], oh * per_row), np.result_type(view, filter_rows))
        for rows, cols in self._column_blocks(view):
            np.matmul(filter_rows, cols, out=out[:, rows.start * per_row: rows.stop * per_row])
        return out

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """x: `(N, C, H, W)`, any memory order → `(N, FN, OH, OW)`, batch-last in memory."""
        W, b = self.params["W"], self.params["b"]
        FN, C, FH, FW = W.shape
        N, _, H, Wd = x.shape
        oh = output_size(H, FH, self.pad, self.stride)
        ow = output_size(Wd, FW, self.pad, self.stride)
        # (C, H + 2 pad, W + 2 pad, N), kept to rebuild the columns: free for a batch-last input
        # without padding, one copy otherwise (in which the first layer's input turns
        # batch-last, so that every column copy runs over whole stretches of the batch).
        self.padded = pad_batch_last(x.transpose(1, 2, 3, 0), self.pad)
        self.in_hw = (H, Wd)
        # (FN, C, FH, FW) → (FN, FH, FW, C) → (FN, FH*FW*C): the columns' row order.
        self.W_rows = W.transpose(0, 2, 3, 1).reshape(FN, -1)
        view = windows(self.padded, (FH, FW), self.stride, (oh, ow))
        out = self._convolve(view, self.W_rows)
        out += b[:, None]
        # (FN, OH*OW*N) is (FN, OH, OW, N) in memory; viewed as (N, FN, OH, OW), no copy.
        return out.reshape(FN, oh, ow, N).transpose(3, 0, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout: `(N, FN, OH, OW)` → dx: `(N, C, H, W)`, batch-last in memory; grads W
        `(FN, C, FH, FW)`, b `(FN,)`."""
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        N, _, oh, ow = dout.shape
        # (N, FN, OH, OW) → (FN, OH, OW, N) → (FN, OH*OW*N): free when dout is batch-last.
        dout_rows = dout.transpose(1, 2, 3, 0).reshape(FN, -1)
        self.grads["b"] = dout_rows.sum(axis=1)
        dW_rows = None  # (FN, FH*FW*C), summed over the blocks in a fixed order
        per_row = ow * N
        view = windows(self.padded, (FH, FW), self.stride, (oh, ow))
        for rows, cols in self._column_blocks(view):
            part = dout_rows[:, rows.start * per_row: rows.stop * per_row] @ cols.T
            dW_rows = part if dW_rows is None else np.add(dW_rows, part, out=dW_rows)
        self.grads["W"] = np.ascontiguousarray(
            dW_rows.reshape(FN, FH, FW, C).transpose(0, 3, 1, 2))
        if not self.needs_input_grad:
            return None
        if self.stride == 1:
            dx = self._input_gradient_stride_1(dout_rows.reshape(FN, oh, ow, N))
        else:
            dx = self._input_gradient_scattered(dout_rows, view.shape)
        return dx.transpose(3, 0, 1, 2)

    def _input_gradient_stride_1(self, dout: np.ndarray) -> np.ndarray:
        """`(FN, OH, OW, N)` → `(C, H, W, N)`. At stride 1 the input gradient is itself a
        convolution: of dout with the filters flipped in both axes and their FN and C swapped,
        padded by `FH - 1 - pad` (a crop where negative). So it is built from columns like
        forward, with one GEMM per block and no scatter-add."""
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        N = dout.shape[3]
        (H, Wd), pad = self.in_hw, FH - 1 - self.pad
        view = windows(pad_batch_last(dout, pad), (FH, FW), 1, (H, Wd))
        # (FN, C, FH, FW) flipped → (C, FH, FW, FN) → (C, FH*FW*FN): the columns' row order.
        flipped_rows = W[:, :, ::-1, ::-1].transpose(1, 2, 3, 0).reshape(C, -1)
        return self._convolve(view, flipped_rows).reshape(C, H, Wd, N)

    def _input_gradient_scattered(self, dout_rows: np.ndarray,
                                  shape: tuple[int, ...]) -> np.ndarray:
        """`(FN, OH*OW*N)` → `(C, H, W, N)` for any stride: each block's column gradient
        `W_rows.T · dout` added back, offset by offset, onto the padded input elements its
        columns were read from (`shape`: the windows view's); the padding's share is then cut
        off."""
        fh, fw, C, oh, ow, N = shape
        dpadded = np.zeros(self.padded.shape, dout_rows.dtype)
        targets = windows(dpadded, (fh, fw), self.stride, (oh, ow), writeable=True)
        per_row = ow * N
        row_bytes = fh * fw * C * per_row * dout_rows.itemsize
        for rows in row_blocks(oh, row_bytes, self.COLUMN_BLOCK_BYTES):
            n_rows = rows.stop - rows.start
            dcols = scratch_array((fh, fw, C, n_rows, ow, N), dout_rows.dtype)
            np.matmul(self.W_rows.T, dout_rows[:, rows.start * per_row: rows.stop * per_row],
                      out=dcols.reshape(fh * fw * C, -1))
            for i in range(fh):
                for j in range(fw):
                    targets[i, j, :, rows] += dcols[i, j]
        H, Wd = self.in_hw
        return np.ascontiguousarray(dpadded[:, self.pad: self.pad + H, self.pad: self.pad + Wd])


class Pooling(Layer):
    """Max or average over `(pool_h, pool_w)` windows of each channel: `(N, C, H, W)` →
    `(N, C, OH, OW)`. Max pooling pads with -inf (padding never wins), average pooling with 0
    (counted in the mean, as PyTorch's default).

    Windows are visited by kernel offset: for each of the pool_h*pool_w offsets, one strided
    view holds that element of every window. A 2×2 max is then three elementwise maxima over
    quarter-size arrays, several times faster than an argmax over a copied window axis. Max
    pooling's training forward also keeps, per offset, where that offset holds its window's
    first maximum (the book's argmax): backward needs neither the input nor the output.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0,
                 mode: str = "max") -> None:
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"pooling mode {mode!r} is not one of 'max', 'avg'")
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad
        self.mode = mode

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """x: `(N, C, H, W)` → `(N, C, OH, OW)` in x's memory order."""
        N, C, H, W = x.shape
        oh = output_size(H, self.pool_h, self.pad, self.stride, layer="pool", window_name="size")
        ow = output_size(W, self.pool_w, self.pad, self.stride, layer="pool", window_name="size")
        fill = -np.inf if self.mode == "max" else 0.0
        padded = pad_images(x, self.pad, fill)
        self.padded_shape, self.padded_layout = padded.shape, memory_order(padded.strides)
        self.offsets = list(window_offsets(self.pool_h, self.pool_w, self.stride, oh, ow))
        first, *rest = self.offsets
        # order="K" keeps the input's memory order (a convolution's output is (C, OH, OW, N)
        # in memory): elementwise work between arrays of one layout runs 2-4× faster.
        out = padded[(..., *first)].copy(order="K")
        self.out_strides = out.strides
        if self.mode == "avg":
            for offset in rest:
                out += padded[(..., *offset)]
            out *= out.dtype.type(1.0 / len(self.offsets))
            return out
        for offset in rest:
            np.maximum(out, padded[(..., *offset)], out=out)
        if train:
            self.routes = self._first_maxima(padded, out)
        return out

    def _first_maxima(self, padded: np.ndarray, out: np.ndarray) -> list[np.ndarray]:
        """Per kernel offset, where that offset holds its window's first maximum: where the
        gradient goes. Found here, while the input is still in cache, rather than in backward:
        a SimpleConvNet's pooling backward took 4.4 ms reading it back from memory, and the
        input need not be kept."""
        routes, unrouted = [], None  # where no earlier offset has taken the gradient
        for offset in self.offsets:
            hit = padded[(..., *offset)] == out
            if unrouted is None:
                unrouted = ~hit
            else:
                hit &= unrouted
                np.greater(unrouted, hit, out=unrouted)  # unrouted and not hit
            routes.append(hit)
        return routes

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: `(N, C, OH, OW)` → dx: `(N, C, H, W)` in the input's memory order."""
        # Windows that tile the input (stride = size, no remainder) own every input element
        # alone: each offset writes its share, and nothing needs zeroing or adding.
        H, W = self.padded_shape[2:]
        oh, ow = dout.shape[2:]
        tiled = (self.stride == self.pool_h == H // oh and self.stride == self.pool_w == W // ow
                 and H % oh == 0 and W % ow == 0)
        # In the input's memory order, so a convolution below receives its gradient in the
        # (C, H, W, N) order its output was computed in: no copy there.
        dx = empty_in_order(self.padded_shape, self.padded_layout, dout.dtype, zeros=not tiled)
        if dout.strides != self.out_strides:  # bring the gradient into the output's layout
            relaid = empty_in_order(dout.shape, memory_order(self.out_strides), dout.dtype)
            relaid[...] = dout
            dout = relaid
        if self.mode == "avg":
            share = dout * dout.dtype.type(1.0 / len(self.offsets))
            for offset in self.offsets:
                if tiled:
                    dx[(..., *offset)] = share
                else:
                    dx[(..., *offset)] += share
            return unpad_images(dx, self.pad)
        # Windows that do not overlap own their input elements alone: writing the product
        # replaces the add that overlapping windows need.
        overlapping = self.stride < self.pool_h or self.stride < self.pool_w
        for offset, route in zip(self.offsets, self.routes, strict=True):
            if overlapping:
                dx[(..., *offset)] += dout * route
            else:
                np.multiply(dout, route, out=dx[(..., *offset)])
        return unpad_images(dx, self.pad)


def memory_order(strides: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of an array with `strides`, from the slowest-varying in memory to the fastest
    (a stable sort: axes of equal stride keep their logical order)."""
    return tuple(sorted(range(len(strides)), key=lambda axis: -abs(strides[axis])))


def empty_in_order(shape: tuple[int, ...], order: tuple[int, ...], dtype: np.dtype,
                   zeros: bool = False) -> np.ndarray:
    """An array of `shape` whose axes lie in memory in `order` (slowest first)."""
    make = np.zeros if zeros else np.empty
    return make(tuple(shape[axis] for axis in order), dtype).transpose(np.argsort(order))


class SoftmaxWithLoss(Layer):
    """Softmax of scores `(N, K)` and mean cross-entropy against index `(N,)` or one-hot
    `(N, K)` labels; backward gives `(y - t) / N`."""

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:  # type: ignore[override]
        """x: scores `(N, K)`, t: `(N,)` or `(N, K)` → the mean loss (a float)."""
        self.y = softmax(x)
        self.t = labels_to_indices(t)
        self.loss = cross_entropy(self.y, self.t)
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:  # type: ignore[override]
        """dout: dL/dloss (1.0) → dx: `(N, K)`."""
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        dx *= dout / n
        return dx


class Dropout(Layer):
    """The book's dropout: training keeps each unit with a mask `rand > ratio`; evaluation
    scales by `1 - ratio` instead (not "inverted" dropout)."""

    def __init__(self, ratio: float, rng: np.random.Generator) -> None:
        super().__init__()
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"dropout ratio {ratio} must be in [0, 1)")
        self.ratio, self.rng = ratio, rng
        # Set while a batch is split over threads: this copy's rows of the whole batch's mask.
        self.whole_batch: MaskSource | None = None

    def draw_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.random(shape, dtype=np.float32) > self.ratio

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """x: any shape → the same shape."""
        if not train:
            return x * x.dtype.type(1.0 - self.ratio)
        if self.whole_batch is None:
            self.mask = self.draw_mask(x.shape)
        else:
            self.mask = self.whole_batch.rows_of(self, x.shape[1:])
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: the output's shape → dx: the same shape."""
        return dout * self.mask


class BatchNormalization(Layer):
    """Batch normalisation with learned `gamma`, `beta` and running statistics.

    The book's form (`spatial=False`) normalises each feature of `(N, D)`; 4-d input is
    flattened to `(N, C*H*W)`. `spatial=True` normalises each channel over `(N, H, W)`, as
    convolutional networks usually do. Running mean/var start at zero (the book's choice).
    """

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, momentum: float = 0.9,
                 eps: float = 1e-6, spatial: bool = False) -> None:
        super().__init__()
        self.params = {"gamma": gamma, "beta": beta}
        self.buffers = {"running_mean": np.zeros_like(gamma), "running_var": np.zeros_like(gamma)}
        self.momentum, self.eps, self.spatial = momentum, eps, spatial

    def _to_2d(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 2:
            return x
        if self.spatial:  # (N, C, H, W) → (C, H, W, N) → (C, H*W*N), viewed as (H*W*N, C)
            return x.transpose(1, 2, 3, 0).reshape(x.shape[1], -1).T  # free if batch-last
        return x.reshape(x.shape[0], -1)

    def _from_2d(self, y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) == 2:
            return y
        if self.spatial:
            N, C, H, W = shape  # (H*W*N, C) → (C, H, W, N), viewed as (N, C, H, W)
            return y.T.reshape(C, H, W, N).transpose(3, 0, 1, 2)
        return y.reshape(shape)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """x: `(N, D)` or `(N, C, H, W)` → the same shape."""
        self.input_shape = x.shape
        x2 = self._to_2d(x)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if train:
            mu = x2.mean(axis=0)
            self.xc = x2 - mu
            var = np.mean(self.xc**2, axis=0)
            self.std = np.sqrt(var + self.eps)
            self.xn = self.xc / self.std
            m = self.momentum
            self.buffers["running_mean"][...] = m * self.buffers["running_mean"] + (1 - m) * mu
            self.buffers["running_var"][...] = m * self.buffers["running_var"] + (1 - m) * var
            xn = self.xn
        else:
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            xn = (x2 - rm) / np.sqrt(rv + self.eps)
        return self._from_2d(gamma * xn + beta, self.input_shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: the input's shape → dx: the same shape; grads gamma, beta `(D,)` or `(C,)`."""
        d2 = self._to_2d(dout)
        n = d2.shape[0]
        self.grads["beta"] = d2.sum(axis=0)
        self.grads["gamma"] = np.sum(self.xn * d2, axis=0)
        dxn = self.params["gamma"] * d2
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / n) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        return self._from_2d(dxc - dmu / n, self.input_shape)
