"""Datasets in pure NumPy: IDX read/write, MNIST locate/download/verify, the decode-once cache."""

from cnnsweep.data.datasets import (
    DATASETS,
    Dataset,
    DatasetSource,
    LoadOptions,
    dataset_source,
    load,
    load_dataset,
)
from cnnsweep.data.idx import IdxError, read_idx, write_idx
from cnnsweep.data.mnist import MissingDataError

__all__ = ["DATASETS", "Dataset", "DatasetSource", "IdxError", "LoadOptions", "MissingDataError",
           "dataset_source", "load", "load_dataset", "read_idx", "write_idx"]
