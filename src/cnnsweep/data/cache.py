"""A decode-once cache: arrays saved as plain `.npy` files that every later load memory-maps.

Parsing MNIST's gzip IDX files takes about a second; mapping the decoded arrays takes a few
milliseconds, and parallel workers then share one copy in the page cache. A cache entry is a
folder named from its sources (path, size, mtime) and variant; it counts only once its
`complete` marker exists. Writers put every file under a unique temporary name and rename it
into place, so concurrent first loads race harmlessly and a reader never sees a partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from cnnsweep.atomic import atomic_write, atomic_write_text

MARKER = "complete.json"


def default_cache_dir() -> Path:
    """`$CNNSWEEP_CACHE`, else `$XDG_CACHE_HOME/cnnsweep`, else `~/.cache/cnnsweep`."""
    if os.environ.get("CNNSWEEP_CACHE"):
        return Path(os.environ["CNNSWEEP_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnnsweep"


def entry_key(sources: Sequence[Path], variant: str) -> str:
    """A name that changes whenever a source file is replaced or the variant differs."""
    h = hashlib.sha256(variant.encode())
    for src in sources:
        st = src.stat()
        h.update(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def cached_arrays(name: str, sources: Sequence[Path], variant: str,
                  build: Callable[[], dict[str, np.ndarray]],
                  cache_dir: Path | None = None) -> dict[str, np.ndarray]:
    """Arrays from the cache entry of (`sources`, `variant`), building it with `build` once.

    Returns read-only memory maps. If the cache folder cannot be written (a read-only home),
    the freshly built arrays are returned instead, uncached.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = root / f"{name}-{entry_key(sources, variant)}"
    marker = entry / MARKER
    if not marker.exists():
        arrays = build()
        try:
            entry.mkdir(parents=True, exist_ok=True)
            for key, array in arrays.items():
                atomic_write(entry / f"{key}.npy",
                             partial(np.save, arr=np.ascontiguousarray(array), allow_pickle=False))
            info = {"name": name, "variant": variant, "sources": [str(s) for s in sources],
                    "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()}}
            atomic_write_text(marker, json.dumps(info, indent=1))
        except OSError:
            return arrays
    info = json.loads(marker.read_text())
    return {key: np.load(entry / f"{key}.npy", mmap_mode="r", allow_pickle=False)
            for key in info["arrays"]}
