"""Every layer against numerical gradients (float64) and conv/pool against naive loops."""

import weakref

import numpy as np
import pytest

from cnnsweep.nn import book
from cnnsweep.nn.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from cnnsweep.nn.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
)

TOL = 1e-6


def away_from_zero(rng, shape, margin=0.05):
    """Inputs with no element near ReLU's kink, where central differences are wrong."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, margin * np.sign(x + 1e-12) * 2, x)


def gradcheck(layer, x, rng):
    out = layer.forward(x, True)
    dout = rng.standard_normal(out.shape)
    inputs = {"x": x, **layer.params}
    return check_layer_gradients(lambda v: layer.forward(v, True), layer.backward, inputs, dout,
                                 lambda: layer.grads)


def test_relu_and_sigmoid_gradients():
    rng = np.random.default_rng(0)
    x = away_from_zero(rng, (4, 3, 5))
    for layer in (Relu(), Sigmoid()):
        errors = gradcheck(layer, x, rng)
        assert errors["x"] < TOL, (type(layer).__name__, errors)


def test_affine_gradients_and_nd_input_shape_restored():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2, 3, 3))
    layer = Affine(rng.standard_normal((18, 5)), rng.standard_normal(5))
    errors = gradcheck(layer, x, rng)
    assert max(errors.values()) < TOL, errors
    assert set(errors) == {"x", "W", "b"}
    assert layer.backward(np.ones((4, 5))).shape == x.shape


@pytest.mark.parametrize(("C", "FN", "fs", "stride", "pad", "H"), [
    (1, 3, 3, 1, 0, 6), (2, 4, 3, 2, 1, 7), (3, 2, 5, 1, 2, 5), (2, 3, 2, 2, 0, 6),
    (1, 2, 1, 1, 0, 4),
])
def test_convolution_gradients(C, FN, fs, stride, pad, H):
    rng = np.random.default_rng(2)
    layer = Convolution(rng.standard_normal((FN, C, fs, fs)), rng.standard_normal(FN), stride, pad)
    errors = gradcheck(layer, rng.standard_normal((2, C, H, H)), rng)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOL, errors


def test_first_layer_convolution_skips_input_gradient_but_not_weights():
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal(2)
    full, first = Convolution(W, b), Convolution(W.copy(), b.copy(), needs_input_grad=False)
    x = rng.standard_normal((2, 1, 5, 5))
    dout = rng.standard_normal((2, 2, 3, 3))
    full.forward(x), first.forward(x)
    assert full.backward(dout) is not None
    assert first.backward(dout) is None
    np.testing.assert_array_equal(first.grads["W"], full.grads["W"])


def naive_conv(x, W, b, stride, pad):
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (H + 2 * pad - FH) // stride + 1, (Wd + 2 * pad - FW) // stride + 1
    out = np.zeros((N, FN, oh, ow))
    for n in range(N):
        for f in range(FN):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, :, i * stride : i * stride + FH, j * stride : j * stride + FW]
                    out[n, f, i, j] = np.sum(window * W[f]) + b[f]
    return out


def naive_pool(x, size, stride, pad, mode):
    N, C, H, W = x.shape
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    oh, ow = (H + 2 * pad - size) // stride + 1, (W + 2 * pad - size) // stride + 1
    out = np.zeros((N, C, oh, ow))
    for n in range(N):
        for c in range(C):
            for i in range(oh):
                for j in range(ow):
                    w = xp[n, c, i * stride : i * stride + size, j * stride : j * stride + size]
                    out[n, c, i, j] = w.max() if mode == "max" else w.mean()
    return out


@pytest.mark.parametrize("seed", range(6))
def test_convolution_matches_naive_loop_on_random_shapes(seed):
    rng = np.random.default_rng(seed)
    C, FN, fs = rng.integers(1, 4), rng.integers(1, 5), rng.integers(1, 5)
    stride, pad, oh = rng.integers(1, 3), rng.integers(0, 2), rng.integers(1, 5)
    H = (oh - 1) * stride + fs - 2 * pad  # the input size that gives `oh` outputs exactly
    if H < 1:
        H, pad = H + 2 * pad, 0
    x = rng.standard_normal((2, C, H, H))
    W, b = rng.standard_normal((FN, C, fs, fs)), rng.standard_normal(FN)
    got = Convolution(W, b, stride, pad).forward(x)
    np.testing.assert_allclose(got, naive_conv(x, W, b, stride, pad), rtol=1e-12, atol=1e-12)


def book_convolution(x, W, b, stride, pad, dout):
    """The book's Convolution (`cnnsweep.nn.book`): output, dx, dW, db."""
    layer = book.Convolution(W, b, stride, pad)
    out = layer.forward(x)
    dx = layer.backward(dout)
    return out, dx, layer.grads["W"], layer.grads["b"]


