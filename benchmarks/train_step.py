"""Images/s of one training step (forward, backward, Adam) and of inference, ours beside PyTorch
CPU in the same run, each in its own process, at 1 and 2 threads; and the step's peak memory.

    python benchmarks/train_step.py [--net simple_convnet deep_convnet mlp] [--threads 1 2]
        [--rounds 3] [--repeats 5] [--before OTHER_CHECKOUT/src] [--before-python PYTHON]
        [--ceiling]
    pip install -e '.[bench]'   # adds the PyTorch peer (torch==2.13.0, CPU)

The networks are the book's, float32, 1×28×28 inputs, batch 100 for training and 1000 for
inference, Adam 0.001:
- simple_convnet: conv 30×5×5 → ReLU → max-pool 2 → affine 100 → ReLU → affine 10 (std 0.01);
- deep_convnet: six 3×3 convs (16, 16, 32, 32 pad 2, 64, 64) with ReLU, max-pool after every
  second, affine 50 → ReLU → dropout 0.5 → affine 10 → dropout 0.5 (He init);
- mlp: 784-100-100-100-100-10 ReLU (He init).
"threads" is the run's `trainer.threads` for us (the batch split over threads with one BLAS
thread each, `Network.set_threads`; BLAS threads for an engine without it) and
`torch.set_num_threads` for PyTorch. Peak memory is the growth of the process's peak RSS over
its size before the first step. The machine is shared and its speed drifts: the sides take
turns (`--rounds`), and the ratios are of medians.

`--before-python` runs the "before" side under another interpreter (with numpy and threadpoolctl
installed; the engine is found through PYTHONPATH, this checkout's src/ unless `--before` says
otherwise): `--before-python /path/to/python3.13t` compares a free-threaded CPython, no GIL,
with this one.

`--ceiling` also times what N cores give this engine when nothing is shared: N processes at
once, each training on 1/N of the batch with one thread, their images/s added. A batch split
inside one process (and PyTorch's threads) can at best match it; the gain line says how much of
it ours reaches. On a machine whose second core is shared with other tenants, the ceiling, not
2×, is what a two-thread gain should be read against.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

from book_nets import NETS


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, steps: int, repeats: int) -> list[float]:
    fn()  # warm up: allocations, thread pools
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        out.append(time.perf_counter() - start)
    return out


def ours(net_name: str, threads: int, steps: int, repeats: int, batch: int = 100,
         infer: bool = True) -> dict:
    import numpy as np
    from threadpoolctl import threadpool_limits

    import cnnsweep.nn
    from book_nets import build_book_network, keep_freed_memory_as_a_run
    from cnnsweep.nn import make_optimizer

    keep_freed_memory_as_a_run(cnnsweep.nn)
    rng = np.random.default_rng(0)
    net = build_book_network(cnnsweep.nn, net_name, rng)
    # Threads as a run uses them: the network splits each batch over them where it can (one
    # BLAS thread each); otherwise (an engine without it) they are BLAS threads.
    split = getattr(net, "set_threads", lambda n: 1)(threads)
    with threadpool_limits(1 if split > 1 else threads):
        opt = make_optimizer("adam", lr=0.001)
        x = rng.random((batch, 1, 28, 28), dtype=np.float32)
        t = rng.integers(0, 10, batch)
        x_eval = rng.random((1000, 1, 28, 28), dtype=np.float32)
        base = peak_rss_mib()

        def step():
            _, grads = net.loss_and_gradient(x, t)
            opt.update(net.params, grads)

        train = timed(step, steps, repeats)
        peak = peak_rss_mib() - base
        infer_steps = max(2, steps // 5)
        inferred = timed(lambda: net.predict(x_eval), infer_steps, repeats) if infer else []
    return {"train": [steps * batch / s for s in train],
            "infer": [infer_steps * 1000 / s for s in inferred], "peak_mib": peak}


def torch_net(net_name: str):
    from torch import nn

    if net_name == "simple_convnet":
        return nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10))
    if net_name == "mlp":
        sizes = [784, 100, 100, 100, 100]
        layers: list = [nn.Flatten()]
        for a, b in pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(100, 10))
    layers = []
    channels = (1, 16, 16, 32, 32, 64, 64)
    for i, (a, b) in enumerate(pairwise(channels)):
        layers += [nn.Conv2d(a, b, 3, padding=2 if i == 3 else 1), nn.ReLU()]
        if i % 2:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(50, 10), nn.Dropout(0.5))


def torch_peer(net_name: str, threads: int, steps: int, repeats: int) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch_net(net_name)
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(100, 1, 28, 28)
    t = torch.randint(0, 10, (100,))
    x_eval = torch.rand(1000, 1, 28, 28)
    base = peak_rss_mib()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), t).backward()
        opt.step()

    train = timed(step, steps, repeats)
    peak = peak_rss_mib() - base
    net.eval()
    infer_steps = max(2, steps // 5)
    with torch.inference_mode():
        infer = timed(lambda: net(x_eval), infer_steps, repeats)
    return {"train": [steps * 100 / s for s in train],
            "infer": [infer_steps * 1000 / s for s in infer], "peak_mib": peak}


def worker(kind: str, net: str, threads: int, steps: int, repeats: int,
           src: str | None = None, python: str | None = None) -> dict | None:
    if kind == "ceiling":  # at one thread it is `ours` again
        return ceiling(net, threads, steps, repeats, src) if threads > 1 else None
    cmd = [python or sys.executable, __file__, "--worker", kind, "--net", net,
           "--threads", str(threads), "--steps", str(steps), "--repeats", str(repeats)]
    env = {**os.environ, "PYTHONPATH": src} if src else None
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        if "No module named 'torch'" in proc.stderr:
            return None
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout)


def ceiling(net: str, threads: int, steps: int, repeats: int, src: str | None) -> dict:
    """What `threads` cores give this engine when nothing is shared: `threads` processes at
    once, each training on its share of the batch with one thread; their images/s added.

    A batch split inside one process can at best match it (it adds the GIL, one address space
    and the summing of gradients); the machine's second core, shared with other tenants and
    the first core's memory traffic, sets it, not the engine.
    """
    cmd = [sys.executable, __file__, "--worker", "share", "--net", net, "--threads", "1",
           "--steps", str(steps), "--repeats", str(repeats), "--batch", str(100 // threads)]
    env = {**os.environ, "PYTHONPATH": src} if src else None
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(threads)]
    parts = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(err)
        parts.append(json.loads(out))
    # Timing i of every process ran at about the same moment: add them timing by timing.
    return {"train": [sum(run) for run in zip(*(part["train"] for part in parts), strict=True)],
            "infer": [], "peak_mib": float("nan")}


def alternating(kinds: dict[str, tuple[str, str | None, str | None]], net: str,
                thread_counts: list[int],
                steps: int, repeats: int, rounds: int) -> dict[tuple[str, int], dict | None]:
    """Each (side, threads) worker `rounds` times, taking turns, its timings pooled: on a
    shared machine whose speed drifts, every side and thread count sees the same stretches."""
    pooled: dict[tuple[str, int], dict | None] = {}
    for _ in range(rounds):
        for threads in thread_counts:
            for name, (kind, src, python) in kinds.items():
                key = (name, threads)
                result = worker(kind, net, threads, steps, repeats, src, python)
                if result is None or pooled.get(key, {}) is None:
                    pooled[key] = None
                    continue
                seen = pooled.setdefault(key, {"train": [], "infer": [], "peak_mib": 0.0})
                seen["train"] += result["train"]
                seen["infer"] += result["infer"]
                seen["peak_mib"] = max(seen["peak_mib"], result["peak_mib"])
    return pooled


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--net", nargs="+", choices=NETS, default=list(NETS))
    parser.add_argument("--repeats", type=int, default=5, help="timings per worker process")
    parser.add_argument("--rounds", type=int, default=3,
                        help="worker processes per side, taking turns")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per timing (default: 20; deep_convnet 5; mlp 200, whose "
                        "1-ms steps would time mostly noise)")
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--before", metavar="SRC",
                        help="also time the engine in SRC (another checkout's src/), as 'before'")
    parser.add_argument("--before-python", metavar="PYTHON",
                        help="run the 'before' side under this interpreter (default: this one)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also time N processes at once, each training on 1/N of the batch "
                        "with one thread: what N cores give when nothing is shared")
    parser.add_argument("--worker", choices=["ours", "torch", "share"])
    parser.add_argument("--batch", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "share":
        print(json.dumps(ours(args.net[0], 1, args.steps, args.repeats, args.batch, False)))
        return
    if args.worker:
        fn = ours if args.worker == "ours" else torch_peer
        print(json.dumps(fn(args.net[0], args.threads[0], args.steps, args.repeats)))
        return
    if args.before_python and not args.before:
        args.before = str(Path(__file__).resolve().parents[1] / "src")
    kinds: dict[str, tuple[str, str | None, str | None]] = {"ours": ("ours", None, None)}
    if args.before:
        kinds["before"] = ("ours", args.before, args.before_python)
    kinds["pytorch"] = ("torch", None, None)
    if args.ceiling:
        kinds["ceiling"] = ("ceiling", None, None)
    med = statistics.median
    print(f"float32; medians of {args.rounds} x {args.repeats} timings, sides taking turns, "
          f"each in its own process; PyTorch CPU {'and the engine before ' if args.before else ''}"
          f"{f'(under {args.before_python}) ' if args.before_python else ''}"
          f"beside ours")
    head = f"{'net':<15} {'threads':>7} {'what':<22} {'ours':>9}"
    if args.before:
        head += f" {'before':>9} {'ours/before':>11}"
    print(head + f" {'pytorch':>9} {'ours/pt':>8}")
    for net in args.net:
        steps = args.steps or {"deep_convnet": 5, "mlp": 200}.get(net, 20)
        res = alternating(kinds, net, args.threads, steps, args.repeats, args.rounds)
        for threads in args.threads:
            for name, key in [("train img/s (b=100)", "train"), ("infer img/s (b=1000)", "infer"),
                              ("step peak MiB", "peak_mib")]:
                values = {side: (r[key] if key == "peak_mib" else med(r[key]))
                          for (side, n), r in res.items()
                          if r is not None and n == threads and side != "ceiling"}
                mine, peer = values["ours"], values.get("pytorch")
                line = f"{net:<15} {threads:>7} {name:<22} {mine:9.1f}"
                if args.before:
                    line += f" {values['before']:9.1f} {mine / values['before']:11.2f}"
                line += (f" {peer:9.1f} {mine / peer:8.2f}" if peer else
                         f" {'(absent)':>9} {'-':>8}")
                print(line, flush=True)
        if len(args.threads) > 1:
            first, *more = args.threads
            for threads in more:
                gains = {side: med(res[side, threads]["train"]) / med(res[side, first]["train"])
                         for side in kinds if res.get((side, first)) and res.get((side, threads))}
                line = (f"{net:<15} training at {threads} threads over {first}: "
                        + ", ".join(f"{side} {gain:.2f}x" for side, gain in gains.items()))
                if res.get(("ceiling", threads)) and first == 1:
                    most = med(res["ceiling", threads]["train"]) / med(res["ours", 1]["train"])
                    line += (f"; ceiling ({threads} processes, nothing shared) {most:.2f}x, "
                             f"ours {gains['ours'] / most:.0%} of it")
                print(line, flush=True)


if __name__ == "__main__":
    main()
