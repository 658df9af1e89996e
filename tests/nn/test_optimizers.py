"""Each optimizer against its update formula (BOOK_FACTS), written out independently."""

import numpy as np
import pytest

from cnnsweep.nn.optimizers import OPTIMIZERS, make_optimizer


def reference_steps(name, w, grads, **hp):
    """The book's formulas, step by step, on plain float64 arrays."""
    w = w.copy()
    v = np.zeros_like(w)
    h = np.zeros_like(w)
    m_ = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        lr = hp["lr"]
        if name == "sgd":
            w -= lr * g
        elif name == "momentum":
            v = hp["momentum"] * v - lr * g
            w += v
        elif name == "nesterov":
            m = hp["momentum"]
            v = m * v - lr * g
            w += m * m * v
            w -= (1 + m) * lr * g
        elif name == "adagrad":
            h += g * g
            w -= lr * g / (np.sqrt(h) + 1e-7)
        elif name == "rmsprop":
            d = hp["decay_rate"]
            h = d * h + (1 - d) * g * g
            w -= lr * g / (np.sqrt(h) + 1e-7)
        elif name == "adam":
            b1, b2 = hp["beta1"], hp["beta2"]
            lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            m_ += (1 - b1) * (g - m_)
            v += (1 - b2) * (g * g - v)
            w -= lr_t * m_ / (np.sqrt(v) + 1e-7)
    return w


HYPER = {
    "sgd": {"lr": 0.1}, "momentum": {"lr": 0.05, "momentum": 0.8},
    "nesterov": {"lr": 0.05, "momentum": 0.7}, "adagrad": {"lr": 0.1},
    "rmsprop": {"lr": 0.02, "decay_rate": 0.9}, "adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.95},
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_follows_its_update_formula_over_several_steps(name):
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4)}
    start = {k: v.copy() for k, v in params.items()}
    grads_seq = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(5)]
    opt = make_optimizer(name, **HYPER[name])
    arrays = dict(params)
    for grads in grads_seq:
        opt.update(params, grads)
    for key in params:
        assert params[key] is arrays[key], "updates must be in place"
        expected = reference_steps(name, start[key], [g[key] for g in grads_seq], **HYPER[name])
        np.testing.assert_allclose(params[key], expected, rtol=1e-12, atol=1e-14)


def test_book_default_hyperparameters():
    assert make_optimizer("sgd").lr == 0.01
    assert make_optimizer("adam").lr == 0.001
    assert make_optimizer("momentum").momentum == 0.9
    assert make_optimizer("rmsprop").decay_rate == 0.99


def test_unknown_optimizer_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'; choose one of sgd, momentum"):
        make_optimizer("adamw")


@pytest.mark.parametrize("lr", [-0.1, 0.0, float("nan")])
def test_bad_learning_rate_is_named(lr):
    with pytest.raises(ValueError, match=rf"lr={lr} must be a positive number"):
        make_optimizer("sgd", lr=lr)


def test_float32_parameters_stay_float32():
    params = {"W": np.ones(3, np.float32)}
    for name in OPTIMIZERS:
        opt = make_optimizer(name)
        opt.update(params, {"W": np.full(3, 0.5, np.float32)})
        assert params["W"].dtype == np.float32, name
