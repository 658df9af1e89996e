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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


@dataclass
class _Deferral:
    """A stop signal noted while a training loop runs, to be acted on at its next step
    boundary, once its state is saved (`stops_at_step_boundaries`)."""

    active: bool = False
    stops: bool = True  # Ctrl-C and SIGTERM are held too (not in a joblib or Ray worker)
    pending: tuple[int, Callable[[int, object], object]] | None = None


_DEFERRAL = _Deferral()


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt if signum == signal.SIGINT else Interrupted(signum)


def _under_slurm_submitit() -> bool:
    """A job submitit started on SLURM: there SIGTERM only announces a preemption or the time
    limit, and submitit's own signal (SIGUSR2) checkpoints and requeues the job."""
    return os.environ.get("SUBMITIT_EXECUTOR") == "slurm"


def _save_and_go_on(signum: int, frame: object) -> None:
    """Under submitit, SIGTERM saves a checkpoint (at the next step boundary) and training goes
    on, as submitit bypasses it: the requeue comes with SIGUSR2, or SLURM's SIGKILL ends the
    job and the requeued one continues from that checkpoint."""


def _on_stop_signal(signum: int, frame: object) -> None:
    if signum == signal.SIGTERM and _under_slurm_submitit():
        if _DEFERRAL.active and _DEFERRAL.pending is None:
            _DEFERRAL.pending = (signum, _save_and_go_on)
        return
    if not _DEFERRAL.stops:
        _stop(signum, frame)
    _defer_or(_stop, signum, frame)


def _defer_or(act: Callable[[int, object], object], signum: int, frame: object) -> None:
    """Note the signal while a training loop can save its state first; a second one acts."""
    if _DEFERRAL.active and _DEFERRAL.pending is None:
        _DEFERRAL.pending = (signum, act)
        return
    act(signum, frame)


def stop_requested() -> bool:
    """A stop signal arrived during `stops_at_step_boundaries`: save, then `act_on_stop`."""
    return _DEFERRAL.pending is not None


def act_on_stop() -> None:
    """Do what the noted signal asked for (raise, or a launcher's own handler: submitit's
    requeue-and-exit on its timeout signal)."""
    pending, _DEFERRAL.pending = _DEFERRAL.pending, None
    if pending is not None:
        signum, act = pending
        act(signum, None)


@contextlib.contextmanager
def stops_at_step_boundaries(hold_stops: bool = True) -> Iterator[None]:
    """Within this block (a training loop that saves checkpoints), the first Ctrl-C, SIGTERM or
    submitit's timeout signal (SIGUSR2) is noted instead of acted on, so that the loop saves its
    state at the next step boundary and then stops (`stop_requested`, `act_on_stop`): a stop
    loses no training. A second signal acts at once. Main thread only.

    Without `hold_stops` (a joblib or Ray worker) Ctrl-C and SIGTERM act at once, as they reach
    the launching process too: joblib then kills its workers, and one that was putting its
    result on the shared queue at that moment (as a worker finishing its last step would be)
    leaves the queue's lock held and the launcher waiting forever. The run then continues from
    its last checkpoint (an epoch or `checkpoint_seconds` back)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGUSR2)
    if callable(previous):  # a launcher's handler (submitit checkpoints and requeues with it)
        signal.signal(signal.SIGUSR2, lambda signum, frame: _defer_or(previous, signum, frame))
    _DEFERRAL.active, _DEFERRAL.stops, _DEFERRAL.pending = True, hold_stops, None
    try:
        yield
        act_on_stop()  # noted after the last step boundary: acted on now
    finally:
        _DEFERRAL.active, _DEFERRAL.stops, _DEFERRAL.pending = False, True, None
        if callable(previous):
            signal.signal(signal.SIGUSR2, previous)


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
    previous_term = signal.signal(signal.SIGTERM, _on_stop_signal)
    previous_int = signal.signal(signal.SIGINT, _on_stop_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN if worker else previous_int)
