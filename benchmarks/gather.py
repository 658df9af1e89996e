"""How long `cnnsweep compare`'s gathering takes for many run folders (target: 1,000 in well
under 10 s), and the whole comparison with its figures.

    python benchmarks/gather.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' run-folder writer
from tests.runfolders import base_config, make_run

from cnnsweep.report import compare
from cnnsweep.results import load_results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "sweep"
        for i in range(args.runs):
            lr, seed = 10 ** (-1 - (i % 10) / 3), i // 10
            make_run(sweep, [f"optimizer.lr={lr:.5g}", f"seed={seed}"],
                     base_config(optimizer={"name": "sgd", "lr": lr}, seed=seed),
                     test_acc=0.5 + (i % 10) / 25, iterations=args.iterations)
        gather = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            results = load_results([sweep])
            gather.append(time.perf_counter() - start)
        start = time.perf_counter()
        compare([sweep])
        whole = time.perf_counter() - start
    print(f"{args.runs} run folders, {len(results.steps)} logged steps, {len(results.epochs)} "
          f"epoch rows; varying: {', '.join(results.varying)}")
    print(f"gather into DataFrames: median {statistics.median(gather):.2f} s "
          f"({statistics.median(gather) / args.runs * 1e3:.2f} ms per run)")
    print(f"whole comparison (gather, figures, reports): {whole:.2f} s")


if __name__ == "__main__":
    main()
