"""The book's NCHW im2col / col2im and naive loops: the references the fast paths are checked
against. Not used by the product."""

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


def col2im(col: np.ndarray, input_shape: tuple[int, ...], fh: int, fw: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Adjoint of `im2col`: `(N*OH*OW, C*FH*FW)` → `(N, C, H, W)`, overlaps summed."""
    N, C, H, W = input_shape
    oh = output_size(H, fh, pad, stride)
    ow = output_size(W, fw, pad, stride)
    dwindows = col.reshape(N, oh, ow, C, fh, fw).transpose(0, 3, 1, 2, 4, 5)
    dx = fold_windows(dwindows, (N, C, H + 2 * pad, W + 2 * pad), stride)
    return unpad_images(dx, pad)




def naive_im2col(x, fh, fw, stride, pad):
    """One receptive field per row, (C, FH, FW) order, by explicit loops."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    rows = []
    for n in range(N):
        for i in range(oh):
            for j in range(ow):
                patch = xp[n, :, i * stride : i * stride + fh, j * stride : j * stride + fw]
                rows.append(patch.reshape(-1))
    return np.array(rows)
