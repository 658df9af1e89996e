import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cnnsweep.nn.book import col2im, im2col
from cnnsweep.nn.im2col import (
    GeometryError,
    gather_columns,
    output_size,
    pad_batch_last,
    row_blocks,
    scratch_array,
    windows,
)
from cnnsweep.nn.layers import Convolution
from tests.nn.reference import naive_im2col


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
    view = windows(pad_batch_last(x.transpose(1, 2, 3, 0), pad), (fh, fh), stride, (oh, ow))
    rows = rows or slice(0, oh)
    shape = (fh * fh, C, rows.stop - rows.start, ow, N)
    cols = np.empty(shape) if buffer is None else buffer
    gather_columns(view, rows, cols)
    return cols


def books_order(cols):
    """`(K, C, OH, OW, N)` → the book's im2col rows `(N*OH*OW, C, K)`."""
    K, C = cols.shape[:2]
    return cols.transpose(4, 2, 3, 1, 0).reshape(-1, C, K)


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_gathered_columns_are_the_books_reordered(shape, fh, stride, pad):
    x = np.random.default_rng(2).standard_normal(shape)
    C = shape[1]
    book = naive_im2col(x, fh, fh, stride, pad).reshape(-1, C, fh * fh)  # (N*OH*OW, C, K)
    np.testing.assert_array_equal(books_order(columns_of(x, fh, stride, pad)), book)


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_blocks_of_output_rows_are_the_rows_of_the_whole(shape, fh, stride, pad):
    x = np.random.default_rng(6).standard_normal(shape)
    whole = columns_of(x, fh, stride, pad)
    oh = whole.shape[2]
    for height in range(1, oh + 1):
        for start in range(0, oh, height):
            rows = slice(start, min(oh, start + height))
            block = columns_of(x, fh, stride, pad, rows=rows)
            np.testing.assert_array_equal(block, whole[:, :, rows])


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_gather_overwrites_every_element_of_a_used_buffer(shape, fh, stride, pad):
    # The buffer is shared by every convolution of a thread: the padding must be written too.
    x = np.random.default_rng(3).standard_normal(shape)
    clean = columns_of(x, fh, stride, pad)
    dirty = np.full_like(clean, np.nan)
    columns_of(x, fh, stride, pad, buffer=dirty)
    np.testing.assert_array_equal(dirty, clean)


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_adding_into_the_windows_is_the_adjoint_of_gathering_from_them(shape, fh, stride, pad):
    # <gather(x), c> == <x, scatter_add(c)> for every x and c defines the adjoint exactly; the
    # strided convolution's input gradient adds offset by offset into a windows view.
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    cols = columns_of(x, fh, stride, pad)
    c = rng.standard_normal(cols.shape)
    N, C, H, W = shape
    back = np.zeros((C, H + 2 * pad, W + 2 * pad, N))
    targets = windows(back, (fh, fh), stride, cols.shape[2:4], writeable=True)
    for i in range(fh):
        for j in range(fh):
            targets[i, j] += c[i * fh + j]
    back = back[:, pad : pad + H, pad : pad + W]
    assert np.sum(cols * c) == pytest.approx(np.sum(x.transpose(1, 2, 3, 0) * back), rel=1e-12)


def test_padding_is_zeros_around_a_contiguous_copy_and_a_negative_pad_crops():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    padded = pad_batch_last(x, 2)
    assert padded.shape == (2, 7, 8, 5) and padded.flags.c_contiguous
    np.testing.assert_array_equal(padded[:, 2:5, 2:6], x)
    padded[:, 2:5, 2:6] = 0
    assert not padded.any()
    np.testing.assert_array_equal(pad_batch_last(x, -1), x[:, 1:2, 1:3])
    view = x.transpose(0, 1, 2, 3)[..., ::-1]  # not contiguous: copied, values kept
    assert pad_batch_last(view, 0).flags.c_contiguous
    np.testing.assert_array_equal(pad_batch_last(view, 0), view)


def test_windows_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="does not fit"):
        windows(np.zeros((1, 5, 5, 2)), (3, 3), 2, (3, 2))


def test_row_blocks_cover_the_output_within_the_budget():
    assert list(row_blocks(10, 300, 1000)) == [slice(0, 3), slice(3, 6), slice(6, 9),
                                               slice(9, 10)]
    assert list(row_blocks(2, 5000, 1000)) == [slice(0, 1), slice(1, 2)]  # at least one row


def test_scratch_arrays_share_one_buffer_per_thread():
    a = scratch_array((4, 5), np.float32)
    b = scratch_array((2, 3), np.float64)
    assert np.shares_memory(a, b) and a.flags.c_contiguous and b.flags.c_contiguous
    other = []
    thread = threading.Thread(target=lambda: other.append(scratch_array((4, 5), np.float32)))
    thread.start()
    thread.join()
    assert not np.shares_memory(other[0], a)


def test_a_scratch_shape_asked_again_after_the_buffer_grew_lies_in_the_new_buffer():
    def in_a_new_thread():  # whose buffer starts empty
        small = scratch_array((3, 3), np.float32)
        assert scratch_array((3, 3), np.float32) is small  # made once per buffer
        large = scratch_array((100,), np.float32)  # a new buffer
        again = scratch_array((3, 3), np.float32)
        assert np.shares_memory(again, large) and not np.shares_memory(again, small)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(in_a_new_thread).result()


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), GEOMETRIES)
def test_a_convolution_in_blocks_of_one_row_after_another_layer_is_the_same(shape, fh, stride,
                                                                             pad):
    # Blocks share one scratch buffer with every other convolution of the thread: another
    # layer's columns in between (NaN here) must not leak into this layer's.
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    conv = Convolution(rng.standard_normal((2, shape[1], fh, fh)), np.zeros(2), stride, pad)
    whole = conv.forward(x).copy()  # one block
    conv.COLUMN_BLOCK_BYTES = 1  # one output row per block
    expected = conv.forward(x).copy()
    np.testing.assert_allclose(expected, whole, rtol=1e-12, atol=1e-12)
    other = Convolution(rng.standard_normal((2, shape[1], 1, 1)), np.zeros(2))
    other.COLUMN_BLOCK_BYTES = 1
    scratch_array((4, 4), x.dtype)[...] = np.nan
    for _ in range(2):
        np.testing.assert_array_equal(conv.forward(x), expected)
        other.forward(np.full_like(x, np.nan))  # fills the buffer with NaN columns
