import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnnsweep.data import IdxError, MissingDataError, load_dataset, write_idx
from cnnsweep.data.cache import MARKER
from cnnsweep.data.mnist import MINI_PATH


def test_embedded_mini_is_stratified_real_mnist():
    d = load_dataset("mnist_mini")
    assert d.x_train.shape == (5000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert d.x_train.dtype == np.float32
    assert np.bincount(d.t_train).tolist() == [500] * 10
    assert np.bincount(d.t_test).tolist() == [100] * 10
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert d.x_train.mean() == pytest.approx(0.13, abs=0.01)


@pytest.mark.mnist
def test_full_mnist_statistics(mnist_dir):
    d = load_dataset("mnist", data_dir=mnist_dir, download=False)
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(d.t_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                               5851, 5949]
    assert float(d.x_train.mean(dtype=np.float64)) == pytest.approx(0.1307, abs=5e-5)
    assert float(d.x_train.std(dtype=np.float64)) == pytest.approx(0.3081, abs=5e-5)


@pytest.mark.mnist
def test_mini_matches_the_full_files_it_came_from(mnist_dir):
    full = load_dataset("mnist", data_dir=mnist_dir, download=False)
    with np.load(MINI_PATH) as z:
        index = z["train_index"]
    mini = load_dataset("mnist_mini")
    np.testing.assert_array_equal(mini.x_train[:50], full.x_train[index[:50]])


def test_book_options_flatten_one_hot_raw_pixels_and_float64():
    d = load_dataset("mnist_mini", flatten=True, one_hot=True, normalize=False, dtype="float64")
    assert d.x_train.shape == (5000, 784) and d.x_train.dtype == np.float64
    assert d.x_train.max() == 255.0
    assert d.t_train.shape == (5000, 10)
    np.testing.assert_array_equal(d.t_train.sum(1), 1)


def test_subsets_and_seeded_validation_split():
    a = load_dataset("mnist_mini", train_size=500, test_size=100, validation_fraction=0.2,
                     split_seed=3)
    b = load_dataset("mnist_mini", train_size=500, validation_fraction=0.2, split_seed=3)
    assert len(a.x_train) == 400 and len(a.x_val) == 100 and len(a.x_test) == 100
    np.testing.assert_array_equal(a.x_val, b.x_val)
    full = load_dataset("mnist_mini", train_size=500)
    together = np.concatenate([a.x_train, a.x_val]).reshape(500, -1)
    assert sorted(map(bytes, together)) == sorted(map(bytes, full.x_train.reshape(500, -1)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"train_size": 0}, r"train_size=0 must be between 1 and 5000"),
    ({"test_size": 5000}, r"test_size=5000 must be between 1 and 1000"),
    ({"dtype": "int32"}, r"dtype='int32' is not one of float32, float64"),
    ({"validation_fraction": 1.5}, r"validation_fraction=1.5 must be in \[0, 1\)"),
])
def test_bad_options_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset("mnist_mini", **kwargs)


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; choose one of idx, mnist"):
        load_dataset("cifar")


def test_missing_mnist_says_what_to_do_without_downloading(tmp_path):
    with pytest.raises(MissingDataError, match=r"train-images-idx3-ubyte\(.gz\).*MNIST_DIR"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def make_idx_pair(folder, n_train=30, n_test=10, size=6):
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", n_train), ("test", n_test)):
        files[f"{split}_images"] = folder / f"{split}-images.gz"
        files[f"{split}_labels"] = folder / f"{split}-labels"
        write_idx(files[f"{split}_images"], rng.integers(0, 256, (n, size, size), dtype=np.uint8))
        write_idx(files[f"{split}_labels"], rng.integers(0, 3, n, dtype=np.uint8))
    return files


def test_any_idx_pair_drops_in(tmp_path):
    files = make_idx_pair(tmp_path)
    d = load_dataset("idx", **files)
    assert d.x_train.shape == (30, 1, 6, 6) and d.x_test.shape == (10, 1, 6, 6)
    assert d.n_classes == 3
    with pytest.raises(ValueError, match="dataset idx needs four files"):
        load_dataset("idx", train_images=files["train_images"])


def test_mismatched_image_and_label_counts(tmp_path):
    files = make_idx_pair(tmp_path)
    write_idx(files["train_labels"], np.zeros(29, np.uint8))
    with pytest.raises(ValueError, match="idx: 30 train images but 29 labels"):
        load_dataset("idx", **files)


def test_cache_is_memory_mapped_and_rebuilt_when_the_source_changes(tmp_path):
    files = make_idx_pair(tmp_path)
    first = load_dataset("idx", **files, cache_dir=tmp_path / "cache")
    assert isinstance(first.x_train, np.memmap)
    assert len(list((tmp_path / "cache").glob(f"*/{MARKER}"))) == 1
    make_idx_pair(tmp_path, n_train=40)
    assert len(load_dataset("idx", **files, cache_dir=tmp_path / "cache").x_train) == 40


def test_two_processes_loading_at_once_both_succeed(tmp_path):
    files = make_idx_pair(tmp_path, n_train=2000, size=28)
    script = textwrap.dedent(f"""
        import numpy as np
        from pathlib import Path
        from cnnsweep.data import load_dataset
        files = {{k: Path(v) for k, v in {({k: str(v) for k, v in files.items()})!r}.items()}}
        d = load_dataset("idx", **files, cache_dir=Path({str(tmp_path / "cache")!r}))
        print(float(np.asarray(d.x_train, np.float64).sum()), len(d.x_train))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outputs)) == 1 and outputs[0].split()[1] == "2000"
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    again = load_dataset("idx", **files, cache_dir=tmp_path / "cache")
    assert float(np.asarray(again.x_train, np.float64).sum()) == float(outputs[0].split()[0])


def test_corrupt_mnist_file_says_what_is_wrong_and_how_to_fix_it(mnist_dir, tmp_path):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz"):
        (tmp_path / name).symlink_to(mnist_dir / name)
    blob = (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(blob[:-30])
    with pytest.raises(IdxError, match=r"t10k-labels-idx1-ubyte\.gz: corrupt gzip.*delete it"):
        load_dataset("mnist", data_dir=tmp_path, download=False)
