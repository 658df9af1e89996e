"""Does a long sweep keep each worker's memory flat? A 64-run sweep, 2 joblib workers, tiny runs
on the embedded data; every run records its worker's resident memory at its end
(`summary.json: memory_mib`, pid). Target: growth between the sweep's 8th and 64th run < 20 MiB.

    python benchmarks/sweep_memory.py [--runs 64]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "s"
        seeds = ",".join(str(i) for i in range(args.runs))
        proc = subprocess.run(
            [sys.executable, str(REPO / "run.py"), "-m", f"seed={seeds}",
             "dataset.train_size=500", "dataset.test_size=100", "trainer.epochs=1",
             "trainer.eval_sample=100", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}",
             "compare.enabled=false", "hydra.job_logging.handlers.console.level=WARNING"],
            capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        runs = sorted((json.loads(p.read_text()) for p in sweep.glob("*/summary.json")),
                      key=lambda s: s["finished_at"])
    print(f"{len(runs)} runs, {len({r['pid'] for r in runs})} workers")
    early, late = runs[7], runs[-1]
    by_worker: dict[int, list[dict]] = {}
    for order, run in enumerate(runs, start=1):
        by_worker.setdefault(run["pid"], []).append({**run, "order": order})
    worst = 0.0
    for pid, own in by_worker.items():
        first = next((r for r in own if r["order"] >= 8), own[0])
        growth = own[-1]["memory_mib"] - first["memory_mib"]
        worst = max(worst, growth)
        print(f"worker {pid}: {len(own)} runs; resident {first['memory_mib']:.1f} MiB after sweep "
              f"run {first['order']}, {own[-1]['memory_mib']:.1f} MiB after run "
              f"{own[-1]['order']}: growth {growth:+.1f} MiB")
    print(f"sweep run 8: {early['memory_mib']:.1f} MiB, run {len(runs)}: {late['memory_mib']:.1f}"
          f" MiB; largest growth of a worker {worst:+.1f} MiB (target < 20): "
          f"{'met' if worst < 20 else 'MISSED'}")


if __name__ == "__main__":
    main()
