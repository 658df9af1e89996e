"""im2col / col2im on strided views: one copy per call and no Python loop over the batch.

Shapes follow the book: images are `(N, C, H, W)`; a column matrix has one row per output
position, `(N*OH*OW, C*FH*FW)`, ordered so that filters reshaped to `(FN, C*FH*FW)` apply to it.
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


def sliding_windows(x_padded: np.ndarray, fh: int, fw: int, stride: int) -> np.ndarray:
    """Read-only view `(N, C, OH, OW, FH, FW)` of every window of an already padded batch."""
    N, C, H, W = x_padded.shape
    oh = (H - fh) // stride + 1
    ow = (W - fw) // stride + 1
    sn, sc, sh, sw = x_padded.strides
    return as_strided(
        x_padded,
        shape=(N, C, oh, ow, fh, fw),
        strides=(sn, sc, sh * stride, sw * stride, sh, sw),
        writeable=False,
    )


def im2col(x: np.ndarray, fh: int, fw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """`(N, C, H, W)` → `(N*OH*OW, C*FH*FW)`, one receptive field per row."""
    N, C, H, W = x.shape
    output_size(H, fh, pad, stride)
    output_size(W, fw, pad, stride)
    windows = sliding_windows(pad_images(x, pad), fh, fw, stride)
    _, _, oh, ow, _, _ = windows.shape
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * oh * ow, C * fh * fw)


def fold_windows(dwindows: np.ndarray, padded_shape: tuple[int, ...], stride: int) -> np.ndarray:
    """Adjoint of `sliding_windows`: add each window's gradient back onto the padded image.

    The loop runs over the FH*FW kernel offsets (25 for a 5×5 filter), never over the batch.
    """
    _, _, oh, ow, fh, fw = dwindows.shape
    dx = np.zeros(padded_shape, dtype=dwindows.dtype)
    for k, (rows, cols) in enumerate(window_offsets(fh, fw, stride, oh, ow)):
        dx[:, :, rows, cols] += dwindows[:, :, :, :, k // fw, k % fw]
    return dx


def window_offsets(fh: int, fw: int, stride: int, oh: int, ow: int):
    """For each kernel offset (i, j), the (rows, cols) slices that pick that element of every
    window: `x[..., rows, cols]` is an `(…, OH, OW)` view."""
    for i in range(fh):
        for j in range(fw):
            yield slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride)


def unpad_images(x: np.ndarray, pad: int) -> np.ndarray:
    return x if pad == 0 else x[:, :, pad:-pad, pad:-pad]


def col2im(col: np.ndarray, input_shape: tuple[int, ...], fh: int, fw: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Adjoint of `im2col`: `(N*OH*OW, C*FH*FW)` → `(N, C, H, W)`, overlaps summed."""
    N, C, H, W = input_shape
    oh = output_size(H, fh, pad, stride)
    ow = output_size(W, fw, pad, stride)
    dwindows = col.reshape(N, oh, ow, C, fh, fw).transpose(0, 3, 1, 2, 4, 5)
    dx = fold_windows(dwindows, (N, C, H + 2 * pad, W + 2 * pad), stride)
    return unpad_images(dx, pad)


# Channels-last variants, used by the Convolution layer. A convolution's output is
# (N, OH, OW, FN) in memory (the GEMM's natural order) and the ReLU and pooling above it keep
# that order, so the next convolution gathers its windows with channels innermost:
# contiguous runs of C values instead of a stride-C gather. Rows hold (FH, FW, C) in that order.


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
