"""The dataset `idx`: any four IDX files of images and labels (Fashion-MNIST, KMNIST, …)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar, TextIO

import numpy as np

from cnnsweep.data.datasets import SPLITS, DatasetSource
from cnnsweep.data.idx import read_idx, read_idx_shape


@dataclass(frozen=True)
class IdxFiles(DatasetSource):
    name: ClassVar[str] = "idx"
    train_images: str | None = None  # path of the training images, (N, H, W) or (N, C, H, W)
    train_labels: str | None = None  # path of the training labels, (N,)
    test_images: str | None = None
    test_labels: str | None = None

    def paths(self) -> list[Path]:
        """The four files, in `SPLITS` order, checked to be given and to exist."""
        keys = [f.name for f in fields(self)]
        if any(not getattr(self, k) for k in keys):
            raise ValueError(f"dataset idx needs four files: {', '.join(keys)} "
                             "(e.g. dataset.train_images=/path/train-images-idx3-ubyte.gz)")
        paths = [Path(getattr(self, k)).expanduser() for k in keys]
        for key, path in zip(keys, paths, strict=True):
            if not path.is_file():
                raise FileNotFoundError(f"dataset idx: {key} file {path} does not exist")
        return paths

    def describe(self) -> tuple[tuple[int, ...], int]:
        # The image header gives the shape; the labels are small enough to read whole.
        train_images, train_labels, _, test_labels = self.paths()
        shape = read_idx_shape(train_images)[1:]
        input_shape = (1, *shape) if len(shape) == 2 else tuple(shape)
        n_classes = int(max(read_idx(train_labels).max(), read_idx(test_labels).max())) + 1
        return input_shape, n_classes

    def files(self, progress: TextIO | None) -> list[Path]:
        return self.paths()

    def decode(self, files: list[Path]) -> dict[str, np.ndarray]:
        return {key: read_idx(path) for key, path in zip(SPLITS, files, strict=True)}
