"""Ctrl-C and SIGTERM inside a run: the run records itself as `interrupted`, then its process
stops. (The launching process's side, stopping the workers and printing the resume command, is
`launch/stopping.py`.)

Inside a run, SIGTERM raises `Interrupted` and Ctrl-C raises KeyboardInterrupt. Whether this
process is a launcher's worker or the process that launched the sweep is told by LAUNCHER_PID,
which the application sets before Hydra starts and worker processes inherit (or lack, on another
machine).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

LAUNCHER_PID = "CNNSWEEP_LAUNCHER_PID"  # environment: the pid of the process that launched


def mark_launching_process() -> None:
    """Called by the application in the process that launches the sweep."""
    os.environ[LAUNCHER_PID] = str(os.getpid())


def in_launching_process() -> bool:
    """This process launched the sweep (Hydra's basic launcher runs its jobs here too)."""
    return os.environ.get(LAUNCHER_PID) == str(os.getpid())


class Interrupted(BaseException):
    """A signal asked this process to stop (a BaseException, like KeyboardInterrupt, so that no
    `except Exception` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def while_training(worker: bool) -> Iterator[None]:
    """Within this block, Ctrl-C raises KeyboardInterrupt and SIGTERM raises Interrupted, so
    that the run records itself as interrupted (main thread only; elsewhere a no-op).

    A `worker` (a launcher's process that is not the launching one) ignores SIGINT afterwards:
    Ctrl-C reaches every process of the terminal's group, and one that strikes a worker between
    runs, in the launcher's own loop, prints a traceback; the launching process stops idle
    workers itself.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_term = signal.signal(signal.SIGTERM, _raise)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN if worker else previous_int)
