"""Atomic file writes: readers see the old file or the whole new one, never a part of it.

Every writer puts its bytes under a unique temporary name in the target's own folder and renames
it into place (`os.replace` is atomic within one filesystem), so concurrent writers race
harmlessly and a crash or a full disk leaves no half-written file behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write `path` by calling `write` on a binary temporary file, then renaming it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())
