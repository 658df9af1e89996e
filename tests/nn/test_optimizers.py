"""Each optimizer against its update formula (BOOK_FACTS), written out independently."""

import numpy as np
import pytest

from cnnsweep.nn.optimizers import OPTIMIZERS, make_optimizer


def sgd(w, g, t, s, lr):
    return w - lr * g


def momentum(w, g, t, s, lr, momentum):
    s["v"] = momentum * s.get("v", 0) - lr * g
    return w + s["v"]


def nesterov(w, g, t, s, lr, momentum):
    m = momentum
    s["v"] = m * s.get("v", 0) - lr * g
    return w + m * m * s["v"] - (1 + m) * lr * g


def adagrad(w, g, t, s, lr):
    s["h"] = s.get("h", 0) + g * g
    return w - lr * g / (np.sqrt(s["h"]) + 1e-7)


def rmsprop(w, g, t, s, lr, decay_rate):
    s["h"] = decay_rate * s.get("h", 0) + (1 - decay_rate) * g * g
    return w - lr * g / (np.sqrt(s["h"]) + 1e-7)


def adam(w, g, t, s, lr, beta1, beta2):
    lr_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    s["m"] = s.get("m", 0) + (1 - beta1) * (g - s.get("m", 0))
    s["v"] = s.get("v", 0) + (1 - beta2) * (g * g - s.get("v", 0))
    return w - lr_t * s["m"] / (np.sqrt(s["v"]) + 1e-7)


# Every registered optimizer needs an entry: its formula (the book's, BOOK_FACTS), written out
# independently as one step `(w, g, t, state, **hyper) -> new w`, and hyper-parameters to test.
REFERENCES = {
    "sgd": (sgd, {"lr": 0.1}),
    "momentum": (momentum, {"lr": 0.05, "momentum": 0.8}),
    "nesterov": (nesterov, {"lr": 0.05, "momentum": 0.7}),
    "adagrad": (adagrad, {"lr": 0.1}),
    "rmsprop": (rmsprop, {"lr": 0.02, "decay_rate": 0.9}),
    "adam": (adam, {"lr": 0.01, "beta1": 0.8, "beta2": 0.95}),
}


def reference_steps(name, w, grads):
    step, hyper = REFERENCES[name]
    state = {}
    for t, g in enumerate(grads, start=1):
        w = step(w, g, t, state, **hyper)
    return w


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_follows_its_update_formula_over_several_steps(name):
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4)}
    start = {k: v.copy() for k, v in params.items()}
    grads_seq = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(5)]
    assert name in REFERENCES, f"{name}: add its formula to REFERENCES"
    opt = make_optimizer(name, **REFERENCES[name][1])
    arrays = dict(params)
    for grads in grads_seq:
        opt.update(params, grads)
    for key in params:
        assert params[key] is arrays[key], "updates must be in place"
        expected = reference_steps(name, start[key], [g[key] for g in grads_seq])
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
