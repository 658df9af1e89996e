import threading

import numpy as np
import pytest

from cnnsweep.nn.im2col import (
    GeometryError,
    block_shifts,
    gather_columns,
    kernel_shifts,
    output_size,
    row_blocks,
    scatter_add_columns,
    scratch_array,
)
from cnnsweep.nn.layers import Convolution
from tests.nn.reference import col2im, im2col, naive_im2col


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), [
    ((2, 3, 7, 7), 3, 1, 0), ((3, 1, 8, 8), 2, 2, 0), ((2, 2, 9, 9), 3, 2, 1),
    ((1, 4, 6, 6), 1, 1, 2), ((2, 3, 5, 5), 5, 1, 0),
])
def test_reference_im2col_matches_naive_loop_exactly(shape, fh, stride, pad):
    x = np.random.default_rng(0).standard_normal(shape)
    expected = naive_im2col(x, fh, fh, stride, pad)
    np.testing.assert_array_equal(im2col(x, fh, fh, stride, pad), expected)


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), [
    ((2, 3, 7, 7), 3, 1, 0), ((2, 2, 8, 8), 2, 2, 0), ((2, 2, 9, 9), 3, 2, 1),
])
def test_reference_col2im_is_the_adjoint_of_im2col(shape, fh, stride, pad):
    # <im2col(x), c> == <x, col2im(c)> for every x and c defines the adjoint exactly.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    col = im2col(x, fh, fh, stride, pad)
    c = rng.standard_normal(col.shape)
    lhs = np.sum(col * c)
    rhs = np.sum(x * col2im(c, shape, fh, fh, stride, pad))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_output_size_formula_and_clear_errors():
    assert output_size(28, 5, 0, 1) == 24
    assert output_size(28, 4, 1, 2) == 14
    with pytest.raises(GeometryError, match=r"conv: \(28 \+ 2\*0 - 6\) / 4 \+ 1 = 6.5 is not a "
                                            r"whole number; change filter_size, pad or stride"):
        output_size(28, 6, 0, 4)
    with pytest.raises(GeometryError, match="larger than the padded input"):
        output_size(4, 7, 1, 1)
    with pytest.raises(GeometryError, match="stride = 0"):
        output_size(28, 5, 0, 0)


GEOMETRIES = [  # (shape, window, stride, pad): pads wider than the window, strides 1-3
    ((2, 3, 7, 7), 3, 1, 0), ((2, 4, 8, 8), 2, 2, 0), ((2, 2, 9, 9), 3, 2, 1),
    ((1, 4, 6, 6), 1, 1, 2), ((2, 3, 5, 5), 5, 1, 2), ((3, 2, 11, 11), 4, 3, 1),
]


def columns_of(x, fh, stride, pad, buffer=None, rows=None):
    """Ours for the NCHW batch x: `(FH*FW, C, OH, OW, N)`, built in `buffer` if given; with
    `rows`, only those output rows (a block)."""
    N, C, H, W = x.shape
    oh, ow = output_size(H, fh, pad, stride), output_size(W, fh, pad, stride)
    shifts = kernel_shifts((H, W), (oh, ow), (fh, fh), (pad, pad), stride)
    rows = rows or slice(0, oh)
    shifts = block_shifts(shifts, rows)
    shape = (fh * fh, C, rows.stop - rows.start, ow, N)
    cols = np.empty(shape) if buffer is None else buffer
    gather_columns(x.transpose(1, 2, 3, 0), cols, shifts)
    return cols, shifts


