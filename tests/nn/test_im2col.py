import numpy as np
import pytest

from cnnsweep.nn.im2col import (
    GeometryError,
    col2im_channels_last,
    im2col_channels_last,
    output_size,
)
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


@pytest.mark.parametrize(("shape", "fh", "stride", "pad"), [
    ((2, 3, 7, 7), 3, 1, 0), ((2, 4, 8, 8), 2, 2, 0), ((2, 2, 9, 9), 3, 2, 1),
])
@pytest.mark.parametrize("channels_last_memory", [False, True])
def test_channels_last_columns_are_the_books_reordered_and_adjoint(shape, fh, stride, pad,
                                                                    channels_last_memory):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    if channels_last_memory:  # as a convolution's output lies in memory
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    N, C = shape[:2]
    book = naive_im2col(x, fh, fh, stride, pad).reshape(-1, C, fh, fh)
    ours = im2col_channels_last(x, fh, fh, stride, pad).reshape(-1, fh, fh, C)
    np.testing.assert_array_equal(ours, book.transpose(0, 2, 3, 1))
    c = rng.standard_normal(ours.reshape(len(ours), -1).shape)
    back = col2im_channels_last(c, shape, fh, fh, stride, pad)
    assert np.sum(ours.reshape(c.shape) * c) == pytest.approx(np.sum(x * back), rel=1e-12)
