"""Start-up cost of each Hydra launcher and its overhead per run, beside joblib: tiny sweeps of
4 and 8 runs (the runs themselves take a fraction of a second); the difference of the two walls
gives the cost per run, the rest is start-up.

    pip install -e '.[ray,slurm]'
    python benchmarks/launchers.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN_PY = Path(__file__).resolve().parents[1] / "run.py"
TINY = ["optimizer=sgd,momentum,adagrad,adam", "dataset.train_size=300", "dataset.test_size=100",
        "trainer.epochs=1", "trainer.eval_sample=100", "conv.filter_num=4", "hidden_size=16",
        "compare.enabled=false"]
LAUNCHERS = {
    "joblib (local)": (None, []),
    "ray (local instance)": ("hydra_plugins.hydra_ray_launcher",
                             ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"]),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", ["hydra/launcher=submitit_local"]),
}


def measure(folder: Path, overrides: list[str], seeds: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(RUN_PY), "-m", *TINY, f"seed={seeds}", *overrides,
                    f"hydra.sweep.dir={folder}"], check=True, capture_output=True)
    wall = time.perf_counter() - start
    runs = [json.loads(p.read_text()) for p in folder.glob("*/summary.json")]
    assert len(runs) == 4 * len(seeds.split(",")) and all(r["status"] == "ok" for r in runs)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (module, overrides) in LAUNCHERS.items():
            if module and importlib.util.find_spec(module) is None:
                print(f"{name}: not installed (pip install -e '.[ray,slurm]')")
                continue
            walls = {n: statistics.median(
                measure(Path(tmp) / f"{name[:4]}{n}-{i}", overrides, "1" if n == 4 else "1,2")
                for i in range(args.repeats)) for n in (4, 8)}
            per_run = (walls[8] - walls[4]) / 4
            rows[name] = (walls[4], walls[8], per_run, walls[4] - 4 * per_run)
    print(f"tiny sweeps, median wall of {args.repeats} (each run trains for ~0.2 s); "
          "start-up includes Python and Hydra")
    print(f"  {'launcher':<22} {'4 runs':>7} {'8 runs':>7} {'per run':>8} {'start-up':>9}")
    for name, (w4, w8, per_run, startup) in rows.items():
        print(f"  {name:<22} {w4:6.1f}s {w8:6.1f}s {per_run:7.2f}s {startup:8.1f}s")


if __name__ == "__main__":
    main()
