"""Verified downloads: try each mirror in turn, check the decompressed content against its
published checksums, and only then move the file into place (a failure leaves nothing behind)."""

from __future__ import annotations

import gzip
import hashlib
import sys
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cnnsweep.atomic import atomic_write_bytes


@dataclass(frozen=True)
class RemoteFile:
    name: str  # the decompressed file name; mirrors serve it as `name + ".gz"`
    md5: str  # of the decompressed content
    sha256: str


class DownloadError(OSError):
    """Every mirror failed; the message lists each attempt and how to place the files by hand."""


def verify(data: bytes, remote: RemoteFile) -> None:
    md5 = hashlib.md5(data).hexdigest()
    sha = hashlib.sha256(data).hexdigest()
    if md5 != remote.md5 or sha != remote.sha256:
        raise ValueError(f"checksum mismatch for {remote.name}: md5 {md5} (expected "
                         f"{remote.md5}), sha256 {sha[:16]}… (expected {remote.sha256[:16]}…)")


def _fetch_bytes(url: str, label: str, progress: TextIO | None, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        chunks, received = [], 0
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            received += len(chunk)
            if progress is not None:
                shown = f"{100 * received / total:5.1f}% of {total / 1e6:.1f} MB" if total \
                    else f"{received / 1e6:.1f} MB"
                progress.write(f"\r  {label}: {shown}")
                progress.flush()
        if progress is not None:
            progress.write("\n")
        if total and received != total:
            raise OSError(f"transfer interrupted after {received} of {total} bytes")
        return b"".join(chunks)


def download(remote: RemoteFile, dest_dir: Path, mirrors: Sequence[str], *,
             progress: TextIO | None = sys.stderr, timeout: float = 60.0) -> Path:
    """Fetch `remote` into `dest_dir/<name>.gz` from the first mirror that serves it intact."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{remote.name}.gz"
    failures = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{remote.name}.gz"
        try:
            blob = _fetch_bytes(url, f"{remote.name}.gz from {mirror}", progress, timeout)
            verify(gzip.decompress(blob), remote)
        except (OSError, ValueError, EOFError, zlib.error) as exc:
            failures.append(f"{url}: {exc}")
            continue
        atomic_write_bytes(target, blob)
        return target
    raise DownloadError(f"could not download {remote.name}:\n  " + "\n  ".join(failures))
