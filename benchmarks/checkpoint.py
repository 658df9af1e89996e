"""What checkpoints cost and what they save, on full MNIST.

    MNIST_DIR=../shared/data/mnist python benchmarks/checkpoint.py [--saves 15] [--steps 40]

1. Cost: the median seconds of one `checkpoint.save` (network, Adam's moments, generator,
   sampler, a full epoch's history; atomic and fsynced, into `outputs/`, the disk runs write
   to) beside the median training step of the same network, for the book's SimpleConvNet and
   DeepConvNet, one thread. An epoch is 600 steps of 100 images (evaluation left out, which
   makes the ratio larger than a real epoch's); one checkpoint is written per epoch.
2. What a kill costs: a SimpleConvNet run (`--kill-train-size` images, 5 epochs, through
   `run.py`) killed with SIGKILL at 80% of its training time, then run again: the training it
   has to redo, without checkpoints (`trainer.checkpoint=false`: from scratch) and with them
   (from the last checkpoint, at most one epoch or `trainer.checkpoint_seconds` back).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from cnnsweep import checkpoint  # noqa: E402
from cnnsweep.data import load_dataset  # noqa: E402
from cnnsweep.nn import (  # noqa: E402
    DeepConvNetSpec,
    SimpleConvNetSpec,
    build_network,
    make_optimizer,
)
from cnnsweep.nn.allocator import keep_freed_memory  # noqa: E402
from cnnsweep.train import (  # noqa: E402
    BatchSampler,
    EpochRecord,
    StepRecord,
    TrainSettings,
    TrainState,
)

STEPS_PER_EPOCH = 600


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name")), "unknown")


def cost(name: str, spec, data, steps: int, saves: int, folder: Path) -> dict:
    rng = np.random.default_rng(0)
    net = build_network(spec, (1, 28, 28), init="he", rng=rng)
    optimizer = make_optimizer("adam", lr=0.001)
    settings = TrainSettings(batch_size=100)
    sampler = BatchSampler(len(data.x_train), settings, rng)
    step_seconds = []
    for _ in range(steps):
        idx = sampler.next()
        start = time.perf_counter()
        _, grads = net.loss_and_gradient(data.x_train[idx], data.t_train[idx])
        optimizer.update(net.params, grads)
        step_seconds.append(time.perf_counter() - start)
    # A state as at the end of the first epoch: 600 logged losses, two evaluations.
    state = TrainState(STEPS_PER_EPOCH, rng.bit_generator.state, sampler.order, sampler.drawn,
                       [StepRecord(i, 1, 0.5) for i in range(1, STEPS_PER_EPOCH + 1)],
                       [EpochRecord(e, e * STEPS_PER_EPOCH, 0.9, 0.9, 1.0) for e in (0, 1)],
                       10.0, 9.0, 60000)
    owner = checkpoint.Owner("benchmark", "benchmark", "float32", name)
    path = folder / f"{name}.npz"
    save_seconds = []
    for _ in range(saves):
        start = time.perf_counter()
        checkpoint.save(path, net, optimizer, state, owner)
        save_seconds.append(time.perf_counter() - start)
    step = statistics.median(step_seconds[2:])  # the first steps warm the allocator up
    save = statistics.median(save_seconds)
    return {"network": name, "step_ms": step * 1e3, "epoch_s": step * STEPS_PER_EPOCH,
            "save_ms": save * 1e3, "mib": path.stat().st_size / 2**20,
            "ratio": save / (step * STEPS_PER_EPOCH)}


def run_py(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "run.py"), *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def kill_at(fraction: float, train_size: int, checkpoints: bool, folder: Path) -> dict:
    """A run killed at `fraction` of its training, then run again: the share of its training
    iterations the second attempt redoes."""
    args = ["dataset=mnist", f"dataset.train_size={train_size}", "trainer.epochs=5",
            f"trainer.checkpoint={str(checkpoints).lower()}"]
    reference = folder / "reference"
    if not (reference / "summary.json").is_file():  # the uninterrupted run's training time
        proc = run_py([*args, f"hydra.run.dir={reference}"], folder)
        if proc.wait() != 0:
            raise RuntimeError(proc.stderr.read())
    summary = json.loads((reference / "summary.json").read_text())
    train_seconds, total = summary["train_seconds"], summary["iterations"]
    run = folder / f"killed-{checkpoints}-{fraction}"
    proc = run_py([*args, f"hydra.run.dir={run}"], folder)
    epochs = run / "epochs.csv"
    while not (epochs.is_file() and epochs.read_text().count("\n") >= 2):  # epoch 0 evaluated
        time.sleep(0.01)
    time.sleep(fraction * train_seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if checkpoints and not (run / "checkpoint.npz").is_file():
        print(f"  (no checkpoint in {run} when it was killed)", flush=True)
    again = run_py([*args, f"hydra.run.dir={run}"], folder)
    if again.wait() != 0:
        raise RuntimeError(again.stderr.read())
    summary = json.loads((run / "summary.json").read_text())
    start = (summary.get("continued_from") or [{"iteration": 0}])[-1]["iteration"]
    # The killed attempt trained `fraction * train_seconds`; what it did after the checkpoint
    # the rerun continues from (its time in epochs.csv, written from the checkpoint) is lost.
    saved_at = 0.0
    for line in (run / "epochs.csv").read_text().splitlines()[1:]:
        row = line.split(",")
        if int(row[1]) == start and start > 0:
            saved_at = float(row[5])
    killed_after = fraction * train_seconds
    lost = killed_after - saved_at
    return {"checkpoints": checkpoints, "run_seconds": train_seconds, "resumed_at": start,
            "iterations": total, "killed_after": killed_after, "lost_seconds": lost,
            "lost_fraction": lost / train_seconds,
            "epoch_seconds": train_seconds / int(summary["epochs"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per net")
    parser.add_argument("--saves", type=int, default=15, help="timed checkpoint saves per net")
    parser.add_argument("--kill-train-size", type=int, default=12000)
    parser.add_argument("--kill-at", type=float, nargs="+", default=[0.7, 0.8, 0.9],
                        help="fractions of the run's training time at which it is killed")
    parser.add_argument("--skip-kill", action="store_true")
    args = parser.parse_args()
    keep_freed_memory()
    threadpool_limits(limits=1)  # as a run of trainer.threads=1
    data = load_dataset("mnist", progress=None)
    (REPO / "outputs").mkdir(exist_ok=True)
    print(f"CPU: {cpu_model()}; one thread; numpy {np.__version__}")
    with tempfile.TemporaryDirectory(dir=REPO / "outputs") as tmp:
        print(f"{'network':<14} {'step ms':>8} {'epoch s':>8} {'save ms':>8} {'MiB':>6} "
              f"{'save/epoch':>10}")
        for name, spec, steps in (("SimpleConvNet", SimpleConvNetSpec(), args.steps),
                                  ("DeepConvNet", DeepConvNetSpec(), max(args.steps // 4, 6))):
            r = cost(name, spec, data, steps, args.saves, Path(tmp))
            print(f"{r['network']:<14} {r['step_ms']:8.1f} {r['epoch_s']:8.1f} "
                  f"{r['save_ms']:8.1f} {r['mib']:6.2f} {r['ratio']:10.3%}", flush=True)
        if args.skip_kill:
            return
        print(f"\nSimpleConvNet, {args.kill_train_size:,} images x 5 epochs, SIGKILL at a "
              "fraction of its training time, then run again:")
        for fraction in args.kill_at:
            for checkpoints in (False, True):
                r = kill_at(fraction, args.kill_train_size, checkpoints, Path(tmp))
                what = "checkpoints   " if checkpoints else "no checkpoints"
                print(f"killed at {fraction:.0%} ({r['killed_after']:.1f} s), {what}: "
                      f"continued at iteration {r['resumed_at']:>4}/{r['iterations']}, lost "
                      f"{r['lost_seconds']:4.1f} s = {r['lost_fraction']:6.1%} of the run's "
                      f"{r['run_seconds']:.1f} s (an epoch: {r['epoch_seconds']:.1f} s)",
                      flush=True)


if __name__ == "__main__":
    os.environ.setdefault("MNIST_DIR", str(REPO.parent / "shared" / "data" / "mnist"))
    main()
