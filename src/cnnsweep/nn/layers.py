"""Layers as small classes: `forward(x, train)` caches what `backward(dout)` needs.

A layer with parameters keeps them in `params` (and their gradients in `grads`) under local
names (`W`, `b`, `gamma`, `beta`); the network exposes the same arrays under global names
(`W1`, `b1`, …), and optimizers update them in place, so nothing is ever copied back.
"""

from __future__ import annotations

import numpy as np

from cnnsweep.nn.functions import labels_to_indices, sigmoid, softmax
from cnnsweep.nn.im2col import (
    col2im,
    fold_windows,
    im2col,
    output_size,
    pad_images,
    sliding_windows,
    unpad_images,
)


class Layer:
    """Base class: no parameters, identity buffers."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]

    def __init__(self) -> None:
        self.params, self.grads, self.buffers = {}, {}, {}

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError


class Relu(Layer):
    """max(x, 0); any shape."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        out = np.maximum(x, 0)
        self.positive = out > 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.positive


class Sigmoid(Layer):
    """1 / (1 + exp(-x)); any shape."""

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out) * self.out


class Affine(Layer):
    """x `(N, ...)` flattened to `(N, D)`, times W `(D, M)`, plus b `(M,)` → `(N, M)`."""

    def __init__(self, W: np.ndarray, b: np.ndarray, needs_input_grad: bool = True) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.needs_input_grad = needs_input_grad

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.input_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.params["W"] + self.params["b"]

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return (dout @ self.params["W"].T).reshape(self.input_shape)


class Convolution(Layer):
    """x `(N, C, H, W)` * W `(FN, C, FH, FW)` + b `(FN,)` → `(N, FN, OH, OW)` by im2col.

    `OH = (H + 2*pad - FH) / stride + 1`. With `needs_input_grad=False` (the first layer) the
    backward pass skips col2im, the most expensive part of it.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0,
                 needs_input_grad: bool = True) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.stride, self.pad = stride, pad
        self.needs_input_grad = needs_input_grad

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        W, b = self.params["W"], self.params["b"]
        FN, _, FH, FW = W.shape
        N, _, H, Wd = x.shape
        oh = output_size(H, FH, self.pad, self.stride)
        ow = output_size(Wd, FW, self.pad, self.stride)
        self.input_shape = x.shape
        self.col = im2col(x, FH, FW, self.stride, self.pad)
        self.col_W = W.reshape(FN, -1).T
        out = self.col @ self.col_W
        out += b
        return out.reshape(N, oh, ow, FN).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.grads["b"] = dout.sum(axis=0)
        self.grads["W"] = (self.col.T @ dout).T.reshape(FN, C, FH, FW)
        if not self.needs_input_grad:
            return None
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.input_shape, FH, FW, self.stride, self.pad)


class Pooling(Layer):
    """Max or average over `(size_h, size_w)` windows of each channel: `(N, C, H, W)` →
    `(N, C, OH, OW)`. Max pooling pads with -inf (padding never wins), average pooling with 0
    (counted in the mean, as PyTorch's default)."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0,
                 mode: str = "max") -> None:
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"pooling mode {mode!r} is not one of 'max', 'avg'")
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad
        self.mode = mode

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        N, C, H, W = x.shape
        output_size(H, self.pool_h, self.pad, self.stride, layer="pool", window_name="size")
        output_size(W, self.pool_w, self.pad, self.stride, layer="pool", window_name="size")
        self.input_shape = x.shape
        fill = -np.inf if self.mode == "max" else 0.0
        padded = pad_images(x, self.pad, fill)
        self.padded_shape = padded.shape
        windows = sliding_windows(padded, self.pool_h, self.pool_w, self.stride)
        flat = windows.reshape(*windows.shape[:4], -1)
        if self.mode == "avg":
            return flat.mean(axis=-1)
        self.arg_max = flat.argmax(axis=-1)
        return np.take_along_axis(flat, self.arg_max[..., None], axis=-1)[..., 0]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        window = self.pool_h * self.pool_w
        if self.mode == "avg":
            flat = np.broadcast_to((dout / window)[..., None], (*dout.shape, window))
        else:
            flat = np.zeros((*dout.shape, window), dtype=dout.dtype)
            np.put_along_axis(flat, self.arg_max[..., None], dout[..., None], axis=-1)
        dwindows = flat.reshape(*dout.shape, self.pool_h, self.pool_w)
        return unpad_images(fold_windows(dwindows, self.padded_shape, self.stride), self.pad)


class SoftmaxWithLoss(Layer):
    """Softmax of scores `(N, K)` and mean cross-entropy against index `(N,)` or one-hot
    `(N, K)` labels; backward gives `(y - t) / N`."""

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:  # type: ignore[override]
        self.y = softmax(x)
        self.t = labels_to_indices(t)
        n = x.shape[0]
        self.loss = float(-np.log(self.y[np.arange(n), self.t] + 1e-7).sum() / n)
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:  # type: ignore[override]
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

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train:
            return x * x.dtype.type(1.0 - self.ratio)
        self.mask = self.rng.random(x.shape, dtype=np.float32) > self.ratio
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
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
        if self.spatial:
            return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
        return x.reshape(x.shape[0], -1)

    def _from_2d(self, y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) == 2:
            return y
        if self.spatial:
            N, C, H, W = shape
            return y.reshape(N, H, W, C).transpose(0, 3, 1, 2)
        return y.reshape(shape)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
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
