"""MNIST: where its four IDX files live, how to fetch them, and how to decode them (verified);
the datasets `mnist` (full, 60,000/10,000) and `mnist_mini` (embedded, 5,000/1,000)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TextIO

import numpy as np

from cnnsweep.data.cache import default_cache_dir
from cnnsweep.data.datasets import SPLITS, DatasetSource
from cnnsweep.data.download import DownloadError, RemoteFile, download, verify
from cnnsweep.data.idx import IdxError, parse_idx, read_idx_bytes

# Checksums of the decompressed files, as published (see also ../shared/data/mnist/README.md).
MNIST_FILES = {
    "x_train": RemoteFile("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb",
                          "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "t_train": RemoteFile("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624",
                          "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "x_test": RemoteFile("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea",
                         "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t_test": RemoteFile("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637",
                         "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}

# Tried in order; the original site has been intermittently unavailable for years.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
    "http://yann.lecun.com/exdb/mnist",
)


MNIST_SHAPE = (1, 28, 28)  # one grey channel of 28×28 pixels
MNIST_CLASSES = 10
MINI_PATH = Path(__file__).with_name("mnist_mini.npz")


class MissingDataError(FileNotFoundError):
    """Data files that are not there; the message says which and how to place them."""


def default_mnist_dir() -> Path:
    """`$MNIST_DIR`, else the per-user cache folder `<cache>/mnist`."""
    env = os.environ.get("MNIST_DIR")
    return Path(env).expanduser() if env else default_cache_dir() / "mnist"


def find_file(data_dir: Path, name: str) -> Path | None:
    for candidate in (data_dir / f"{name}.gz", data_dir / name):
        if candidate.is_file():
            return candidate
    return None


def _first_missing_folder(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (what a download would create)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _remove_empty_folders(path: Path, up_to: Path) -> None:
    """Remove `path` and its parents up to `up_to` (included) while they are empty."""
    for folder in (path, *path.parents):
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone
            return
        if folder == up_to:
            return


def locate_mnist(data_dir: Path, *, fetch: bool = False, mirrors: tuple[str, ...] = MNIST_MIRRORS,
                 files: dict[str, RemoteFile] = MNIST_FILES,
                 progress: TextIO | None = sys.stderr) -> dict[str, Path]:
    """Paths of the four files in `data_dir`, downloading the missing ones when `fetch` is set.

    A failed download leaves no folder it created behind (a mistyped path stays absent), keeps
    the files it did verify, and says first that the files were not found where looked."""
    data_dir = Path(data_dir).expanduser()
    where = "dataset.data_dir (or MNIST_DIR)"
    if data_dir.exists() and not data_dir.is_dir():
        raise MissingDataError(f"{data_dir} is a file, not a folder: point {where} at the "
                               "folder that holds the four MNIST IDX files")
    found = {key: find_file(data_dir, remote.name) for key, remote in files.items()}
    missing = [key for key, path in found.items() if path is None]
    names = ", ".join(f"{files[k].name}(.gz)" for k in missing)
    not_found = (f"no MNIST files in {data_dir}" if len(missing) == len(files)
                 else f"MNIST files missing in {data_dir}")
    place = (f"put {names} there (gzipped or not), or point {where} at a folder that has "
             "them")
    if missing and fetch:
        if progress is not None:
            print(f"{not_found[0].upper()}{not_found[1:]}: downloading them", file=progress)
        created = _first_missing_folder(data_dir)
        try:
            for key in missing:
                found[key] = download(files[key], data_dir, mirrors, progress=progress)
        except DownloadError as exc:
            if created is not None:
                _remove_empty_folders(data_dir, created)
            raise MissingDataError(
                f"{not_found}, and downloading them failed. Check the path for a typo, {place}; "
                f"dataset.download=false stops trying to download. The attempts: {exc}") from None
        missing = []
    if missing:
        raise MissingDataError(f"{not_found}. {place[0].upper()}{place[1:]}, or allow "
                               "dataset.download=true to fetch them (needs network)")
    return found  # type: ignore[return-value]


def decode_verified(paths: dict[str, Path],
                    files: dict[str, RemoteFile] = MNIST_FILES) -> dict[str, np.ndarray]:
    """Decode the four files, checking each against its published checksum first."""
    arrays = {}
    fix = ("delete it (with dataset.download=true the next run fetches and verifies it again) "
           "or replace it with an intact copy")
    for key, path in paths.items():
        try:
            data = read_idx_bytes(path)
        except IdxError as exc:
            raise IdxError(f"{exc}; {fix}") from None
        try:
            verify(data, files[key])
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}; the file is corrupt or not MNIST: {fix}") from None
        arrays[key] = parse_idx(data, str(path))
    return arrays


@dataclass(frozen=True)
class MNIST(DatasetSource):
    """Full MNIST from its four IDX files: looked up in `data_dir`, else `$MNIST_DIR`, else the
    user cache; missing files are downloaded from public mirrors and verified when allowed."""

    name: ClassVar[str] = "mnist"
    data_dir: str | None = None  # folder of the four IDX files (default: $MNIST_DIR)
    download: bool = True  # fetch missing files from the public mirrors

    def describe(self) -> tuple[tuple[int, ...], int]:
        return MNIST_SHAPE, MNIST_CLASSES

    def files(self, progress: TextIO | None) -> list[Path]:
        folder = Path(self.data_dir) if self.data_dir else default_mnist_dir()
        paths = locate_mnist(folder, fetch=self.download, progress=progress)
        return [paths[key] for key in SPLITS]

    def decode(self, files: list[Path]) -> dict[str, np.ndarray]:
        return decode_verified(dict(zip(SPLITS, files, strict=True)))


@dataclass(frozen=True)
class MNISTMini(DatasetSource):
    """The first 500 training and 100 test images of each digit of real MNIST, shipped inside
    the package (offline; provenance and licence in MNIST_MINI.md)."""

    name: ClassVar[str] = "mnist_mini"

    def describe(self) -> tuple[tuple[int, ...], int]:
        return MNIST_SHAPE, MNIST_CLASSES

    def files(self, progress: TextIO | None) -> list[Path]:
        return [MINI_PATH]

    def decode(self, files: list[Path]) -> dict[str, np.ndarray]:
        with np.load(files[0], allow_pickle=False) as z:
            return {k: z[k] for k in SPLITS}
