"""A batch split over threads computes what one thread computes: the same loss, gradients,
dropout masks and scores (to rounding), and the same numbers again on every run."""

import numpy as np
import pytest

from cnnsweep.nn import (
    ConvSpec,
    DeepConvNetSpec,
    MLPSpec,
    SimpleConvNetSpec,
    build_network,
    make_optimizer,
)

NETWORKS = {
    "simple_dropout": SimpleConvNetSpec(ConvSpec(3, 3, 1, 1), hidden_size=6, dropout=0.4),
    "deep": DeepConvNetSpec((2, 2, 3, 3, 4, 4), hidden_size=5),  # dropout 0.5, twice
}
SHAPE = (1, 12, 12)


def network(name, threads=1, dtype=np.float64, weight_decay=0.0):
    net = build_network(NETWORKS[name], SHAPE, init="he", rng=np.random.default_rng(2),
                        dtype=dtype, weight_decay=weight_decay)
    assert net.set_threads(threads) == threads
    return net


def batch(n, dtype=np.float64):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, *SHAPE)).astype(dtype), rng.integers(0, 10, n)


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize(("threads", "n"), [(2, 8), (3, 7), (4, 2)])
def test_split_gives_the_loss_gradients_and_masks_of_one_thread(name, threads, n):
    x, t = batch(n)
    one, split = network(name, weight_decay=0.01), network(name, threads, weight_decay=0.01)
    for _ in range(2):  # the second step draws new masks from the same generator state
        loss_one, grads_one = one.loss_and_gradient(x, t)
        loss_split, grads_split = split.loss_and_gradient(x, t)
        assert loss_split == pytest.approx(loss_one, rel=1e-12)
        assert grads_split.keys() == grads_one.keys()
        for key in grads_one:
            np.testing.assert_allclose(grads_split[key], grads_one[key], rtol=1e-10,
                                       atol=1e-13, err_msg=key)
    # Every mask drawn once for the whole batch: the generators are in the same state.
    dropout_rng = next(layer.rng for _, layer in one.layers if hasattr(layer, "rng"))
    split_rng = next(layer.rng for _, layer in split.layers if hasattr(layer, "rng"))
    assert dropout_rng.random() == split_rng.random()


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_split_evaluation_gives_the_scores_of_one_thread_in_order(name):
    x, _ = batch(23)
    one, split = network(name), network(name, 3)
    one.eval_chunk = split.eval_chunk = 4  # six chunks dealt to three copies
    np.testing.assert_allclose(split.predict(x), one.predict(x), rtol=1e-12)


def test_a_split_run_is_bitwise_reproducible():
    def train(threads):
        net = network("deep", threads, dtype=np.float32)
        opt = make_optimizer("adam", lr=0.01)
        x, t = batch(10, np.float32)
        losses = []
        for _ in range(3):
            loss, grads = net.loss_and_gradient(x, t)
            opt.update(net.params, grads)
            losses.append(loss)
        return losses, net.params

    (losses_a, params_a), (losses_b, params_b) = train(2), train(2)
    assert losses_a == losses_b
    for key in params_a:
        np.testing.assert_array_equal(params_a[key], params_b[key], err_msg=key)


def test_batch_normalisation_keeps_one_stack():
    net = build_network(SimpleConvNetSpec(ConvSpec(3, 3), hidden_size=6, batchnorm=True),
                        SHAPE, rng=np.random.default_rng(0))
    assert net.set_threads(2) == 1
    x, t = batch(4, np.float32)
    loss, grads = net.loss_and_gradient(x, t)
    assert np.isfinite(loss) and set(grads) == set(net.params)


def test_a_network_without_convolutions_keeps_one_stack():
    net = build_network(MLPSpec((6, 5), dropout=0.3), SHAPE, rng=np.random.default_rng(0))
    assert net.set_threads(2) == 1


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match="threads=0 must be at least 1"):
        network("deep").set_threads(0)
