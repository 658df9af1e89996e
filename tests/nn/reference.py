"""Naive loops: the references the book's im2col (`cnnsweep.nn.book`) is checked against."""

from __future__ import annotations

import numpy as np


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
