"""Start-up cost of each Hydra launcher and its overhead per run, beside joblib, on one tiny
4-run sweep (the runs themselves take a fraction of a second).

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


def measure(folder: Path, overrides: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(RUN_PY), "-m", *TINY, *overrides,
                    f"hydra.sweep.dir={folder}"], check=True, capture_output=True)
    wall = time.perf_counter() - start
    runs = [json.loads(p.read_text()) for p in folder.glob("*/summary.json")]
    assert len(runs) == 4 and all(r["status"] == "ok" for r in runs)
    return wall, sum(r["wall_seconds"] for r in runs)


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
            walls = [measure(Path(tmp) / f"{name[:4]}{i}", overrides)[0]
                     for i in range(args.repeats)]
            rows[name] = statistics.median(walls)
    base = rows.get("joblib (local)")
    print(f"tiny 4-run sweep, median wall of {args.repeats} (runs themselves ≈ 0.2 s each)")
    for name, wall in rows.items():
        extra = "" if base is None or name.startswith("joblib") else \
            f"  (+{wall - base:.1f} s vs joblib, {(wall - base) / 4:+.2f} s per run)"
        print(f"  {name:<22} {wall:6.1f} s{extra}")


if __name__ == "__main__":
    main()
