"""The planner computes ReLU → max pooling as max pooling → ReLU: same numbers to the bit."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from cnnsweep.nn import (
    ConvSpec,
    DeepConvNetSpec,
    PoolSpec,
    SimpleConvNetSpec,
    network_from_plan,
    plan_network,
)
from cnnsweep.nn.layers import Pooling, Relu
from cnnsweep.nn.plan import PoolPlan, ReluPlan


def book_order(plan):
    """The plan as the book writes it: each pooling that the planner moved before its ReLU
    put back after it."""
    out = []
    for layer in plan:
        if isinstance(layer, ReluPlan) and out and isinstance(out[-1], PoolPlan):
            pool = out.pop()
            out += [ReluPlan(pool.in_shape, pool.in_shape), pool]
        else:
            out.append(layer)
    return out


def test_max_pooling_is_planned_before_the_relu_that_precedes_it():
    plan = plan_network(SimpleConvNetSpec(), (1, 28, 28))
    kinds = [type(layer).__name__ for layer in plan]
    assert kinds == ["ConvPlan", "PoolPlan", "ReluPlan", "AffinePlan", "ReluPlan", "AffinePlan"]
    pool, relu = plan[1], plan[2]
    assert pool.in_shape == (30, 24, 24) and pool.out_shape == relu.in_shape == (30, 12, 12)


def test_average_pooling_keeps_the_books_order():
    plan = plan_network(SimpleConvNetSpec(pool=PoolSpec(2, 2, mode="avg")), (1, 28, 28))
    assert [type(layer).__name__ for layer in plan[:3]] == ["ConvPlan", "ReluPlan", "PoolPlan"]


SPECS = {
    "tiled 2x2": SimpleConvNetSpec(ConvSpec(4, 3, 1, 1), PoolSpec(2, 2), hidden_size=6),
    "overlapping 3/2": SimpleConvNetSpec(ConvSpec(4, 2), PoolSpec(3, 2), hidden_size=6),
    "padded": SimpleConvNetSpec(ConvSpec(3, 3), PoolSpec(2, 2, pad=1), hidden_size=5),
    "deep": DeepConvNetSpec((3, 3, 4, 4, 5, 5), hidden_size=6, dropout=0.0),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_pool_then_relu_gives_the_books_scores_and_gradients_to_the_bit(name, dtype):
    shape = (1, 12, 12)
    plan = plan_network(SPECS[name], shape)
    assert plan != book_order(plan)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, *shape)).astype(dtype)
    # Blank regions make windows of equal values: ties at a positive value (a positive bias)
    # and at zero (a negative one) must reach the same element as in the book's order.
    x[:, :, :6, :] = 0
    ours = network_from_plan(plan, init="he", rng=np.random.default_rng(4), dtype=dtype)
    book = network_from_plan(book_order(plan), init="he", rng=np.random.default_rng(4),
                             dtype=dtype)
    for net in (ours, book):
        net.params["b1"][:] = np.where(np.arange(len(net.params["b1"])) % 2, 0.5, -0.5)
    t = rng.integers(0, 10, len(x))
    np.testing.assert_array_equal(ours.predict(x), book.predict(x))
    loss_ours, grads_ours = ours.loss_and_gradient(x, t)
    loss_book, grads_book = book.loss_and_gradient(x, t)
    assert loss_ours == loss_book
    for key in grads_book:
        np.testing.assert_array_equal(grads_ours[key], grads_book[key], err_msg=key)
    kinds = [type(layer) for _, layer in ours.layers]
    assert (Pooling, Relu) in pairwise(kinds)
