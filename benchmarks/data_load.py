"""Data loading: cold load (decode + verify + write cache), warm load (memory map), and the
private memory one more worker adds when it reads the whole training set.

    MNIST_DIR=../shared/data/mnist python benchmarks/data_load.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = """
import sys, numpy as np
from pathlib import Path
from cnnsweep.data import load_dataset

def anonymous_kib():
    # Memory of this process alone; mapped cache pages are file-backed and shared by all workers.
    fields = dict(line.split(":", 1) for line in open("/proc/self/smaps_rollup") if ":" in line)
    return int(fields["Anonymous"].split()[0])

before = anonymous_kib()
d = load_dataset("mnist", data_dir=sys.argv[1], download=False, cache_dir=Path(sys.argv[2]))
total = float(d.x_train.sum(dtype=np.float64))  # touch every pixel
print(anonymous_kib() - before, total)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from cnnsweep.data import load_dataset
    from cnnsweep.data.mnist import default_mnist_dir

    data_dir = default_mnist_dir()
    with tempfile.TemporaryDirectory() as tmp:
        cold = []
        for i in range(max(1, args.repeats // 2)):
            start = time.perf_counter()
            load_dataset("mnist", data_dir=data_dir, download=False, cache_dir=Path(tmp) / str(i))
            cold.append(time.perf_counter() - start)
        warm = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            d = load_dataset("mnist", data_dir=data_dir, download=False, cache_dir=Path(tmp) / "0")
            warm.append(time.perf_counter() - start)
        out = subprocess.run([sys.executable, "-c", WORKER, str(data_dir), str(Path(tmp) / "0")],
                             capture_output=True, text=True, check=True, env=os.environ).stdout
        added_kib = int(out.split()[0])
    pixels_mib = d.x_train.nbytes / 2**20
    print(f"full MNIST from {data_dir}")
    cold_ms, warm_ms = statistics.median(cold) * 1e3, statistics.median(warm) * 1e3
    print(f"cold load (decode, verify, write cache): median {cold_ms:8.1f} ms")
    print(f"warm load (memory map):                  median {warm_ms:8.1f} ms")
    print(f"cold / warm:                             {cold_ms / warm_ms:8.0f}x")
    print(f"one more worker reading all {pixels_mib:.0f} MiB of training pixels adds "
          f"{added_kib / 1024:.1f} MiB of anonymous memory (the pixels stay in the shared page "
          "cache)")


if __name__ == "__main__":
    main()
