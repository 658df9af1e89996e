import gzip

import numpy as np
import pytest

from cnnsweep.data.idx import IdxError, read_idx, write_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 1, 3, 3), (0, 28, 28)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, dtype, shape, suffix):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / f"a-idx{suffix}"
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, array)


def test_header_is_big_endian_mnist_layout(tmp_path):
    write_idx(tmp_path / "x", np.zeros((2, 28, 28), np.uint8))
    data = (tmp_path / "x").read_bytes()
    assert data[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    assert len(data) == 16 + 2 * 28 * 28


def test_truncated_file_names_file_and_sizes(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    write_idx(path, np.zeros((10, 4, 4), np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(IdxError, match=r"short-idx3-ubyte: truncated: the header \(10, 4, 4\) "
                                       r"of uint8 needs 176 bytes, the file has 171"):
        read_idx(path)


def test_trailing_bytes_are_rejected(tmp_path):
    path = tmp_path / "long"
    write_idx(path, np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(IdxError, match="has trailing bytes"):
        read_idx(path)


def test_wrong_magic_is_rejected(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(IdxError, match=r"image.png: bad magic number 0x89504e47"):
        read_idx(path)


def test_corrupt_gzip_is_reported(tmp_path):
    path = tmp_path / "broken.gz"
    blob = gzip.compress(bytes(1000))
    path.write_bytes(blob[:20])
    with pytest.raises(IdxError, match=r"broken\.gz: corrupt gzip stream"):
        read_idx(path)


def test_unsupported_dtype_names_the_choices(tmp_path):
    with pytest.raises(IdxError, match="dtype complex128 has no IDX type code"):
        write_idx(tmp_path / "c", np.zeros(2, complex))