@pytest.mark.parametrize(("C", "FN", "H", "fs", "stride", "pad"), [
    (16, 16, 28, 3, 1, 1), (16, 32, 14, 3, 1, 1), (32, 32, 14, 3, 1, 2), (32, 64, 8, 3, 1, 1),
    (64, 64, 7, 3, 1, 1), (1, 30, 28, 5, 1, 0), (24, 40, 9, 3, 2, 1), (16, 16, 6, 3, 1, 4),
])
@pytest.mark.parametrize("block_bytes", [1 << 12, 1 << 30])  # many blocks of columns, or one
def test_convolution_matches_the_books_on_wide_layers(C, FN, H, fs, stride, pad, block_bytes):
    # The book's DeepConvNet and SimpleConvNet geometries (16-64 channels) at float64, plus a
    # stride-2 layer (the scattered input gradient) and a pad wider than the filter (a crop).
    rng = np.random.default_rng(C + FN + H)
    x = rng.standard_normal((3, C, H, H))
    W, b = rng.standard_normal((FN, C, fs, fs)), rng.standard_normal(FN)
    layer = Convolution(W, b, stride, pad)
    layer.COLUMN_BLOCK_BYTES = block_bytes
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    book_out, book_dx, book_dW, book_db = book_convolution(x, W, b, stride, pad, dout)
    for ours, theirs in [(out, book_out), (dx, book_dx), (layer.grads["W"], book_dW),
                         (layer.grads["b"], book_db)]:
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("size", "stride", "pad", "H", "mode"), [
    (2, 2, 0, 8, "max"), (3, 1, 0, 6, "max"), (3, 2, 1, 7, "max"), (2, 2, 0, 6, "avg"),
    (3, 2, 1, 7, "avg"), (2, 1, 0, 5, "avg"), (2, 3, 0, 8, "max"), (2, 3, 0, 8, "avg"),
    (2, 2, 1, 6, "max"),  # windows with gaps between them, and tiling a padded input
])
def test_pooling_matches_naive_loop_exactly_and_gradchecks(size, stride, pad, H, mode):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, H, H))
    layer = Pooling(size, size, stride, pad, mode)
    out = layer.forward(x)
    expected = naive_pool(x, size, stride, pad, mode)
    if mode == "max":
        np.testing.assert_array_equal(out, expected)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-14)
    errors = gradcheck(layer, x, rng)
    assert errors["x"] < TOL, errors


def test_max_pooling_routes_gradient_to_the_argmax():
    x = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    layer = Pooling(2, 2, 2)
    assert layer.forward(x).item() == 5.0
    np.testing.assert_array_equal(layer.backward(np.array([[[[7.0]]]])), [[[[0, 7.0], [0, 0]]]])


def test_max_pooling_routes_a_tie_to_the_first_maximum_and_keeps_no_input():
    # As the book's argmax; found in forward, so the input (a convolution's whole output) can
    # be freed as soon as it is pooled.
    x = np.array([[[[4.0, 4.0], [4.0, 1.0]]]])
    layer = Pooling(2, 2, 2)
    layer.forward(x)
    alive = weakref.ref(x)
    del x
    assert alive() is None
    np.testing.assert_array_equal(layer.backward(np.array([[[[7.0]]]])), [[[[7.0, 0], [0, 0]]]])


