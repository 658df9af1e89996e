"""A 4-run sweep through `run.py -m` with n_jobs=2 beside n_jobs=1 (target speed-up ≥ 1.8× on 2
cores), and the fixed cost per run beyond training (launch, data, writing; target < 1 s).

    python benchmarks/sweep.py [--epochs 15] [--repeats 1]

Loky starts two worker processes (~1.5 s) that a serial sweep does not need, so the ratio
grows with the length of the runs: 1.64x at 6 epochs per run, 1.80x at 15 on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN_PY = Path(__file__).resolve().parents[1] / "run.py"


def sweep(folder: Path, n_jobs: int, epochs: int) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    # Four runs of equal cost, so that the ratio measures parallelism, not load balance.
    subprocess.run([sys.executable, str(RUN_PY), "-m", "optimizer=sgd,momentum,adagrad,adam",
                    f"trainer.epochs={epochs}",
                    f"hydra.sweep.dir={folder}", f"hydra.launcher.n_jobs={n_jobs}",
                    "compare.enabled=false"], check=True, capture_output=True)
    wall = time.perf_counter() - start
    return wall, [json.loads(p.read_text()) for p in folder.glob("*/summary.json")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    walls: dict[int, list[float]] = {1: [], 2: []}
    fixed, in_run = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for n_jobs in (1, 2):
                wall, runs = sweep(Path(tmp) / f"{r}-{n_jobs}", n_jobs, args.epochs)
                assert len(runs) == 4 and all(s["status"] == "ok" for s in runs)
                walls[n_jobs].append(wall)
                train = sum(s["train_seconds"] for s in runs)
                if n_jobs == 1:  # serial: everything that is not training is overhead
                    fixed.append((wall - train) / len(runs))
                    in_run += [s["wall_seconds"] - s["train_seconds"] for s in runs]
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print(f"4-run sweep (4 optimizers, SimpleConvNet) on mnist_mini, {args.epochs} epochs per run")
    print(f"n_jobs=1: {one:6.1f} s   n_jobs=2: {two:6.1f} s   speed-up {one / two:.2f}x")
    print(f"fixed cost per run (serial sweep wall - training, / runs): "
          f"{statistics.median(fixed):.2f} s")
    print(f"  of which inside the run (data, network, evaluation at the end, writing): "
          f"median {statistics.median(in_run):.2f} s")


if __name__ == "__main__":
    main()
