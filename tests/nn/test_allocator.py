"""keep_freed_memory: memory a step frees is reused by the next step, not faulted in again.

The setting is process-wide and one way, so each case runs in a fresh interpreter."""

import platform
import subprocess
import sys

import pytest

from cnnsweep.nn import allocator

# A step's pattern, shrunk: a thread (the batch split's second) allocates three 4 MB arrays,
# writes them and frees them, round after round; the page faults of the last 20 rounds.
STEPS = """
import resource, sys, threading
import numpy as np
from cnnsweep.nn.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
faults = []
def steps():
    for _ in range(5):
        arrays = [np.ones(1 << 20, np.float32) for _ in range(3)]
        del arrays
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        arrays = [np.ones(1 << 20, np.float32) for _ in range(3)]
        del arrays
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=steps)
thread.start()
thread.join()
print(faults[0])
"""


def faults_of_20_rounds(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    pages_per_round = 3 * (4 << 20) // 4096
    # By default glibc trims the thread's heap and the pages come back zeroed: the case fixed.
    assert faults_of_20_rounds("default") > 20 * pages_per_round // 4
    assert faults_of_20_rounds("keep") < 20 * 10


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: pytest.fail("mallopt called"))
    assert allocator.keep_freed_memory() is False
