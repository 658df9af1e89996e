"""Datasets in pure NumPy: IDX read/write, MNIST locate/download/verify, the decode-once cache."""

from cnnsweep.data.datasets import DATASETS, Dataset, load_dataset
from cnnsweep.data.idx import IdxError, read_idx, write_idx
from cnnsweep.data.mnist import MissingDataError

__all__ = ["DATASETS", "Dataset", "IdxError", "MissingDataError", "load_dataset", "read_idx",
           "write_idx"]
