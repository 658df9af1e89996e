"""Datasets by name: `mnist` (full), `mnist_mini` (embedded) and `idx` (any IDX file pair).

Every dataset goes through the decode-once cache, in the form the run asks for (normalised,
float dtype), so a warm load is a memory map and workers share one copy of the pixels.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from cnnsweep.data.cache import cached_arrays
from cnnsweep.data.idx import read_idx
from cnnsweep.data.mnist import decode_verified, default_mnist_dir, locate_mnist

DATASETS = ("mnist", "mnist_mini", "idx")
MINI_PATH = Path(__file__).with_name("mnist_mini.npz")


@dataclass
class Dataset:
    """Images `(N, C, H, W)` (or `(N, D)` flattened) and labels `(N,)` (or one-hot `(N, K)`)."""

    name: str
    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    x_val: np.ndarray | None = None
    t_val: np.ndarray | None = None
    n_classes: int = 10

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _as_images(x: np.ndarray, source: str) -> np.ndarray:
    """`(N, H, W)` or `(N, C, H, W)` → `(N, C, H, W)`."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        return x
    raise ValueError(f"{source}: images must have 3 or 4 dimensions, got shape {x.shape}")


def _prepare(raw: dict[str, np.ndarray], normalize: bool, dtype: np.dtype, source: str) \
        -> dict[str, np.ndarray]:
    out = {}
    for split in ("train", "test"):
        x, t = raw[f"x_{split}"], raw[f"t_{split}"]
        if len(x) != len(t):
            raise ValueError(f"{source}: {len(x)} {split} images but {len(t)} labels")
        x = _as_images(x, source).astype(dtype)
        if normalize:
            x /= dtype.type(255.0)
        out[f"x_{split}"], out[f"t_{split}"] = x, t.astype(np.int64)
    return out


def _raw_sources(name: str, data_dir: str | Path | None, download: bool,
                 files: dict[str, str | Path] | None, progress: TextIO | None) \
        -> tuple[list[Path], object]:
    """The source files of a dataset and a function decoding them to uint8 arrays."""
    if name == "mnist":
        paths = locate_mnist(Path(data_dir) if data_dir else default_mnist_dir(), fetch=download,
                             progress=progress)
        return list(paths.values()), lambda: decode_verified(paths)
    if name == "mnist_mini":
        def load_mini() -> dict[str, np.ndarray]:
            with np.load(MINI_PATH, allow_pickle=False) as z:
                return {k: z[k] for k in ("x_train", "t_train", "x_test", "t_test")}
        return [MINI_PATH], load_mini
    if name == "idx":
        needed = ("train_images", "train_labels", "test_images", "test_labels")
        if not files or any(not files.get(k) for k in needed):
            raise ValueError(f"dataset idx needs four files: {', '.join(needed)} "
                             "(e.g. dataset.train_images=/path/train-images-idx3-ubyte.gz)")
        paths = {k: Path(files[k]).expanduser() for k in needed}
        for key, path in paths.items():
            if not path.is_file():
                raise FileNotFoundError(f"dataset idx: {key} file {path} does not exist")
        keys = dict(zip(needed, ("x_train", "t_train", "x_test", "t_test"), strict=True))
        return list(paths.values()), lambda: {keys[k]: read_idx(p) for k, p in paths.items()}
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def load_dataset(name: str = "mnist_mini", *, data_dir: str | Path | None = None,
                 download: bool = True, files: dict[str, str | Path] | None = None,
                 normalize: bool = True, flatten: bool = False, one_hot: bool = False,
                 dtype: str | np.dtype = "float32", train_size: int | None = None,
                 test_size: int | None = None, validation_fraction: float = 0.0,
                 split_seed: int = 0, cache_dir: Path | None = None,
                 progress: TextIO | None = sys.stderr) -> Dataset:
    """Load a dataset by name, as the book's `load_mnist` does, plus subsets and a split.

    `train_size`/`test_size` keep the first images (the book's over-fitting figures use the
    first 300); `validation_fraction` then holds out that share of the training images, chosen
    by a permutation seeded with `split_seed`.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype {dtype} is not a float type; use float32 or float64")
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction={validation_fraction} must be in [0, 1)")
    sources, decode = _raw_sources(name, data_dir, download, files, progress)
    variant = f"normalize={normalize},dtype={dtype.name}"
    arrays = cached_arrays(name, sources, variant,
                           lambda: _prepare(decode(), normalize, dtype, name), cache_dir)
    x_train, t_train = arrays["x_train"], arrays["t_train"]
    x_test, t_test = arrays["x_test"], arrays["t_test"]
    for label, size, available in (("train_size", train_size, len(x_train)),
                                   ("test_size", test_size, len(x_test))):
        if size is not None and not 0 < size <= available:
            raise ValueError(f"{label}={size} must be between 1 and {available} ({name} has "
                             f"{available} images)")
    if train_size is not None:
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    if test_size is not None:
        x_test, t_test = x_test[:test_size], t_test[:test_size]
    n_classes = int(max(t_train.max(), t_test.max())) + 1
    x_val = t_val = None
    if validation_fraction > 0:
        n_val = int(len(x_train) * validation_fraction)
        if n_val == 0:
            raise ValueError(f"validation_fraction={validation_fraction} of {len(x_train)} "
                             "training images holds out none; raise it or train_size")
        order = np.random.default_rng(split_seed).permutation(len(x_train))
        x_val, t_val = x_train[order[:n_val]], t_train[order[:n_val]]
        x_train, t_train = x_train[order[n_val:]], t_train[order[n_val:]]
    if flatten:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
        x_val = None if x_val is None else x_val.reshape(len(x_val), -1)
    if one_hot:
        eye = np.eye(n_classes, dtype=dtype)
        t_train, t_test = eye[t_train], eye[t_test]
        t_val = None if t_val is None else eye[t_val]
    return Dataset(name, x_train, t_train, x_test, t_test, x_val, t_val, n_classes)
