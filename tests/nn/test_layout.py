"""The memory-layout and in-place invariants the fast paths rely on (see layers.py).

Between convolutions, 4-d activations and their gradients lie in memory as (C, H, W, N):
a convolution's GEMM produces that order, ReLU and pooling keep it, so the transposes in
Convolution are free views. ReLU works in place because no layer keeps a reference to the
array it overwrites.
"""

import numpy as np
import pytest

from cnnsweep.nn import (
    ConvSpec,
    DeepConvNetSpec,
    MLPSpec,
    PoolSpec,
    SimpleConvNetSpec,
    build_network,
)
from cnnsweep.nn.layers import Affine, BatchNormalization, Convolution, Pooling, Relu


def batch_last(a: np.ndarray) -> bool:
    """True when the (N, C, H, W) array `a` lies in memory as a C-contiguous (C, H, W, N)."""
    return a.transpose(1, 2, 3, 0).flags.c_contiguous


@pytest.fixture
def conv_output():
    rng = np.random.default_rng(0)
    conv = Convolution(rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), 1, 1)
    return conv, conv.forward(rng.standard_normal((2, 3, 6, 6)))


def test_convolution_output_is_batch_last(conv_output):
    _, out = conv_output
    assert out.shape == (2, 4, 6, 6) and batch_last(out) and not out.flags.c_contiguous


def test_relu_in_place_returns_its_input_and_gradient_buffers(conv_output):
    _, out = conv_output
    relu = Relu(inplace=True)
    y = relu.forward(out)
    assert y is out and batch_last(y)
    dout = np.ones_like(y)
    assert relu.backward(dout) is dout


def test_pooling_keeps_the_layout_forward_and_backward(conv_output):
    _, out = conv_output
    pool = Pooling(2, 2, 2)
    y = pool.forward(out)
    assert batch_last(y)
    dx = pool.backward(np.ones_like(y))
    assert dx.shape == out.shape and batch_last(dx)


@pytest.mark.parametrize("stride", [1, 2])
def test_convolution_backward_reads_a_batch_last_gradient_without_copying(stride):
    rng = np.random.default_rng(0)
    conv = Convolution(rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), stride, 1)
    out = conv.forward(rng.standard_normal((2, 3, 7, 7)))
    dout = np.ones_like(out)  # ones_like keeps the batch-last layout
    rows = dout.transpose(1, 2, 3, 0).reshape(out.shape[1], -1)
    assert np.shares_memory(rows, dout)
    dx = conv.backward(dout)
    assert dx.shape == (2, 3, 7, 7) and batch_last(dx)


def test_affine_reads_a_batch_last_input_without_copying_and_answers_in_its_layout(conv_output):
    _, out = conv_output  # (2, 4, 6, 6), batch-last
    rng = np.random.default_rng(1)
    W, b = rng.standard_normal((4 * 6 * 6, 5)), rng.standard_normal(5)
    layer = Affine(W, b)
    y = layer.forward(out)
    assert np.shares_memory(layer.x, out)
    flat = np.ascontiguousarray(out).reshape(2, -1)  # the book's (C, H, W) flattening
    np.testing.assert_allclose(y, flat @ W + b, rtol=1e-12)
    dout = rng.standard_normal((2, 5))
    dx = layer.backward(dout)
    assert batch_last(dx)
    np.testing.assert_allclose(dx, (dout @ W.T).reshape(out.shape), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], flat.T @ dout, rtol=1e-12)


def test_spatial_batchnorm_keeps_the_layout(conv_output):
    _, out = conv_output
    bn = BatchNormalization(np.ones(4), np.zeros(4), spatial=True)
    y = bn.forward(out)
    assert batch_last(y)
    assert batch_last(bn.backward(np.ones_like(y)))


NETWORKS = {
    "simple": SimpleConvNetSpec(ConvSpec(3, 3, 1, 1), PoolSpec(2, 2), hidden_size=6),
    "simple_bn_dropout": SimpleConvNetSpec(ConvSpec(2, 3), hidden_size=5, batchnorm=True,
                                           dropout=0.3),
    "mlp_bn": MLPSpec((6, 5), batchnorm=True, dropout=0.2),
    "deep": DeepConvNetSpec((2, 2, 3, 3, 4, 4), hidden_size=5),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_in_place_relu_gives_the_gradients_of_an_out_of_place_network(name):
    """No layer may keep a reference to an array that an in-place ReLU overwrites."""
    spec = NETWORKS[name]
    shape = (1, 12, 12)
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((3, *shape)), rng.integers(0, 10, 3)
    fast = build_network(spec, shape, init="he", rng=np.random.default_rng(2), dtype=np.float64)
    plain = build_network(spec, shape, init="he", rng=np.random.default_rng(2), dtype=np.float64)
    for _, layer in plain.layers:
        if isinstance(layer, Relu):
            layer.inplace = False
    assert any(isinstance(layer, Relu) and layer.inplace for _, layer in fast.layers)
    loss_fast, grads_fast = fast.loss_and_gradient(x, t)
    loss_plain, grads_plain = plain.loss_and_gradient(x, t)
    assert loss_fast == loss_plain
    for key in grads_plain:
        np.testing.assert_array_equal(grads_fast[key], grads_plain[key], err_msg=key)


def test_affine_flattens_any_other_input_for_free():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 1, 4, 4))  # an MLP's images: C-contiguous
    layer = Affine(rng.standard_normal((16, 5)), rng.standard_normal(5))
    layer.forward(x)
    assert np.shares_memory(layer.x, x) and layer.x.flags.c_contiguous
    dx = layer.backward(np.ones((3, 5)))
    assert dx.shape == x.shape and dx.flags.c_contiguous
