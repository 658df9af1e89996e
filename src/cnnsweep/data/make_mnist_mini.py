"""Rebuild the embedded `mnist_mini.npz` from the full MNIST files (deterministic, no RNG).

    python -m cnnsweep.data.make_mnist_mini --mnist-dir ../shared/data/mnist

Stratified: the first `per_class` images of each digit, in file order, from each split.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from cnnsweep.data.mnist import MINI_PATH, decode_verified, locate_mnist


def stratified_first(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first `per_class` samples of every class, in their original order."""
    picked = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", type=Path, required=True)
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--out", type=Path, default=MINI_PATH)
    args = parser.parse_args(argv)
    full = decode_verified(locate_mnist(args.mnist_dir))
    train = stratified_first(full["t_train"], args.train_per_class)
    test = stratified_first(full["t_test"], args.test_per_class)
    np.savez_compressed(args.out, x_train=full["x_train"][train], t_train=full["t_train"][train],
                        x_test=full["x_test"][test], t_test=full["t_test"][test],
                        train_index=train.astype(np.int32), test_index=test.astype(np.int32))
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, sha256 {digest[:16]}…): "
          f"{len(train)} train, {len(test)} test images")


if __name__ == "__main__":
    main()
