"""What cnnsweep's commands exit with: one enum, the README's table of exit codes."""

from __future__ import annotations

import signal
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every run ended ok or diverged (a diverged run is a result, not an error)
    FAILED = 1  # runs failed, did not finish or never arrived; a bad config; a failed report
    BAD_SETUP = 2  # the output folder, cluster or scheduler cannot be used; bad compare options
    CLAIMS_FAILED = 3  # every run ended with a result, but a claim of the sweep does not hold
    RUNNING_ELSEWHERE = 75  # EX_TEMPFAIL: nothing failed, another launch still trains some runs
    SIGINT = 128 + signal.SIGINT  # interrupted by Ctrl-C (130)
    SIGTERM = 128 + signal.SIGTERM  # interrupted by SIGTERM, e.g. a scheduler's preemption (143)

    @classmethod
    def interrupted(cls, signum: int) -> int:
        """128 + the signal, the shell's convention."""
        return 128 + signum
