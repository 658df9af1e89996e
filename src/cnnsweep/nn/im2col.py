"""Channels-last im2col / col2im on strided views: one copy per call, no Python loop over the
batch; plus the output-size formula and window offsets that convolution and pooling share.

Images have the book's logical shape `(N, C, H, W)`. A convolution's output is `(N, OH, OW, FN)`
in memory (the GEMM's natural order) and the ReLU and pooling above it keep that order, so the
next convolution gathers its windows with channels innermost: contiguous runs of C values instead
of a stride-C gather. A column matrix therefore has one row per output position and its columns
in (FH, FW, C) order: `(N*OH*OW, FH*FW*C)`. The book's (C, FH, FW)-ordered im2col is kept in the
tests as the reference these are checked against.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


class GeometryError(ValueError):
    """A convolution or pooling whose output size is not a positive whole number."""


def output_size(size: int, window: int, pad: int, stride: int, *, layer: str = "conv",
                window_name: str = "filter_size") -> int:
    """`(size + 2*pad - window) / stride + 1`, checked to be a positive whole number."""
    if stride < 1:
        raise GeometryError(f"{layer}: stride = {stride} must be at least 1")
    if pad < 0:
        raise GeometryError(f"{layer}: pad = {pad} must not be negative")
    if window < 1:
        raise GeometryError(f"{layer}: {window_name} = {window} must be at least 1")
    span = size + 2 * pad - window
    formula = f"({size} + 2*{pad} - {window}) / {stride} + 1"
    if span < 0:
        raise GeometryError(
            f"{layer}: {formula} = {span / stride + 1:g} is not positive: the {window_name} "
            f"{window} is larger than the padded input {size + 2 * pad}; "
            f"change {window_name}, pad or stride"
        )
    if span % stride:
        raise GeometryError(
            f"{layer}: {formula} = {span / stride + 1:g} is not a whole number; "
            f"change {window_name}, pad or stride"
        )
    return span // stride + 1


def pad_images(x: np.ndarray, pad: int, value: float = 0.0) -> np.ndarray:
    if pad == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=value)


def window_offsets(fh: int, fw: int, stride: int, oh: int, ow: int):
    """For each kernel offset (i, j), the (rows, cols) slices that pick that element of every
    window: `x[..., rows, cols]` is an `(…, OH, OW)` view."""
    for i in range(fh):
        for j in range(fw):
            yield slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride)


def unpad_images(x: np.ndarray, pad: int) -> np.ndarray:
    return x if pad == 0 else x[:, :, pad:-pad, pad:-pad]


def im2col_channels_last(x: np.ndarray, fh: int, fw: int, stride: int = 1, pad: int = 0) \
        -> np.ndarray:
    """`(N, C, H, W)` (any memory order) → `(N*OH*OW, FH*FW*C)`, one receptive field per row."""
    N, C, H, W = x.shape
    oh = output_size(H, fh, pad, stride)
    ow = output_size(W, fw, pad, stride)
    xh = x.transpose(0, 2, 3, 1)
    if pad:
        xh = np.pad(xh, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    sn, sh, sw, sc = xh.strides
    windows = as_strided(xh, shape=(N, oh, ow, fh, fw, C),
                         strides=(sn, sh * stride, sw * stride, sh, sw, sc), writeable=False)
    return windows.reshape(N * oh * ow, fh * fw * C)


def col2im_channels_last(col: np.ndarray, input_shape: tuple[int, ...], fh: int, fw: int,
                         stride: int = 1, pad: int = 0) -> np.ndarray:
    """Adjoint of `im2col_channels_last`: `(N, C, H, W)` whose memory is `(N, H, W, C)`."""
    N, C, H, W = input_shape
    oh = output_size(H, fh, pad, stride)
    ow = output_size(W, fw, pad, stride)
    d6 = col.reshape(N, oh, ow, fh, fw, C)
    dx = np.zeros((N, H + 2 * pad, W + 2 * pad, C), dtype=col.dtype)
    for k, (rows, cols) in enumerate(window_offsets(fh, fw, stride, oh, ow)):
        dx[:, rows, cols, :] += d6[:, :, :, k // fw, k % fw, :]
    if pad:
        dx = dx[:, pad:-pad, pad:-pad, :]
    return dx.transpose(0, 3, 1, 2)
