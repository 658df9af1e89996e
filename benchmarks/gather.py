"""How long `cnnsweep compare` takes, whole process, on many run folders.

    python benchmarks/gather.py [--repeats 3] [--skip-large]

Layouts (issue #11's targets on a 2-core machine):
- 1,000 run folders: 100 settings of `optimizer.lr` x 10 seeds, 300 logged steps each; the
  default comparison (tables, every default figure, reports): < 5 s.
- 10,000 run folders: 1,000 settings x 10 seeds, `--figures metric`: < 30 s.
The folders are written through the tests' run-folder writer (the training side's writer).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' run-folder writer
from tests.runfolders import base_config, make_run


def build(folder: Path, settings: int, seeds: int, iterations: int) -> None:
    for setting in range(settings):
        lr = 10 ** (-1 - 3 * setting / settings)
        for seed in range(seeds):
            make_run(folder, [f"optimizer.lr={lr:.6g}", f"seed={seed}"],
                     base_config(optimizer={"name": "sgd", "lr": lr}, seed=seed),
                     test_acc=0.5 + 0.4 * setting / settings + seed / 1000,
                     iterations=iterations)


def timed_compare(folder: Path, *options: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cnnsweep.cli", "compare", str(folder),
                           "--out", str(folder.parent / "report"), *options],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true", help="only the 1,000 folders")
    args = parser.parse_args()
    cases = [("1,000 folders (100 settings x 10 seeds, 300 steps), default figures", 100, 10,
              300, (), 5.0)]
    if not args.skip_large:
        cases.append(("10,000 folders (1,000 settings x 10 seeds), --figures metric", 1000, 10,
                      300, ("--figures", "metric"), 30.0))
    for name, settings, seeds, iterations, options, target in cases:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "sweep"
            build(folder, settings, seeds, iterations)
            times = [timed_compare(folder, *options) for _ in range(args.repeats)]
        median = statistics.median(times)
        print(f"{name}: median {median:.2f} s of {args.repeats} "
              f"({', '.join(f'{t:.2f}' for t in times)}); target < {target:.0f} s "
              f"{'met' if median < target else 'MISSED'}")


if __name__ == "__main__":
    main()
