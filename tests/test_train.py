import numpy as np
import pytest

from cnnsweep.nn import ConvSpec, MLPSpec, SimpleConvNetSpec, build_network, make_optimizer
from cnnsweep.train import TrainingCallback, TrainSettings, train


def blobs(n, seed=0):
    """Ten separable classes of 1×8×8 images: bright pixel block per class."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 10, n)
    x = rng.random((n, 1, 8, 8), dtype=np.float32) * 0.3
    for i, c in enumerate(t):
        x[i, 0, (c // 4) * 2 : (c // 4) * 2 + 3, (c % 4) * 2 : (c % 4) * 2 + 2] += 1.0
    return x, t


def run(seed=0, settings=None, spec=None, lr=0.01, callback=None, optimizer="adam"):
    x, t = blobs(300)
    xt, tt = blobs(100, seed=1)
    rng = np.random.default_rng(seed)
    net = build_network(spec or SimpleConvNetSpec(ConvSpec(4, 3), hidden_size=16), (1, 8, 8),
                        init="he", rng=rng)
    settings = settings or TrainSettings(epochs=3, batch_size=20, eval_sample=None)
    return net, train(net, make_optimizer(optimizer, lr=lr), x, t, xt, tt, settings, rng, callback)


def test_training_learns_and_records_history():
    _, result = run()
    assert not result.diverged
    assert [e.epoch for e in result.epochs] == [0, 1, 2, 3]
    assert [e.iteration for e in result.epochs] == [0, 15, 30, 45]
    assert len(result.steps) == 45 and result.iterations == 45
    assert result.steps[0].train_loss > result.steps[-1].train_loss
    assert result.final_test_acc > 0.9
    assert result.images_per_second > 0


def test_same_seed_gives_bitwise_identical_history():
    _, a = run(seed=5)
    _, b = run(seed=5)
    _, c = run(seed=6)
    assert [s.train_loss for s in a.steps] == [s.train_loss for s in b.steps]
    assert [e.test_acc for e in a.epochs] == [e.test_acc for e in b.epochs]
    assert [s.train_loss for s in a.steps] != [s.train_loss for s in c.steps]


def test_sampling_with_replacement_and_max_iterations():
    settings = TrainSettings(epochs=100, batch_size=32, max_iterations=20, sampling="replacement",
                             eval_sample=50)
    _, result = run(settings=settings)
    # 300 // 32 = 9 iterations per epoch; evaluations at 0, 9, 18 and the last iteration.
    assert [e.iteration for e in result.epochs] == [0, 9, 18, 20]
    assert result.iterations == 20


def test_divergence_stops_with_the_history_so_far():
    settings = TrainSettings(epochs=20, batch_size=20)
    _, result = run(lr=1e30, optimizer="sgd", spec=MLPSpec((32, 32)), settings=settings)
    assert result.diverged
    assert "loss became" in result.message
    assert not np.isfinite(result.steps[-1].train_loss)
    assert result.steps[-1].iteration == result.iterations < 20 * 15
    # The evaluations before the loss broke are kept, and none after it.
    assert [e.epoch for e in result.epochs] == list(range(len(result.epochs)))
    assert result.epochs[-1].iteration < result.iterations
    assert np.isnan(result.final_test_acc)


def test_logged_loss_is_the_training_forward_pass_on_the_batch_before_its_update():
    x, t = blobs(300)
    net = build_network(MLPSpec((16,), batchnorm=True), (1, 8, 8), init="he",
                        rng=np.random.default_rng(0), dtype=np.float64)
    # One batch of all 300 images: the same images in any order, so the same mean loss; with
    # batch norm, training mode (batch statistics) and evaluation mode (running) differ.
    expected = net.loss(x, t, train=True)
    evaluation = net.loss(x, t, train=False)
    result = train(net, make_optimizer("sgd", lr=0.1), x, t, x[:10], t[:10],
                   TrainSettings(epochs=1, batch_size=300, eval_sample=10),
                   np.random.default_rng(1))
    assert result.steps[0].train_loss == pytest.approx(expected, rel=1e-12)
    assert abs(expected - evaluation) > 0.1


def test_callback_sees_epoch_0_then_each_step_then_each_epoch():
    calls = []

    class Spy(TrainingCallback):
        def on_step(self, record):
            calls.append(("step", record.iteration))

        def on_epoch(self, record, of_epochs):
            calls.append(("epoch", record.epoch, of_epochs))

    run(settings=TrainSettings(epochs=1, batch_size=100, eval_sample=10), callback=Spy())
    assert calls == [("epoch", 0, 1), ("step", 1), ("step", 2), ("step", 3), ("epoch", 1, 1)]


def test_bad_settings_name_the_value():
    with pytest.raises(ValueError, match="sampling='random' is not one of shuffle, replacement"):
        TrainSettings(sampling="random")
    with pytest.raises(ValueError, match="batch_size=0"):
        TrainSettings(batch_size=0)
