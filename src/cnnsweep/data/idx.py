"""Read and write the IDX format (MNIST's), gzip-compressed or raw, with every header checked.

Layout: two zero bytes, a type code, the number of dimensions; then each dimension as a
big-endian uint32; then the data, big-endian, C order. A file whose length disagrees with its
header is rejected: a short array is never returned.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

_CODE_TO_DTYPE = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KIND_TO_CODE = {(dt.kind, dt.itemsize): code for code, dt in _CODE_TO_DTYPE.items()}


class IdxError(ValueError):
    """A file that is not a valid IDX file; the message names the file and the problem."""


def read_idx_bytes(path: Path) -> bytes:
    """The decompressed bytes of a gzipped or raw file (gzip told apart by its magic bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                return gzip.decompress(f.read())
            return f.read()
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise IdxError(f"{path}: corrupt gzip stream ({exc})") from exc


def read_idx_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """The array shape an IDX file holds, from its header alone (the data is not decoded)."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in _CODE_TO_DTYPE:
                raise IdxError(f"{path}: bad magic number 0x{head.hex()}; not an IDX file")
            dims = f.read(4 * head[3])
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise IdxError(f"{path}: corrupt gzip stream ({exc})") from exc
    if len(dims) < 4 * head[3]:
        raise IdxError(f"{path}: header promises {head[3]} dimensions but the file ends first")
    return struct.unpack(f">{head[3]}I", dims)


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian array."""
    if len(data) < 4:
        raise IdxError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _CODE_TO_DTYPE:
        raise IdxError(f"{name}: bad magic number 0x{data[:4].hex()}; an IDX file starts with "
                       "00 00, a type code (08, 09, 0B, 0C, 0D, 0E) and the number of dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: header promises {ndim} dimensions but the file ends first")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _CODE_TO_DTYPE[code]
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise IdxError(f"{name}: {what}: the header {tuple(shape)} of {dtype.name} needs "
                       f"{expected} bytes, the file has {len(data)}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (`.gz` or raw, told apart by content, not name)."""
    path = Path(path)
    return parse_idx(read_idx_bytes(path), str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write `array` as IDX; gzip-compressed when `compress` is true or the name ends in .gz."""
    path = Path(path)
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _KIND_TO_CODE:
        raise IdxError(f"{path}: dtype {array.dtype} has no IDX type code; use uint8, int8, "
                       "int16, int32, float32 or float64")
    code = _KIND_TO_CODE[key]
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_CODE_TO_DTYPE[code]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