def books_order(cols):
    """`(K, C, OH, OW, N)` → the book's im2col rows `(N*OH*OW, C, K)`."""
    K, C = cols.shape[:2]
    return cols.transpose(4, 2, 3, 1, 0).reshape(-1, C, K)


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_gathered_columns_are_the_books_reordered(shape, fh, stride, pad):
    x = np.random.default_rng(2).standard_normal(shape)
    C = shape[1]
    book = naive_im2col(x, fh, fh, stride, pad).reshape(-1, C, fh * fh)  # (N*OH*OW, C, K)
    cols, _ = columns_of(x, fh, stride, pad)
    np.testing.assert_array_equal(books_order(cols), book)


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_blocks_of_output_rows_are_the_rows_of_the_whole(shape, fh, stride, pad):
    x = np.random.default_rng(6).standard_normal(shape)
    whole, _ = columns_of(x, fh, stride, pad)
    oh = whole.shape[2]
    for height in range(1, oh + 1):
        for start in range(0, oh, height):
            rows = slice(start, min(oh, start + height))
            block, _ = columns_of(x, fh, stride, pad, rows=rows)
            np.testing.assert_array_equal(block, whole[:, :, rows])


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_gather_overwrites_every_element_of_a_used_buffer(shape, fh, stride, pad):
    # The buffer is shared by every convolution of a thread: the padding must be written too.
    x = np.random.default_rng(3).standard_normal(shape)
    clean, _ = columns_of(x, fh, stride, pad)
    dirty = np.full_like(clean, np.nan)
    columns_of(x, fh, stride, pad, buffer=dirty)
    np.testing.assert_array_equal(dirty, clean)


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_scatter_add_is_the_adjoint_of_gather(shape, fh, stride, pad):
    # <gather(x), c> == <x, scatter_add(c)> for every x and c defines the adjoint exactly.
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    cols, shifts = columns_of(x, fh, stride, pad)
    c = rng.standard_normal(cols.shape)
    back = np.zeros(x.transpose(1, 2, 3, 0).shape)
    scatter_add_columns(c, back, shifts)
    assert np.sum(cols * c) == pytest.approx(np.sum(x.transpose(1, 2, 3, 0) * back), rel=1e-12)


def test_row_blocks_cover_the_output_within_the_budget():
    assert list(row_blocks(10, 300, 1000)) == [slice(0, 3), slice(3, 6), slice(6, 9),
                                               slice(9, 10)]
    assert list(row_blocks(2, 5000, 1000)) == [slice(0, 1), slice(1, 2)]  # at least one row


def test_scratch_arrays_share_one_buffer_per_thread():
    a, _ = scratch_array((4, 5), np.float32)
    b, _ = scratch_array((2, 3), np.float64)
    assert np.shares_memory(a, b) and a.flags.c_contiguous and b.flags.c_contiguous
    other = []
    thread = threading.Thread(target=lambda: other.append(scratch_array((4, 5), np.float32)))
    thread.start()
    thread.join()
    assert not np.shares_memory(other[0][0], a)


def test_scratch_says_when_it_still_holds_the_same_contents():
    assert not scratch_array((4, 5), np.float32, contents="a")[1]  # first asked
    assert scratch_array((4, 5), np.float32, contents="a")[1]
    assert not scratch_array((4, 6), np.float32, contents="a")[1]  # another shape
    scratch_array((4, 6), np.float32)  # someone else wrote in between
    assert not scratch_array((4, 6), np.float32, contents="a")[1]


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_blocks_of_one_layer_after_another_layer_get_their_padding(shape, fh, stride, pad):
    # The convolution writes its padding on the first block only: another layer's columns in
    # between must make it write the zeros again.
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    conv = Convolution(rng.standard_normal((2, shape[1], fh, fh)), np.zeros(2), stride, pad)
    whole = conv.forward(x).copy()  # one block
    conv.COLUMN_BLOCK_BYTES = 1  # one output row per block
    expected = conv.forward(x).copy()
    np.testing.assert_allclose(expected, whole, rtol=1e-12, atol=1e-12)
    other = Convolution(rng.standard_normal((2, shape[1], 1, 1)), np.zeros(2))
    other.COLUMN_BLOCK_BYTES = 1
    buffer, _ = scratch_array((4, 4), x.dtype)
    buffer[...] = np.nan
    for _ in range(2):
        np.testing.assert_array_equal(conv.forward(x), expected)
        other.forward(np.full_like(x, np.nan))  # fills the buffer with NaN columns
