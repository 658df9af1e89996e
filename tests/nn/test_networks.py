"""Whole networks: gradient checks, geometry errors, save/load, sanity checks."""

import math

import numpy as np
import pytest

from cnnsweep.nn import (
    ConvSpec,
    DeepConvNetSpec,
    GeometryError,
    MLPSpec,
    PoolSpec,
    SimpleConvNetSpec,
    build_network,
    make_optimizer,
)
from cnnsweep.nn.architectures import plan_network
from cnnsweep.nn.gradcheck import numerical_gradient, rel_error
from cnnsweep.nn.layers import Dropout
from cnnsweep.nn.plan import AffinePlan, ConvPlan


def network_gradcheck(net, x, t):
    """Max relative error per parameter; dropout layers draw the same mask at every call."""
    dropouts = [layer for _, layer in net.layers if isinstance(layer, Dropout)]

    def loss():
        # The exact cross-entropy: the book's 1e-7 inside the log would bend the numerical
        # gradient away from the analytic (y - t) / N when a probability is small.
        for i, layer in enumerate(dropouts):
            layer.rng = np.random.default_rng(100 + i)
        scores = net.predict(x, train=True)
        scores = scores - scores.max(1, keepdims=True)
        log_p = scores - np.log(np.exp(scores).sum(1, keepdims=True))
        return -np.mean(log_p[np.arange(len(t)), t]) + net.weight_decay_loss()

    rng = np.random.default_rng(7)
    for key, value in net.params.items():
        if key.startswith("b"):  # zero biases put dead units exactly on ReLU's kink
            value += rng.uniform(0.05, 0.2, value.shape)
    loss()
    for i, layer in enumerate(dropouts):
        layer.rng = np.random.default_rng(100 + i)
    _, grads = net.loss_and_gradient(x, t)
    errors = {}
    for key in net.params:
        # h=1e-4: a whole network's loss carries ~1e-16 rounding, which central differences
        # divide by 2h; at h=1e-5 that noise (~4e-11) reaches 1e-6 of the smallest gradient
        # entries (~2e-5) and the check then hangs on the loss's last bits (Python 3.12's
        # sum(), say), while the truncation error at 1e-4 stays below 1e-8.
        numerical = numerical_gradient(loss, net.params[key], h=1e-4)
        # A gradient that is truly zero (a bias before batch norm) compares in absolute terms.
        tiny = np.max(np.abs(numerical)) < 1e-8 and np.max(np.abs(grads[key])) < 1e-8
        errors[key] = 0.0 if tiny else rel_error(grads[key], numerical)
    return errors


