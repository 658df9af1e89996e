"""The geometry convolution and pooling share (the output-size formula, window offsets) and
the column matrices of convolution (im2col), built kernel offset by kernel offset.

Images have the book's logical shape `(N, C, H, W)`; a convolution works on them in memory as
`(C, H, W, N)` ("batch-last", see layers.py). Its column matrix is `(FH*FW*C, rows*OW*N)` for a
block of output rows: row `(k, c)` holds, for every output position and image, the input
element that kernel offset k = i*FW + j of channel c meets there. Built offset by offset, each
of the FH*FW copies is one strided slice whose inner run is a stretch of an image row for the
whole batch (OW*N elements), and the padding is never materialised: positions whose window
element falls in it are zeros written into the column block itself. The book's
(C, FH, FW)-ordered im2col and a naive loop stay in the tests as the references.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Shift:
    """One kernel offset k = i*FW + j of a convolution: the output positions whose window
    element (i, j) lies inside the input (`out_rows`, `out_cols`: unit-step ranges) and the input
    elements they read (`in_rows`, `in_cols`: stepping by the stride). Every other output
    position meets the zero padding there."""

    k: int
    out_rows: slice
    out_cols: slice
    in_rows: slice
    in_cols: slice


def _axis_shift(size: int, offset: int, pad: int, stride: int, out: int) -> tuple[slice, slice]:
    """Along one axis: output r reads input `offset - pad + stride*r`; keep the r where that
    index is inside `[0, size)`. `pad` may be negative (a crop)."""
    first = max(0, -((offset - pad) // stride))  # ceil((pad - offset) / stride)
    last = min(out - 1, (size - 1 - offset + pad) // stride)
    if last < first:
        return slice(0, 0), slice(0, 0)
    start = offset - pad + stride * first
    return slice(first, last + 1), slice(start, start + stride * (last - first) + 1, stride)


def kernel_shifts(in_size: tuple[int, int], out_size: tuple[int, int],
                  window: tuple[int, int], pad: tuple[int, int], stride: int = 1) -> list[Shift]:
    """The `Shift` of every kernel offset of a `window` sliding over `in_size` with `pad` and
    `stride`, giving `out_size` positions (sizes are (height, width) pairs)."""
    shifts = []
    for i in range(window[0]):
        out_rows, in_rows = _axis_shift(in_size[0], i, pad[0], stride, out_size[0])
        for j in range(window[1]):
            out_cols, in_cols = _axis_shift(in_size[1], j, pad[1], stride, out_size[1])
            shifts.append(Shift(i * window[1] + j, out_rows, out_cols, in_rows, in_cols))
    return shifts


def block_shifts(shifts: list[Shift], rows: slice) -> list[Shift]:
    """`shifts` restricted to the output rows `rows` (unit step), with their output rows counted
    from `rows.start`: the shifts of one block of output rows. Input rows stay absolute."""
    local = []
    for shift in shifts:
        first = max(shift.out_rows.start, rows.start)
        stop = min(shift.out_rows.stop, rows.stop)
        if stop <= first:
            out_rows = in_rows = slice(0, 0)
        else:
            step = shift.in_rows.step or 1
            start = shift.in_rows.start + step * (first - shift.out_rows.start)
            out_rows = slice(first - rows.start, stop - rows.start)
            in_rows = slice(start, start + step * (stop - first - 1) + 1, step)
        local.append(Shift(shift.k, out_rows, shift.out_cols, in_rows, shift.in_cols))
    return local


def gather_columns(images: np.ndarray, cols: np.ndarray, shifts: list[Shift],
                   padding_written: bool = False) -> None:
    """Fill `cols` `(FH*FW, C, rows, OW, n)` from `images` `(C, H, W, n)`: `cols[k, c, r, q, m]`
    is the input element that offset k of output (r, q) of image m reads, 0 in the padding.
    `shifts` are those of the block's output rows (`block_shifts`).

    Every element of `cols` is written, so it may be a buffer holding anything; with
    `padding_written`, the zeros of the padding are taken to be there already (the buffer's
    previous contents were columns of the same shape and shifts)."""
    for shift in shifts:
        block = cols[shift.k]
        rows, cols_ = shift.out_rows, shift.out_cols
        block[:, rows, cols_] = images[:, shift.in_rows, shift.in_cols]
        if padding_written:
            continue
        # The padding: the rows above and below the valid ones, then the columns beside them.
        block[:, : rows.start] = 0
        block[:, rows.stop :] = 0
        block[:, rows, : cols_.start] = 0
        block[:, rows, cols_.stop :] = 0


def scatter_add_columns(dcols: np.ndarray, dx: np.ndarray, shifts: list[Shift]) -> None:
    """Adjoint of `gather_columns`: add each offset's gradient `dcols[k]` `(C, rows, OW, n)` into
    the input elements it was read from, `dx` `(C, H, W, n)`; the padding's share is dropped."""
    for shift in shifts:
        dx[:, shift.in_rows, shift.in_cols] += dcols[shift.k][:, shift.out_rows, shift.out_cols]


def row_blocks(n_rows: int, bytes_per_row: int, budget: int) -> Iterator[slice]:
    """Consecutive slices of `n_rows` output rows whose column matrices take at most `budget`
    bytes each (at least one row): a block's columns are built and multiplied while they are
    still in cache, and the memory they need grows with the batch only by a row's share."""
    step = max(1, budget // max(1, bytes_per_row))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


_thread_scratch = threading.local()


def scratch_array(shape: tuple[int, ...], dtype: np.dtype, contents: Hashable = None) \
        -> tuple[np.ndarray, bool]:
    """A C-contiguous array of `shape` in this thread's scratch buffer, valid until the next call
    from the same thread; and whether the previous call was for the same `contents` (a
    hashable description of what the caller writes) and shape, so that what it wrote and did
    not change since is still there. The column blocks of all convolutions share the buffer:
    each lives only inside one forward or backward call, and one thread runs one layer at a
    time."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffer = getattr(_thread_scratch, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = _thread_scratch.buffer = np.empty(nbytes, np.uint8)
        _thread_scratch.last = None
    key = None if contents is None else (contents, tuple(shape), dtype.str)
    same = key is not None and _thread_scratch.last == key
    _thread_scratch.last = key
    return buffer[:nbytes].view(dtype).reshape(shape), same
