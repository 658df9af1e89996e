"""Images/s of one SimpleConvNet training step (forward, backward, Adam) and of inference, ours
beside PyTorch CPU in the same run, each in its own process, at 1 and 2 BLAS threads.

    python benchmarks/train_step.py [--repeats 7] [--steps 20]
    pip install -e '.[bench]'   # adds the PyTorch peer (torch==2.13.0, CPU)

The network is the book's: conv 30×5×5 → ReLU → max-pool 2 → affine 100 → ReLU → affine 10,
float32, batch 100 for training and 1000 for inference, 1×28×28 inputs. Peak memory is the
growth of the process's peak RSS over its size before the first step.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, steps: int, repeats: int) -> list[float]:
    fn()  # warm up: allocations, BLAS thread pools
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        out.append(time.perf_counter() - start)
    return out


def ours(threads: int, steps: int, repeats: int) -> dict:
    import numpy as np
    from threadpoolctl import threadpool_limits

    from cnnsweep.nn import SimpleConvNetSpec, build_network, make_optimizer

    with threadpool_limits(threads):
        rng = np.random.default_rng(0)
        net = build_network(SimpleConvNetSpec(), rng=rng)
        opt = make_optimizer("adam", lr=0.001)
        x = rng.random((100, 1, 28, 28), dtype=np.float32)
        t = rng.integers(0, 10, 100)
        x_eval = rng.random((1000, 1, 28, 28), dtype=np.float32)
        base = peak_rss_mib()

        def step():
            _, grads = net.loss_and_gradient(x, t)
            opt.update(net.params, grads)

        train = timed(step, steps, repeats)
        peak = peak_rss_mib() - base
        infer = timed(lambda: net.predict(x_eval), max(2, steps // 5), repeats)
    return {"train": [steps * 100 / s for s in train],
            "infer": [max(2, steps // 5) * 1000 / s for s in infer], "peak_mib": peak}


def torch_peer(threads: int, steps: int, repeats: int) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10))
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
    with torch.inference_mode():
        infer = timed(lambda: net(x_eval), max(2, steps // 5), repeats)
    return {"train": [steps * 100 / s for s in train],
            "infer": [max(2, steps // 5) * 1000 / s for s in infer], "peak_mib": peak}


def worker(kind: str, threads: int, steps: int, repeats: int) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", kind, "--threads", str(threads),
           "--steps", str(steps), "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        if "No module named 'torch'" in proc.stderr:
            return None
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--worker", choices=["ours", "torch"])
    args = parser.parse_args()
    if args.worker:
        fn = ours if args.worker == "ours" else torch_peer
        threads = args.threads[0]
        print(json.dumps(fn(threads, args.steps, args.repeats)))
        return
    med = statistics.median
    print(f"SimpleConvNet float32; medians of {args.repeats} repeats of {args.steps} steps")
    print(f"{'threads':>7} {'what':<22} {'ours':>10} {'pytorch':>10} {'ours/pt':>8}")
    for threads in args.threads:
        a = worker("ours", threads, args.steps, args.repeats)
        b = worker("torch", threads, args.steps, args.repeats)
        rows = [("train img/s (b=100)", med(a["train"]), b and med(b["train"])),
                ("infer img/s (b=1000)", med(a["infer"]), b and med(b["infer"])),
                ("step peak MiB", a["peak_mib"], b and b["peak_mib"])]
        for name, mine, peer in rows:
            ratio = f"{mine / peer:8.2f}" if peer else "       -"
            peer_s = f"{peer:10.1f}" if peer else "  (absent)"
            print(f"{threads:>7} {name:<22} {mine:10.1f} {peer_s} {ratio}")


if __name__ == "__main__":
    main()
