"""The book's plain layers, as *Deep Learning from Scratch* writes them: start reading here.

`im2col` lays every receptive field of an `(N, C, H, W)` batch out as one row; a convolution is
then one matrix product, and its backward pass adds the column gradient back with `col2im`.
Pooling takes the same columns, one window per row, and routes its gradient to each window's
first maximum; `Affine` flattens its input to `(N, D)`.

The engine's layers (`nn/layers.py`) compute the same numbers faster (batch-last layout, column
blocks, pooling routes found in forward; docs/architecture.md says how), and the tests check
them against these, forward and backward (`tests/nn/test_layers.py`). These keep the book's
memory layout and cost: a convolution keeps its whole column matrix for backward.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnsweep.nn.im2col import output_size, pad_images, unpad_images, window_offsets


def sliding_windows(x_padded: np.ndarray, fh: int, fw: int, stride: int) -> np.ndarray:
    """Read-only view `(N, C, OH, OW, FH, FW)` of every window of an already padded batch."""
    N, C, H, W = x_padded.shape
    oh = (H - fh) // stride + 1
    ow = (W - fw) // stride + 1
    sn, sc, sh, sw = x_padded.strides
    return as_strided(x_padded, shape=(N, C, oh, ow, fh, fw),
                      strides=(sn, sc, sh * stride, sw * stride, sh, sw), writeable=False)


def im2col(x: np.ndarray, fh: int, fw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """`(N, C, H, W)` → `(N*OH*OW, C*FH*FW)`, one receptive field per row, zero-padded."""
    N, C, H, W = x.shape
    output_size(H, fh, pad, stride)
    output_size(W, fw, pad, stride)
    windows = sliding_windows(pad_images(x, pad), fh, fw, stride)
    _, _, oh, ow, _, _ = windows.shape
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * oh * ow, C * fh * fw)


def fold_windows(dwindows: np.ndarray, padded_shape: tuple[int, ...], stride: int) -> np.ndarray:
    """Adjoint of `sliding_windows`: add each window's gradient back onto the padded image
    (a loop over the FH*FW kernel offsets, as the book's col2im, never over the batch)."""
    _, _, oh, ow, fh, fw = dwindows.shape
    dx = np.zeros(padded_shape, dtype=dwindows.dtype)
    for k, (rows, cols) in enumerate(window_offsets(fh, fw, stride, oh, ow)):
        dx[:, :, rows, cols] += dwindows[:, :, :, :, k // fw, k % fw]
    return dx


def col2im(col: np.ndarray, input_shape: tuple[int, ...], fh: int, fw: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Adjoint of `im2col`: `(N*OH*OW, C*FH*FW)` → `(N, C, H, W)`, overlaps summed."""
    N, C, H, W = input_shape
    oh = output_size(H, fh, pad, stride)
    ow = output_size(W, fw, pad, stride)
    dwindows = col.reshape(N, oh, ow, C, fh, fw).transpose(0, 3, 1, 2, 4, 5)
    dx = fold_windows(dwindows, (N, C, H + 2 * pad, W + 2 * pad), stride)
    return unpad_images(dx, pad)


class Affine:
    """x `(N, ...)` flattened to `(N, D)`, times W `(D, M)`, plus b `(M,)` → `(N, M)`."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.params = {"W": W, "b": b}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.input_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.params["W"] + self.params["b"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.grads = {"W": self.x.T @ dout, "b": dout.sum(axis=0)}
        return (dout @ self.params["W"].T).reshape(self.input_shape)


class Convolution:
    """x `(N, C, H, W)` * W `(FN, C, FH, FW)` + b `(FN,)` → `(N, FN, OH, OW)`, where
    `OH = (H + 2*pad - FH) / stride + 1`: the filters reshaped to `(FN, C*FH*FW)` and transposed,
    applied to the columns, the result reshaped to `(N, OH, OW, FN)` and then `(N, FN, OH, OW)`."""

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        self.params = {"W": W, "b": b}
        self.grads: dict[str, np.ndarray] = {}
        self.stride, self.pad = stride, pad

    def forward(self, x: np.ndarray) -> np.ndarray:
        FN, _, FH, FW = self.params["W"].shape
        N, _, H, W = x.shape
        oh = output_size(H, FH, self.pad, self.stride)
        ow = output_size(W, FW, self.pad, self.stride)
        self.input_shape = x.shape
        self.col = im2col(x, FH, FW, self.stride, self.pad)
        self.col_W = self.params["W"].reshape(FN, -1).T
        out = self.col @ self.col_W + self.params["b"]
        return out.reshape(N, oh, ow, FN).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        FN, C, FH, FW = self.params["W"].shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.grads = {"W": (self.col.T @ dout).T.reshape(FN, C, FH, FW), "b": dout.sum(axis=0)}
        return col2im(dout @ self.col_W.T, self.input_shape, FH, FW, self.stride, self.pad)


class Pooling:
    """Max over `(pool_h, pool_w)` windows of each channel, `(N, C, H, W)` → `(N, C, OH, OW)`;
    backward routes each window's gradient to its first maximum (the book's argmax)."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, C, H, W = x.shape
        oh = output_size(H, self.pool_h, self.pad, self.stride, layer="pool", window_name="size")
        ow = output_size(W, self.pool_w, self.pad, self.stride, layer="pool", window_name="size")
        self.input_shape = x.shape
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(col, axis=1)
        return np.max(col, axis=1).reshape(N, oh, ow, C).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.reshape(-1)
        dcol = dmax.reshape(-1, dout.shape[3] * pool_size)
        return col2im(dcol, self.input_shape, self.pool_h, self.pool_w, self.stride, self.pad)
