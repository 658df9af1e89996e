"""A second process that draws figures while this one draws others and writes the tables.

Started (spawned) before the comparison's heavy imports, its own imports overlap them; on a
2-core machine a report's figures are then drawn two at a time. Where no second core or no
process can be started, everything runs here, unchanged.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.pool import Pool


def _warm_up() -> None:
    import cnnsweep.plots  # noqa: F401  (the imports are the slow part of starting)


def start_helper() -> Pool | None:
    """One spawned worker process, or None on a single core or where it cannot start."""
    if (os.cpu_count() or 1) < 2 or os.environ.get("CNNSWEEP_NO_HELPER"):
        return None
    try:
        return multiprocessing.get_context("spawn").Pool(1, initializer=_warm_up)
    except (OSError, ValueError, RuntimeError):
        return None
