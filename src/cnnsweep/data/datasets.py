"""Datasets by name, each a source that describes itself, plus the preparation all share.

A source is a frozen dataclass whose fields are its own options (`data_dir`, `download`, …). It
says what its samples look like and how many classes it has before anything is decoded
(`describe`), names the files it reads (`files`, downloading them if it must) and decodes them to
uint8 arrays (`decode`). A subclass with a `name` anywhere in this package registers itself:
a new dataset is one module here plus one YAML file in conf/dataset/ (docs/extending.md).

Every dataset then goes through the decode-once cache in the form a run asks for (normalised,
float dtype), so a warm load is a memory map and parallel workers share one copy of the pixels.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, TextIO

import numpy as np

from cnnsweep.data.cache import cached_arrays
from cnnsweep.nn.checks import require_choice, require_fraction
from cnnsweep.nn.registry import Registered

DATASETS: dict[str, type[DatasetSource]] = {}
SPLITS = ("x_train", "t_train", "x_test", "t_test")
FLOAT_DTYPES = ("float32", "float64")


class DatasetSource(Registered):
    """Base class of the dataset sources (frozen dataclasses); see the module docstring."""

    registry: ClassVar[dict[str, type[DatasetSource]]] = DATASETS

    def describe(self) -> tuple[tuple[int, ...], int]:
        """`(input_shape, n_classes)`: the per-sample shape `(C, H, W)` and the class count,
        known without decoding the images (a network is planned from them)."""
        raise NotImplementedError

    def files(self, progress: TextIO | None) -> list[Path]:
        """The files the data comes from, fetched first if the source can; they key the cache."""
        raise NotImplementedError

    def decode(self, files: list[Path]) -> dict[str, np.ndarray]:
        """The raw arrays `SPLITS`: images `(N, H, W)` or `(N, C, H, W)`, labels `(N,)`."""
        raise NotImplementedError


@dataclass(frozen=True)
class LoadOptions:
    """What every dataset offers: which of its images a run uses and how they are scaled."""

    normalize: bool = True  # pixels / 255
    train_size: int | None = None  # keep only the first N training images
    test_size: int | None = None  # keep only the first N test images
    validation_fraction: float = 0.0  # hold out this share of the training images
    split_seed: int = 0  # seed of the hold-out permutation

    def __post_init__(self) -> None:
        # The sizes are checked when loading, against the number of images there are.
        require_fraction("validation_fraction", self.validation_fraction)


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


def registered_datasets() -> dict[str, type[DatasetSource]]:
    """Every dataset source, after importing each module of this package once (a source
    registers itself when its module is imported)."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{module.name}")
    return DATASETS


def dataset_source(name: str) -> type[DatasetSource]:
    if name not in DATASETS:
        registered_datasets()
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def source_options(source: type[DatasetSource]) -> list[str]:
    return [f.name for f in fields(source)]  # type: ignore[arg-type]


def float_dtype(dtype: str | np.dtype) -> np.dtype:
    """The compute dtype of a run's data and network: float32 or float64."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    require_choice("dtype", name, FLOAT_DTYPES)
    return np.dtype(name)


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


def load(source: DatasetSource, options: LoadOptions = LoadOptions(), *,
         dtype: str | np.dtype = "float32", flatten: bool = False, one_hot: bool = False,
         cache_dir: Path | None = None, progress: TextIO | None = sys.stderr) -> Dataset:
    """Load `source` through the cache, then take the subsets and the validation split.

    `train_size`/`test_size` keep the first images (the book's over-fitting figures use the
    first 300); `validation_fraction` then holds out that share of the training images, chosen
    by a permutation seeded with `split_seed`.
    """
    dtype = float_dtype(dtype)
    files = source.files(progress)
    variant = f"normalize={options.normalize},dtype={dtype.name}"
    arrays = cached_arrays(source.name, files, variant,
                           lambda: _prepare(source.decode(files), options.normalize, dtype,
                                            source.name), cache_dir)
    x_train, t_train = arrays["x_train"], arrays["t_train"]
    x_test, t_test = arrays["x_test"], arrays["t_test"]
    for label, size, available in (("train_size", options.train_size, len(x_train)),
                                   ("test_size", options.test_size, len(x_test))):
        if size is not None and not 0 < size <= available:
            raise ValueError(f"{label}={size} must be between 1 and {available} ({source.name} "
                             f"has {available} images)")
    if options.train_size is not None:
        x_train, t_train = x_train[:options.train_size], t_train[:options.train_size]
    if options.test_size is not None:
        x_test, t_test = x_test[:options.test_size], t_test[:options.test_size]
    n_classes = int(max(t_train.max(), t_test.max())) + 1
    x_val = t_val = None
    if options.validation_fraction > 0:
        n_val = int(len(x_train) * options.validation_fraction)
        if n_val == 0:
            raise ValueError(f"validation_fraction={options.validation_fraction} of "
                             f"{len(x_train)} training images holds out none; raise it or "
                             "train_size")
        order = np.random.default_rng(options.split_seed).permutation(len(x_train))
        x_val, t_val = x_train[order[:n_val]], t_train[order[:n_val]]
        x_train, t_train = x_train[order[n_val:]], t_train[order[n_val:]]
    if flatten:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
        x_val = None if x_val is None else x_val.reshape(len(x_val), -1)
    if one_hot:
        eye = np.eye(n_classes, dtype=dtype)
        t_train, t_test = eye[t_train], eye[t_test]
        t_val = None if t_val is None else eye[t_val]
    return Dataset(source.name, x_train, t_train, x_test, t_test, x_val, t_val, n_classes)


def load_dataset(name: str = "mnist_mini", *, dtype: str | np.dtype = "float32",
                 flatten: bool = False, one_hot: bool = False, cache_dir: Path | None = None,
                 progress: TextIO | None = sys.stderr, **options: Any) -> Dataset:
    """Load a dataset by name, as the book's `load_mnist` does, plus subsets and a split:
    `load_dataset("mnist", data_dir=..., train_size=300)`. `options` are the source's own
    (see its class) and those of `LoadOptions`."""
    source_cls = dataset_source(name)
    own = source_options(source_cls)
    common = [f.name for f in fields(LoadOptions)]
    unknown = sorted(set(options) - set(own) - set(common))
    if unknown:
        raise TypeError(f"dataset {name} has no option {', '.join(unknown)}; its options are "
                        f"{', '.join(own + common)}")
    source = source_cls(**{k: v for k, v in options.items() if k in own})
    load_options = LoadOptions(**{k: v for k, v in options.items() if k in common})
    return load(source, load_options, dtype=dtype, flatten=flatten, one_hot=one_hot,
                cache_dir=cache_dir, progress=progress)