CASES = {
    "simple": SimpleConvNetSpec(ConvSpec(3, 3, 0, 1), PoolSpec(2, 2), hidden_size=6),
    "simple_pad_stride": SimpleConvNetSpec(ConvSpec(2, 4, 1, 2), PoolSpec(2, 1), hidden_size=5),
    "simple_bn_dropout": SimpleConvNetSpec(ConvSpec(2, 3, 1, 1), PoolSpec(2, 2), hidden_size=5,
                                           batchnorm=True, dropout=0.3),
    "simple_avg_pool": SimpleConvNetSpec(ConvSpec(2, 3, 0, 1), PoolSpec(2, 2, 0, "avg"), 4),
    "mlp_sigmoid": MLPSpec((7, 5), activation="sigmoid"),
    "mlp_bn_dropout": MLPSpec((6, 5), batchnorm=True, dropout=0.2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_network_gradients_match_numerical(case):
    rng = np.random.default_rng(0)
    net = build_network(CASES[case], (1, 8, 8), 3, init=0.5, rng=rng, dtype=np.float64,
                        weight_decay=0.05)
    x = rng.standard_normal((4, 1, 8, 8))
    t = rng.integers(0, 3, 4)
    errors = network_gradcheck(net, x, t)
    assert max(errors.values()) < 1e-6, errors


def test_deep_convnet_shapes_and_gradients():
    spec = DeepConvNetSpec(channels=(2, 2, 2, 2, 3, 3), hidden_size=4, dropout=0.5)
    plan = plan_network(spec, (1, 28, 28))
    convs = [p for p in plan if isinstance(p, ConvPlan)]
    assert [p.out_shape for p in convs] == [(2, 28, 28), (2, 28, 28), (2, 14, 14), (2, 16, 16),
                                            (3, 8, 8), (3, 8, 8)]
    assert next(p for p in plan if isinstance(p, AffinePlan)).in_shape == (3, 4, 4)
    rng = np.random.default_rng(1)
    small = build_network(DeepConvNetSpec((2, 1, 2, 1, 2, 2), 3, 0.5), (1, 12, 12), 2, init="he",
                          rng=rng, dtype=np.float64)
    errors = network_gradcheck(small, rng.standard_normal((2, 1, 12, 12)), np.array([0, 1]))
    assert max(errors.values()) < 1e-6, errors


def test_book_simple_convnet_parameter_shapes():
    net = build_network(SimpleConvNetSpec())
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert net.dtype == np.float32


def test_bad_geometry_fails_before_allocation_with_the_sizes():
    with pytest.raises(GeometryError, match=r"conv: \(28 \+ 2\*0 - 6\) / 4 \+ 1 = 6.5 is not a "
                                            r"whole number; change filter_size, pad or stride"):
        plan_network(SimpleConvNetSpec(ConvSpec(30, 6, 0, 4)), (1, 28, 28))
    with pytest.raises(GeometryError, match=r"pool: \(24 \+ 2\*0 - 5\) / 5 \+ 1"):
        build_network(SimpleConvNetSpec(pool=PoolSpec(5, 5)))


def test_max_pooling_padded_beyond_half_a_window_is_refused():
    """A window of padding alone would give -inf (and NaN after the next affine layer)."""
    with pytest.raises(GeometryError, match=r"pool: pad = 2 must be at most half of size = 2"):
        build_network(SimpleConvNetSpec(pool=PoolSpec(2, 2, pad=2)))
    net = build_network(SimpleConvNetSpec(ConvSpec(2, 3), PoolSpec(3, 2, pad=1), hidden_size=4),
                        (1, 13, 13))
    assert np.isfinite(net.predict(np.zeros((2, 1, 13, 13), np.float32))).all()


def test_initial_loss_is_log_of_class_count():
    rng = np.random.default_rng(2)
    net = build_network(SimpleConvNetSpec(), rng=rng)
    x = rng.random((50, 1, 28, 28), dtype=np.float32)
    assert net.loss(x, rng.integers(0, 10, 50)) == pytest.approx(math.log(10), rel=0.02)


def test_tiny_batch_can_be_overfitted():
    rng = np.random.default_rng(3)
    net = build_network(SimpleConvNetSpec(ConvSpec(8, 5)), init="he", rng=rng)
    x = rng.random((20, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 20)
    opt = make_optimizer("adam", lr=0.005)
    for _ in range(60):
        _, grads = net.loss_and_gradient(x, t)
        opt.update(net.params, grads)
    assert net.accuracy(x, t) == 1.0
    assert net.loss(x, t) < 0.05


def test_save_and_load_round_trip(tmp_path):
    spec = SimpleConvNetSpec(ConvSpec(4, 3), hidden_size=8, batchnorm=True)
    a = build_network(spec, rng=np.random.default_rng(4))
    x = np.random.default_rng(5).random((10, 1, 28, 28), dtype=np.float32)
    a.loss(x, np.zeros(10, int))  # moves the running statistics away from zero
    a.save(tmp_path / "params.npz")
    b = build_network(spec, rng=np.random.default_rng(99))
    b.load(tmp_path / "params.npz")
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    other = build_network(SimpleConvNetSpec(ConvSpec(5, 3), hidden_size=8, batchnorm=True))
    with pytest.raises(ValueError, match=r"W1 has shape \(4, 1, 3, 3\), the network expects"):
        other.load(tmp_path / "params.npz")


def test_weight_decay_adds_half_lambda_sum_of_squared_weights():
    rng = np.random.default_rng(6)
    plain = build_network(MLPSpec((5,)), (4,), 3, init="he", rng=np.random.default_rng(0))
    decayed = build_network(MLPSpec((5,)), (4,), 3, init="he", rng=np.random.default_rng(0),
                            weight_decay=0.1)
    x, t = rng.standard_normal((3, 4)), np.array([0, 1, 2])
    squares = sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + 0.05 * squares, rel=1e-6)
    (_, g_plain), (_, g_decayed) = plain.loss_and_gradient(x, t), decayed.loss_and_gradient(x, t)
    np.testing.assert_allclose(g_decayed["W1"], g_plain["W1"] + 0.1 * plain.params["W1"], rtol=1e-5)
    np.testing.assert_array_equal(g_decayed["b1"], g_plain["b1"])


@pytest.mark.parametrize("spec, passes", [
    (MLPSpec(), [1000]),  # its largest output, 100 units, is 400 KB for all 1,000 images
    (SimpleConvNetSpec(), [100] * 10),  # 30×24×24 floats each: 6.6 MB per 100 images
    (DeepConvNetSpec(), [100] * 10),
])
def test_evaluation_passes_as_many_images_as_the_largest_activation_allows(spec, passes):
    net = build_network(spec, init="he", rng=np.random.default_rng(0))
    first = net.layers[0][1]
    seen, forward = [], first.forward
    first.forward = lambda x, train=True: seen.append(len(x)) or forward(x, train)
    x = np.random.default_rng(1).random((1000, 1, 28, 28), dtype=np.float32)
    scores = net.predict(x)
    assert seen == passes
    net.eval_chunk = 100
    np.testing.assert_allclose(scores, net.predict(x), rtol=1e-5, atol=1e-5)
