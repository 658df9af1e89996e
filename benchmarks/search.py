"""What successive halving saves, on full MNIST: the built-in `halving_search` sweep against the
full grid of the same space at the maximum budget (same seeds), and against Optuna's TPE at the
same compute, each through `run.py -m` into its own folder.

    MNIST_DIR=../shared/data/mnist python benchmarks/search.py [--train-size 10000] [--seeds 3]

1. halving: `+sweep=halving_search` (27 configurations, 1 → 3 → 9 epochs, eta 3).
2. grid: the same sweep with min_budget = max_budget: every configuration to 9 epochs.
3. TPE: the same space sampled by TPE (seeded) at the maximum budget, as many configurations as
   halving's epochs pay for, asked two at a time so that TPE learns from what finished.

Printed: epochs trained (a continued run counts only the epochs it added), training seconds
summed over runs (`train_seconds`: the epochs, with their evaluations, without each run's
fixed start-up and final test), the search's wall time, their ratios to the grid, and where
each search's chosen configuration (best mean validation accuracy at the full budget) falls
against the grid's best (chosen the same way): its mean test accuracy over the seeds against
the grid best's 95% t-interval. `--train-size` keeps the first N training images (of which
`--validation-fraction`, 10%, validate), `--test-size` the first N test images: the defaults
(10,000 and all 10,000, 1,000 validating) take about 15 minutes on 2 cores, the grid half of
it; 60000 trains on all of MNIST (about five times as long).
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
sys.path.insert(0, str(REPO / "src"))

from scipy import stats  # noqa: E402

from cnnsweep import halving, runfolder  # noqa: E402
from cnnsweep.experiment import cpu_model  # noqa: E402
from cnnsweep.search_report import added  # noqa: E402

SPACE_KEYS = ("optimizer.lr", "conv.filter_num", "conv.filter_size")


def sweep(folder: Path, args: argparse.Namespace, *extra: str) -> float:
    """Run one search into `folder`; its wall seconds (with --reuse, those of an earlier
    benchmark's complete run of it, kept in benchmark.json)."""
    done = folder / "benchmark.json"
    if args.reuse and done.is_file():
        return float(json.loads(done.read_text())["seconds"])
    seeds = ",".join(str(s) for s in range(args.seeds))
    command = [sys.executable, str(REPO / "run.py"), "-m", "+sweep=halving_search",
               f"seed={seeds}", f"dataset.train_size={args.train_size}",
               f"dataset.test_size={args.test_size}", f"trainer.eval_sample={args.eval_sample}",
               f"hydra.sweep.dir={folder}",
               f"hydra.launcher.n_jobs={args.jobs}", "compare.enabled=false",
               f"hydra.sweeper.max_budget={args.max_budget}",
               f"dataset.validation_fraction={args.validation_fraction}",
               "hydra.job_logging.handlers.console.level=WARNING", *extra]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    done.write_text(json.dumps({"seconds": seconds, "command": command}) + "\n")
    return seconds


def runs_of(folder: Path) -> list[runfolder.Summary]:
    return [s for d in runfolder.started_runs(folder)
            if (s := runfolder.read_summary(d)) is not None]


def by_configuration(runs: list[runfolder.Summary],
                     budget: int) -> dict[tuple, list[runfolder.Summary]]:
    found: dict[tuple, list[runfolder.Summary]] = {}
    for s in runs:
        if s.status != runfolder.Status.OK or s.config["trainer"]["epochs"] != budget:
            continue
        flat = s.config
        key = (flat["optimizer"]["lr"], flat["conv"]["filter_num"], flat["conv"]["filter_size"])
        found.setdefault(key, []).append(s)
    return found


def chosen(runs: list[runfolder.Summary], budget: int) -> tuple[tuple, list[float]]:
    """The configuration with the best mean validation accuracy at the full budget, and its
    seeds' test accuracies."""
    configs = by_configuration(runs, budget)
    best = max(configs, key=lambda k: (statistics.mean(r.val_acc for r in configs[k]), k))
    return best, [r.test_acc for r in configs[best]]


def interval(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def replay_plain(folder: Path) -> tuple[float, str, list[float]] | None:
    """Plain successive halving (`keep_overlaps=false`) replayed on a noise-rule search's
    record (`halving.replay`): its epochs, chosen configuration and that configuration's test
    accuracies; None where the record cannot answer."""
    record = json.loads((folder / "search.json").read_text())
    settings = record["settings"]
    plain = halving.replay(record["brackets"], settings["eta"],
                           max(1, len(settings["seeds"])), keep_overlaps=False)
    if plain is None:
        return None
    runs = next(rung["runs"][plain.chosen] for bracket in record["brackets"]
                for rung in bracket["rungs"][-1:] if plain.chosen in rung["runs"])
    return plain.cost, plain.chosen, [runfolder.read_summary(folder / n).test_acc for n in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=10000)
    parser.add_argument("--eval-sample", type=int, default=1000,
                        help="images of the per-epoch train/test evaluation (validation: all)")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="of the training images, held out to choose by (the sweep's 0.1)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max-budget", type=int, default=9)
    parser.add_argument("--out", type=Path, default=None, help="keep the sweep folders here")
    parser.add_argument("--reuse", action="store_true",
                        help="take a search already complete in --out (its benchmark.json) "
                             "as it is instead of running it again")
    args = parser.parse_args()
    if not os.environ.get("MNIST_DIR"):
        sys.exit("set MNIST_DIR to the folder of the four MNIST IDX files")
    out = args.out or Path(tempfile.mkdtemp(prefix="cnnsweep-search-"))
    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; {args.jobs} parallel runs; "
          f"train_size {args.train_size} ({args.validation_fraction:.0%} validate), "
          f"test_size {args.test_size}, {args.seeds} seeds; folders in {out}", flush=True)

    results = {}
    seconds = sweep(out / "halving", args)
    results["halving"] = (runs_of(out / "halving"), seconds)
    record = json.loads((out / "halving" / "search.json").read_text())
    grid_size = record["settings"]["grid_size"]
    print(f"halving: {seconds:.0f} s", flush=True)
    seconds = sweep(out / "grid", args, f"hydra.sweeper.min_budget={args.max_budget}")
    results["grid"] = (runs_of(out / "grid"), seconds)
    print(f"grid: {seconds:.0f} s", flush=True)
    halving_epochs = added(out / "halving")[0]
    trials = max(2, round(halving_epochs / (args.max_budget * args.seeds)))
    seconds = sweep(out / "tpe", args, f"hydra.sweeper.min_budget={args.max_budget}",
                    f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.sampler=tpe",
                    "hydra.sweeper.batch_size=2")
    results["tpe"] = (runs_of(out / "tpe"), seconds)

    grid_runs, grid_seconds = results["grid"]
    grid_epochs, _, grid_train = added(out / "grid")
    best, best_test = chosen(grid_runs, args.max_budget)
    mean, low, high = interval(best_test)
    by_test = max(by_configuration(grid_runs, args.max_budget).items(),
                  key=lambda kv: statistics.mean(r.test_acc for r in kv[1]))
    print(f"\ngrid: {grid_size} configurations, {args.seeds} seeds, {args.max_budget} "
          f"epochs; best by validation {dict(zip(SPACE_KEYS, best, strict=True))}: test_acc "
          f"{mean:.4f}, 95% CI [{low:.4f}, {high:.4f}]; best by test "
          f"{dict(zip(SPACE_KEYS, by_test[0], strict=True))}: "
          f"{statistics.mean(r.test_acc for r in by_test[1]):.4f}")
    print(f"{'search':8} {'runs':>5} {'epochs':>7} {'ratio':>6} {'train s':>8} {'ratio':>6} "
          f"{'wall s':>7} {'ratio':>6}  chosen configuration: test_acc (mean over seeds), vs "
          "the grid best's CI")
    for name, (runs, seconds) in results.items():
        # a promoted run counts only the epochs and training seconds it added
        epochs, _, train = added(out / name)
        config, test = chosen(runs, args.max_budget)
        value = statistics.mean(test)
        where = "inside" if low <= value <= high else ("above" if value > high else "below")
        print(f"{name:8} {len(runs):5d} {epochs:7.0f} {epochs / grid_epochs:6.2f} "
              f"{train:8.0f} {train / grid_train:6.2f} "
              f"{seconds:7.0f} {seconds / grid_seconds:6.2f}  "
              f"{dict(zip(SPACE_KEYS, config, strict=True))}: {value:.4f} ({where})")
    plain = replay_plain(out / "halving")
    if plain is not None:
        epochs, config, test = plain
        value = statistics.mean(test)
        where = "inside" if low <= value <= high else ("above" if value > high else "below")
        print(f"plain successive halving (keep_overlaps=false), replayed from the halving "
              f"runs: {epochs:.0f} epochs ({epochs / grid_epochs:.2f} of the grid); chose "
              f"{config}: {value:.4f} ({where})")
    # A finalist continued rung by rung equals the grid's run of the same config from scratch.
    finals = by_configuration(results["halving"][0], args.max_budget)
    grid = by_configuration(grid_runs, args.max_budget)
    same = all(sorted(r.test_acc for r in runs) == sorted(r.test_acc for r in grid[k])
               for k, runs in finals.items())
    print(f"halving's finalists' test_acc equal the grid's from-scratch runs: {same}")


if __name__ == "__main__":
    main()
