"""Where a training step's time goes: milliseconds of each layer's forward and backward pass,
medians over repeated steps of one network (float32, batch 100, 1×28×28 inputs).

    python benchmarks/layer_profile.py [--net deep_convnet] [--threads 1] [--repeats 15]

`--threads` limits BLAS threads (threadpoolctl); the profile is of one layer stack, so a batch
split over threads (Network.set_threads) is not profiled here: each of its stacks does the same
work on a share of the batch. "step" is a whole `loss_and_gradient` plus the Adam update, timed
on its own, so the layer rows need not add up to it exactly.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

import cnnsweep.nn
from book_nets import NETS, build_book_network, keep_freed_memory_as_a_run
from cnnsweep.nn import make_optimizer


def profile(net_name: str, repeats: int) -> tuple[list[tuple[str, float, float]], float]:
    rng = np.random.default_rng(0)
    net = build_book_network(cnnsweep.nn, net_name, rng)
    opt = make_optimizer("adam", lr=0.001)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    names = [f"{type(layer).__name__.lower()}{suffix}" for suffix, layer in net.layers]
    forward = [[] for _ in names]
    backward = [[] for _ in names]
    steps = []
    for repeat in range(repeats + 1):  # the first is a warm-up
        out = x
        for i, (_, layer) in enumerate(net.layers):
            start = time.perf_counter()
            out = layer.forward(out, True)
            forward[i].append(time.perf_counter() - start)
        net.last_layer.forward(out, t)
        dout = net.last_layer.backward(1.0)
        for i in reversed(range(len(names))):
            start = time.perf_counter()
            dout = net.layers[i][1].backward(dout)
            backward[i].append(time.perf_counter() - start)
            if dout is None:
                for j in range(i):
                    backward[j].append(0.0)
                break
        start = time.perf_counter()
        _, grads = net.loss_and_gradient(x, t)
        opt.update(net.params, grads)
        steps.append(time.perf_counter() - start)
        if repeat == 0:
            for series in (*forward, *backward, steps):
                series.clear()
    med = statistics.median
    rows = [(name, 1000 * med(f), 1000 * med(b))
            for name, f, b in zip(names, forward, backward, strict=True)]
    return rows, 1000 * med(steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--net", choices=NETS, default="deep_convnet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    keep_freed_memory_as_a_run(cnnsweep.nn)
    with threadpool_limits(args.threads):
        rows, step = profile(args.net, args.repeats)
    print(f"{args.net}, {args.threads} BLAS thread(s), medians of {args.repeats} steps, ms")
    print(f"{'layer':<22} {'forward':>8} {'backward':>9}")
    for name, f, b in rows:
        print(f"{name:<22} {f:8.2f} {b:9.2f}")
    total_f, total_b = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'all layers':<22} {total_f:8.2f} {total_b:9.2f}")
    print(f"{'step (loss, grads, adam)':<22} {step:8.2f}")


if __name__ == "__main__":
    main()
