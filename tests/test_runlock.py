"""One training per run folder: the lock, its holder, and what happens when the holder dies."""

import errno
import fcntl
import json
import os
import socket
import subprocess
import sys

from cnnsweep import runlock
from cnnsweep.runfolder import LOCK
from cnnsweep.runlock import RunLock, running_elsewhere


def test_a_second_claim_sees_the_holder_until_the_first_releases(tmp_path):
    first, second = RunLock(tmp_path), RunLock(tmp_path)
    assert first.acquire() is None
    holder = second.acquire()
    assert holder is not None and holder.pid == os.getpid()
    assert holder.host == socket.gethostname()
    assert running_elsewhere(tmp_path) == holder
    first.release()
    assert running_elsewhere(tmp_path) is None
    assert second.acquire() is None
    second.release()


def test_a_lock_held_by_a_killed_process_is_free(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from cnnsweep.runlock import RunLock; "
        f"assert RunLock({str(tmp_path)!r}).acquire() is None; print('held', flush=True); "
        "time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert running_elsewhere(tmp_path).pid == holder.pid
    holder.kill()
    holder.wait()
    holder.stdout.close()
    lock = RunLock(tmp_path)
    assert lock.acquire() is None  # the kernel released the dead process's flock
    lock.release()


def test_without_file_locks_an_exclusive_file_stands_in(tmp_path, monkeypatch):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / LOCK).write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead),
                                             "started_at": "yesterday"}))
    lock = RunLock(tmp_path)
    assert lock.acquire() is None  # left by a dead process of this host: taken over
    assert RunLock(tmp_path).acquire().pid == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK).exists()
    (tmp_path / LOCK).write_text(json.dumps({"host": "another-node", "pid": 1,
                                             "started_at": "now"}))
    assert RunLock(tmp_path).acquire().host == "another-node"  # cannot tell: respected
    assert runlock.read_holder(tmp_path / LOCK).started_at == "now"


def test_a_claim_outlasts_another_launchs_look_at_the_lock(tmp_path):
    import threading

    probe = RunLock(tmp_path)
    assert probe.acquire() is None  # running_elsewhere holds a free lock for an instant
    threading.Timer(0.2, probe.release).start()
    assert RunLock(tmp_path).acquire().pid == os.getpid()  # no patience: taken for a holder
    claim = RunLock(tmp_path)
    assert claim.acquire(patience=2.0) is None
    claim.release()
