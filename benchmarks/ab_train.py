"""Two checkouts' whole training loops (`train.train`) interleaved in one process.

    python benchmarks/ab_train.py OTHER_CHECKOUT/src [--rounds 20] [--images 2000]
        [--no-checkpoints]

ab_step.py times the network's step alone; a run's images/s also pays for what the loop does
around it (batch sampling, loss records, evaluations, and in this checkout the checkpoint state
and its save at the end of each epoch). Each call here trains SimpleConvNet (the book's, std
init, Adam 0.001, batch 100, float32, one BLAS thread) for one epoch of `--images` random images
of MNIST's shape, evaluating on 100 train and 100 test images as the default trainer does; an
engine with checkpoints writes one per epoch into a temporary folder, as a run does (unless
`--no-checkpoints`: the loop alone, as `trainer.checkpoint=false` runs it). The sides
take turns call by call (A B B A …); the verdict is the median of the per-call time ratios.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from ab_step import HERE, import_modules, interleaved
from book_nets import build_book_network, keep_freed_memory_as_a_run

MODULES = ["cnnsweep.nn", "cnnsweep.train", "cnnsweep.checkpoint"]


def training_loop(nn, train, checkpoint, x, t, folder: Path, blas: ThreadpoolController):
    """One call = one epoch of `train.train`, from the same initial weights every time."""
    settings = train.TrainSettings(epochs=1, batch_size=100, eval_sample=100)

    def call() -> None:
        rng = np.random.default_rng(0)
        net = build_book_network(nn, "simple_convnet", rng)
        opt = nn.make_optimizer("adam", lr=0.001)
        extra = {}
        if checkpoint is not None:  # as experiment.RunCheckpointer saves it
            owner = checkpoint.Owner("bench", "bench", "float32", "bench")

            class Saver(train.Checkpointer):
                every_seconds = 300.0

                def save(self, state) -> None:
                    checkpoint.save(folder / "checkpoint.npz", net, opt, state, owner, [])

            extra["checkpointer"] = Saver()
        with blas.limit(limits=1):
            train.train(net, opt, x, t, x[:100], t[:100], settings, rng, **extra)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout's src/ folder")
    parser.add_argument("--rounds", type=int, default=20, help="calls per side")
    parser.add_argument("--images", type=int, default=2000, help="training images per epoch")
    parser.add_argument("--no-checkpoints", action="store_true",
                        help="train without a checkpointer on both sides")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    x = rng.random((args.images, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, args.images)
    blas = ThreadpoolController()
    sides = {"other": import_modules(args.other.resolve(), MODULES),
             "ours": import_modules(HERE, MODULES)}
    if args.no_checkpoints:
        sides = {name: [nn, train, None] for name, (nn, train, _) in sides.items()}
    keep_freed_memory_as_a_run(sides["ours"][0])
    with tempfile.TemporaryDirectory() as tmp:
        calls = {}
        for name, (nn, train, checkpoint) in sides.items():
            (Path(tmp) / name).mkdir()
            calls[name] = training_loop(nn, train, checkpoint, x, t, Path(tmp) / name, blas)
        times = interleaved(calls, args.rounds)
    ratios = [a / b for a, b in zip(times["other"], times["ours"], strict=True)]
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    print(f"ours = {HERE} (checkpoints: {sides['ours'][2] is not None}), other = {args.other} "
          f"(checkpoints: {sides['other'][2] is not None})")
    print(f"one epoch of {args.images} images, SimpleConvNet, 1 thread: ours "
          f"{statistics.median(times['ours']):.3f} s, other "
          f"{statistics.median(times['other']):.3f} s; other/ours median {median:.3f} "
          f"(IQR {q1:.3f}-{q3:.3f}, {args.rounds} pairs)")


if __name__ == "__main__":
    main()
