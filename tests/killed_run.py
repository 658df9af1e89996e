"""`run.py`, killed with SIGKILL at a chosen point, for the continuation tests.

    python tests/killed_run.py <run.py arguments>

KILL_AT_STEP=n: before this process's n-th training step; KILL_AFTER_SAVE=k: right after its
k-th checkpoint is on disk. A SIGKILL cannot be caught: nothing of the run's own cleanup runs.
"""

import os
import runpy
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from cnnsweep import checkpoint  # noqa: E402
from cnnsweep.nn.networks import Network  # noqa: E402

KILL_AT_STEP = int(os.environ.get("KILL_AT_STEP", "0"))
KILL_AFTER_SAVE = int(os.environ.get("KILL_AFTER_SAVE", "0"))
counts = {"steps": 0, "saves": 0}
step, save = Network.loss_and_gradient, checkpoint.save


def counted_step(self, x, t):
    counts["steps"] += 1
    if counts["steps"] == KILL_AT_STEP:
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, x, t)


def counted_save(*args, **kwargs):
    save(*args, **kwargs)
    counts["saves"] += 1
    if counts["saves"] == KILL_AFTER_SAVE:
        os.kill(os.getpid(), signal.SIGKILL)


Network.loss_and_gradient = counted_step
checkpoint.save = counted_save
sys.argv = [str(REPO / "run.py"), *sys.argv[1:]]
runpy.run_path(str(REPO / "run.py"), run_name="__main__")
