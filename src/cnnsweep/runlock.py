"""One training per run: an exclusive claim on a run folder, whatever launched it."""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from cnnsweep.runfolder import LOCK


@dataclass(frozen=True)
class Holder:
    """Who holds a run folder's lock."""

    host: str
    pid: int
    started_at: str

    def __str__(self) -> str:
        return f"{self.host}, pid {self.pid}, since {self.started_at}"


class RunLock:
    """An exclusive claim on a run folder, so that one run is trained by one process, whatever
    launched it (a second terminal, a resubmitted job).

    `fcntl.flock` on LOCK: the kernel releases it when its process dies, so a lock left by a
    killed run never blocks. On NFS, flock is carried by NFS byte-range locks (Linux, NFSv4, or
    NFSv3 with lockd). Where a filesystem refuses locks, an O_EXCL lock file stands in; one
    left by a dead process of this host is taken over, one from another host is respected.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None
        self._exclusive_file = False

    def acquire(self, patience: float = 0.0) -> Holder | None:
        """Claim the run; None on success, else who holds it.

        `patience` seconds of retrying: another launch's `running_elsewhere` holds a free lock
        for an instant, and a claim must not take that instant for a training elsewhere.
        """
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + patience
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        return read_holder(self.path) or Holder("?", 0, "?")
                    time.sleep(0.05)
        except OSError as exc:  # no locks on this filesystem: an O_EXCL file instead
            os.close(fd)
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            return self._acquire_exclusive_file()
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_me()).encode())
        return None

    def _acquire_exclusive_file(self) -> Holder | None:
        holder = read_holder(self.path)
        if holder is not None and not _dead_here(holder):
            return holder
        self.path.unlink(missing_ok=True)  # empty, or left by a dead process of this host
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return read_holder(self.path) or Holder("?", 0, "?")
        os.write(fd, json.dumps(_me()).encode())
        os.close(fd)
        self._exclusive_file = True
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
        if self._exclusive_file:
            self.path.unlink(missing_ok=True)
            self._exclusive_file = False


def _me() -> dict[str, object]:
    from datetime import datetime

    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started_at": datetime.now().isoformat(timespec="seconds")}


def _dead_here(holder: Holder) -> bool:
    """True when `holder` was a process of this host that no longer exists."""
    if holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def read_holder(path: Path) -> Holder | None:
    try:
        info = json.loads(Path(path).read_text())
        return Holder(str(info["host"]), int(info["pid"]), str(info["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_elsewhere(run_dir: Path) -> Holder | None:
    """Who trains this run right now, if anyone does (a lock held by a live process).

    Read a run's summary after this, not before: a holder writes its summary before it
    releases, so a run found free here shows how it ended when read afterwards.
    """
    if not (Path(run_dir) / LOCK).exists():
        return None
    probe = RunLock(run_dir)
    holder = probe.acquire()
    probe.release()
    return holder