def exact_cross_entropy(x, labels):
    log_softmax = x - x.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    return -np.mean(log_softmax[np.arange(len(x)), labels])


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_gradient_is_y_minus_t_over_n(one_hot):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    t = np.eye(4)[labels] if one_hot else labels
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward()
    assert layer.forward(x, t) == pytest.approx(exact_cross_entropy(x, labels), rel=1e-5)
    # The book's 1e-7 inside the log shifts the loss slightly; (y - t) / N is the exact
    # gradient of the cross-entropy without it.
    num = numerical_gradient(lambda: exact_cross_entropy(x, labels), x)
    assert rel_error(dx, num) < TOL
    y = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    np.testing.assert_allclose(dx, (y - np.eye(4)[labels]) / 6)


def test_dropout_is_the_books_form_and_gradchecks_with_a_fixed_mask():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((50, 40))
    layer = Dropout(0.3, np.random.default_rng(0))
    out = layer.forward(x, train=True)
    kept = out != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_array_equal(out[kept], x[kept])  # not rescaled in training
    np.testing.assert_allclose(layer.forward(x, train=False), x * 0.7)

    def forward_fixed_mask(v):
        layer.rng = np.random.default_rng(11)  # same mask at every call
        return layer.forward(v, True)

    forward_fixed_mask(x)
    dout = rng.standard_normal(x.shape)
    errors = check_layer_gradients(forward_fixed_mask, layer.backward, {"x": x}, dout,
                                   lambda: {})
    assert errors["x"] < TOL


@pytest.mark.parametrize(("shape", "spatial"), [((8, 5), False), ((6, 2, 3, 3), False),
                                                ((6, 2, 3, 3), True)])
def test_batchnorm_gradients_2d_and_4d(shape, spatial):
    rng = np.random.default_rng(7)
    size = shape[1] if spatial else int(np.prod(shape[1:]))
    layer = BatchNormalization(rng.standard_normal(size) + 1, rng.standard_normal(size),
                               spatial=spatial)
    errors = gradcheck(layer, rng.standard_normal(shape) * 3 + 1, rng)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < TOL, errors


def test_batchnorm_normalises_in_training_and_uses_running_statistics_in_evaluation():
    rng = np.random.default_rng(8)
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    x = rng.standard_normal((200, 3)) * 4 + 10
    y = layer.forward(x, train=True)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-6)
    # One update from zero with momentum 0.9: running = 0.1 * batch statistic (the book's choice).
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.1 * x.mean(0))
    np.testing.assert_allclose(layer.buffers["running_var"], 0.1 * x.var(0))
    for _ in range(200):
        layer.forward(x, train=True)
    np.testing.assert_allclose(layer.forward(x, train=False), y, atol=1e-5)


@pytest.mark.parametrize(("size", "stride", "H"), [(2, 2, 8), (3, 1, 6), (3, 2, 7), (2, 3, 8)])
def test_max_pooling_matches_the_books(size, stride, H):
    # Integer-valued inputs make ties, where both must route to the first maximum.
    rng = np.random.default_rng(size + stride)
    x = rng.integers(0, 4, (3, 4, H, H)).astype(float)
    ours, theirs = Pooling(size, size, stride), book.Pooling(size, size, stride)
    np.testing.assert_array_equal(ours.forward(x), theirs.forward(x))
    dout = rng.standard_normal(theirs.forward(x).shape)
    np.testing.assert_array_equal(ours.backward(dout), theirs.backward(dout))


@pytest.mark.parametrize("shape", [(5, 12), (5, 3, 4, 4)])
def test_affine_matches_the_books(shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    W, b = rng.standard_normal((int(np.prod(shape[1:])), 7)), rng.standard_normal(7)
    ours, theirs = Affine(W, b), book.Affine(W, b)
    np.testing.assert_allclose(ours.forward(x), theirs.forward(x), rtol=1e-12)
    dout = rng.standard_normal((shape[0], 7))
    np.testing.assert_allclose(ours.backward(dout), theirs.backward(dout), rtol=1e-12)
    for name in ("W", "b"):
        np.testing.assert_allclose(ours.grads[name], theirs.grads[name], rtol=1e-12)
