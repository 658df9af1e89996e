"""The geometry convolution and pooling share (the output-size formula, window offsets) and
the column matrices of convolution (im2col), copied block by block from one strided view.

Images have the book's logical shape `(N, C, H, W)`; a convolution works on them in memory as
`(C, H, W, N)` ("batch-last", see layers.py), padded once (`pad_batch_last`). Its column matrix
is `(FH*FW*C, rows*OW*N)` for a block of output rows: row `(k, c)` holds, for every output
position and image, the input element that kernel offset k = i*FW + j of channel c meets
there. `windows` is all of them as one strided view of the padded images, and a block's columns
are one copy of its rows (`gather_columns`): one NumPy call per block, whose inner run is a
stretch of an image row for the whole batch (OW*N elements). Few calls matter when a batch is
split over threads: each call takes the GIL twice, and a thread that finds it held waits for
the other to wake it. The book's (C, FH, FW)-ordered im2col and a naive loop stay in the tests
as the references.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import numpy as np


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


def pad_batch_last(images: np.ndarray, pad: int) -> np.ndarray:
    """`images` `(C, H, W, N)` with `pad` zeros on every side of H and W, as a C-contiguous
    array (a copy, unless `pad` is 0 and the images already are one); a negative `pad` crops
    (a view)."""
    if pad < 0:
        return images[:, -pad : images.shape[1] + pad, -pad : images.shape[2] + pad]
    if pad == 0:
        return np.ascontiguousarray(images)
    C, H, W, N = images.shape
    out = np.empty((C, H + 2 * pad, W + 2 * pad, N), images.dtype)
    out[:, :pad] = 0
    out[:, pad + H :] = 0
    out[:, pad : pad + H, :pad] = 0
    out[:, pad : pad + H, pad + W :] = 0
    out[:, pad : pad + H, pad : pad + W] = images
    return out


def windows(padded: np.ndarray, window: tuple[int, int], stride: int,
            out_hw: tuple[int, int], writeable: bool = False) -> np.ndarray:
    """The view `(FH, FW, C, OH, OW, N)` of `padded` `(C, H', W', N)` whose element
    `[i, j, c, r, q, n]` is `padded[c, i + stride*r, j + stride*q, n]`: what kernel offset
    (i, j) of channel c meets at output (r, q) of image n. No copy: the strides of `padded`
    repeated. One offset's elements are distinct, so `view[i, j] += …` is a correct add."""
    (fh, fw), (oh, ow) = window, out_hw
    C, H, W, N = padded.shape
    if (oh - 1) * stride + fh > H or (ow - 1) * stride + fw > W:
        raise ValueError(f"a {fh}x{fw} window at stride {stride} does not fit {oh}x{ow} "
                         f"times in {H}x{W}")
    sc, sh, sw, sn = padded.strides
    return np.lib.stride_tricks.as_strided(
        padded, (fh, fw, C, oh, ow, N), (sh, sw, sc, stride * sh, stride * sw, sn),
        writeable=writeable)


def gather_columns(view: np.ndarray, rows: slice, cols: np.ndarray) -> np.ndarray:
    """Copy the output rows `rows` of a `windows` view into `cols`, a buffer of at least
    `FH*FW*C*rows*OW*N` elements, and return them as the column matrix
    `(FH*FW*C, rows*OW*N)`: row `(k, c)` for kernel offset k = i*FW + j of channel c. One
    copy whose inner run is a stretch of an image row for the whole batch (OW*N elements)."""
    fh, fw, C, _, ow, N = view.shape
    block = cols.reshape(fh, fw, C, rows.stop - rows.start, ow, N)
    block[...] = view[:, :, :, rows]
    return cols.reshape(fh * fw * C, -1)


def row_blocks(n_rows: int, bytes_per_row: int, budget: int) -> Iterator[slice]:
    """Consecutive slices of `n_rows` output rows whose column matrices take at most `budget`
    bytes each (at least one row): a block's columns are built and multiplied while they are
    still in cache, and the memory they need grows with the batch only by a row's share."""
    step = max(1, budget // max(1, bytes_per_row))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


_thread_scratch = threading.local()


def scratch_array(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A C-contiguous array of `shape` in this thread's scratch buffer, valid until the next call
    from the same thread. The column blocks of all convolutions share the buffer: each lives
    only inside one forward or backward call, and one thread runs one layer at a time. A step
    asks for the same few shapes a few hundred times, so each shape's view is made once (per
    buffer: a larger request replaces the buffer and forgets the views)."""
    key = (shape, dtype)
    views = getattr(_thread_scratch, "views", {})
    if key in views:
        return views[key]
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    buffer = getattr(_thread_scratch, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = _thread_scratch.buffer = np.empty(nbytes, np.uint8)
        views = _thread_scratch.views = {}
    views[key] = buffer[:nbytes].view(dtype).reshape(shape)
    return views[key]
