"""Seconds of one whole-process epoch of full MNIST with the book's SimpleConvNet: ours
(`python run.py dataset=mnist trainer.epochs=1 trainer.threads=N`) beside the same epoch in
PyTorch CPU, each a fresh process, taking turns.

    MNIST_DIR=../shared/data/mnist python benchmarks/epoch.py [--threads 2] [--rounds 3]
    pip install -e '.[bench]'   # adds the PyTorch peer (torch==2.13.0, CPU)

Both sides do what a default run does: load full MNIST (through cnnsweep's loader, so reading
the data costs both the same), 600 shuffled batches of 100 with Adam 0.001, float32, accuracy on
the first 1,000 train and test images before and after the epoch, then on the whole test set.
The time is the process's wall time from start to exit: imports, data, training, evaluation and
(ours) the run folder's files. "threads" is `trainer.threads` for us and
`torch.set_num_threads` for PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def torch_epoch(threads: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from cnnsweep.data import load_dataset

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = load_dataset("mnist", progress=None)
    x_train, t_train = torch.from_numpy(data.x_train), torch.from_numpy(data.t_train).long()
    x_test, t_test = torch.from_numpy(data.x_test), torch.from_numpy(data.t_test).long()
    net = nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()

    def accuracy(x, t) -> float:
        with torch.inference_mode():
            hits = sum(int((net(x[i:i + 100]).argmax(1) == t[i:i + 100]).sum())
                       for i in range(0, len(x), 100))
        return hits / len(x)

    accuracy(x_train[:1000], t_train[:1000]), accuracy(x_test[:1000], t_test[:1000])
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(x_train)))
    start = time.perf_counter()
    for i in range(0, len(x_train), 100):
        idx = order[i:i + 100]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x_train[idx]), t_train[idx]).backward()
        opt.step()
    images_per_second = len(x_train) / (time.perf_counter() - start)
    accuracy(x_train[:1000], t_train[:1000]), accuracy(x_test[:1000], t_test[:1000])
    return {"test_acc": accuracy(x_test, t_test), "images_per_second": images_per_second}


def run(side: str, threads: int) -> dict:
    """One whole process of `side`: its wall seconds, final test accuracy and training rate."""
    with tempfile.TemporaryDirectory() as folder:
        if side == "ours":
            cmd = [sys.executable, str(REPO / "run.py"), "dataset=mnist", "trainer.epochs=1",
                   f"trainer.threads={threads}", f"hydra.run.dir={folder}"]
        else:
            cmd = [sys.executable, __file__, "--worker", "--threads", str(threads)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=folder)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            if "No module named 'torch'" in proc.stderr:
                return {}
            raise RuntimeError(proc.stderr[-3000:])
        if side == "ours":
            summary = json.loads((Path(folder) / "summary.json").read_text())
            result = {k: summary[k] for k in ("test_acc", "images_per_second")}
        else:
            result = json.loads(proc.stdout)
    return {"seconds": seconds, **result}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="*", default=[2])
    parser.add_argument("--rounds", type=int, default=3, help="processes per side, taking turns")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(torch_epoch(args.threads[0])))
        return
    if not os.environ.get("MNIST_DIR"):
        sys.exit("set MNIST_DIR to a folder with the four MNIST .gz files (no download here)")
    med = statistics.median
    print(f"one epoch of full MNIST, SimpleConvNet, whole process; medians of {args.rounds} "
          f"processes per side, taking turns")
    print(f"{'threads':>7} {'ours s':>8} {'pytorch s':>10} {'pt/ours':>8}   "
          f"{'ours img/s':>10} {'pt img/s':>9}   {'ours acc':>8} {'pt acc':>7}")
    for threads in args.threads:
        seen: dict[str, list[dict]] = {"ours": [], "pytorch": []}
        for _ in range(args.rounds):
            for side in seen:
                seen[side].append(run(side, threads))
        ours, peer = seen["ours"], [r for r in seen["pytorch"] if r]

        def m(results: list[dict], key: str) -> float:
            return med(r[key] for r in results)

        line = f"{threads:>7} {m(ours, 'seconds'):8.1f} "
        if peer:
            line += (f"{m(peer, 'seconds'):10.1f} {m(peer, 'seconds') / m(ours, 'seconds'):8.2f}"
                     f"   {m(ours, 'images_per_second'):10.0f} "
                     f"{m(peer, 'images_per_second'):9.0f}   {m(ours, 'test_acc'):8.4f} "
                     f"{m(peer, 'test_acc'):7.4f}")
        else:
            line += f"{'(absent)':>10} {'-':>8}   {m(ours, 'images_per_second'):10.0f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
