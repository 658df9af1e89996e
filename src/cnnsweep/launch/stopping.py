"""Ctrl-C, SIGTERM (what SLURM sends at preemption or time-out) and a failed launcher end a sweep
cleanly in the launching process: `guard` stops every worker, marks the runs that were cut off
(started, no summary, no live lock) as `interrupted`, and prints how many runs finished and the
command that resumes the sweep, without a traceback; the exit code is 128 + the signal (130 for
SIGINT, 143 for SIGTERM). A composition error is explained in one line (`hydra_errors`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from cnnsweep import entrypoint, runfolder
from cnnsweep.exitcodes import ExitCode
from cnnsweep.interrupts import Interrupted
from cnnsweep.launch import hydra_errors
from cnnsweep.launch.finish import finish
from cnnsweep.launch.state import Launch
from cnnsweep.runfolder import Status
from cnnsweep.runlock import RunLock


def _raise(signum: int, frame: object) -> None:
    raise Interrupted(signum)


GRACE_SECONDS = 2.0  # workers that have not stopped after SIGTERM are killed


def _stat_fields(stat: Path) -> list[str]:
    """The fields of a /proc/<pid>/stat after the command name (which may hold spaces and
    parentheses): state, parent pid, ..."""
    return stat.read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (Linux /proc); empty where /proc is not there."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents.setdefault(int(_stat_fields(entry)[1]), []).append(int(entry.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_children(grace: float = GRACE_SECONDS) -> None:
    """SIGINT to every process this one started, as a Ctrl-C in the terminal does (a run
    records itself as interrupted; joblib's resource tracker ignores it and ends with us), then
    SIGKILL to any still there after `grace` seconds. Resource trackers (multiprocessing's,
    joblib's) are left alone: they end with this process, and killing one early makes joblib
    start another that prints errors."""
    children = [pid for pid in _children(os.getpid()) if not _is_resource_tracker(pid)]
    for pid in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.05)
    for pid in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in children:  # reap our own children: no zombie outlives this process
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)


def _is_resource_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a child that exited stays a zombie until reaped: not alive for our purpose
        return _stat_fields(Path(f"/proc/{pid}/stat"))[0] != "Z"
    except (OSError, IndexError):
        return True


def mark_interrupted(sweep_dir: Path, signame: str) -> tuple[int, int]:
    """Record every started run without a summary (and not trained elsewhere) as interrupted;
    return (finished, interrupted) counts."""
    finished = interrupted = 0
    for run_dir in runfolder.started_runs(sweep_dir):
        status = runfolder.status_of(runfolder.read_summary(run_dir))
        if status == Status.UNFINISHED:
            status = _mark_if_free(run_dir, signame)
        finished += status in runfolder.ENDED_WITH_RESULT
        interrupted += status == Status.INTERRUPTED
    return finished, interrupted


def _mark_if_free(run_dir: Path, signame: str) -> Status:
    """Record a run nobody trains as interrupted, holding its lock meanwhile: a run that ended
    just now keeps its summary, and no launch starts it halfway through."""
    lock = RunLock(run_dir)
    if lock.acquire() is not None:
        return Status.UNFINISHED  # trained by another launch
    try:
        status = runfolder.status_of(runfolder.read_summary(run_dir))
        if status == Status.UNFINISHED:
            runfolder.write_summary(run_dir, runfolder.Summary(
                Status.INTERRUPTED, run_dir.name,
                error=f"interrupted by {signame} before it finished",
                finished_at=datetime.now(timezone.utc).isoformat()))
            status = Status.INTERRUPTED
        return status
    finally:
        lock.release()


def resume_command(argv: list[str], sweep_dir: Path) -> str:
    """The command as it was given, with `hydra.sweep.dir` pinned to this sweep's folder."""
    args = [a for a in argv[1:] if not a.startswith(entrypoint.SWEEP_DIR)]
    return " ".join([entrypoint.program(argv[0]),
                     *map(shlex.quote, [*args, f"{entrypoint.SWEEP_DIR}{sweep_dir}"])])


def guard(main: Callable[[], object], launch: Launch) -> int:
    """Run Hydra's `main`; on Ctrl-C or SIGTERM end as the module docstring says; when the
    launcher itself fails (a crashed worker), end with what finished instead of a traceback."""
    signal.signal(signal.SIGTERM, _raise)
    # Hydra then re-raises what it would print: composition errors are printed here as Hydra
    # prints them, and a launcher's failure ends the sweep with its table.
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        return _failed(exc, full_error == "1", launch)
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        launch.stop()
        stop_children()
        print(_report(signal.Signals(signum).name, launch), file=sys.stderr, flush=True)
        return ExitCode.interrupted(signum)
    return ExitCode.OK


def _failed(exc: Exception, show_traceback: bool, launch: Launch) -> int:
    """An exception that escaped Hydra: a composition error (explained in one line), or a
    failed launcher during a multirun (its table, report and resume command)."""
    if not show_traceback:
        explained = hydra_errors.explain(exc)
        if explained is not None:
            print(explained, file=sys.stderr)
            return ExitCode.FAILED
    sweep_dir = launch.sweep_dir
    if sweep_dir is None or show_traceback:
        raise exc
    launch.stop()
    stop_children()
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    print(f"\nThe launcher failed: {type(exc).__name__}: {first}", file=sys.stderr, flush=True)
    finish(sweep_dir, launch.metric, launch.compare, launch.expected)
    print(f"Resume (finished runs are skipped): {resume_command(launch.argv, sweep_dir)}",
          file=sys.stderr, flush=True)
    return ExitCode.FAILED


def _report(signame: str, launch: Launch) -> str:
    what = "Ctrl-C" if signame == "SIGINT" else signame
    sweep_dir = launch.sweep_dir
    if sweep_dir is None or not sweep_dir.is_dir():
        return (f"\nInterrupted ({what}). A run cut off is recorded as interrupted in its "
                "summary.json; run the same command again to continue it from its checkpoint.")
    finished, interrupted = mark_interrupted(sweep_dir, signame)
    lines = [f"\nInterrupted ({what}): {finished} run(s) finished, {interrupted} interrupted "
             f"(recorded in their summary.json) in {sweep_dir}.",
             f"Resume (finished runs are skipped): {resume_command(launch.argv, sweep_dir)}",
             f"Compare what finished: cnnsweep compare {shlex.quote(str(sweep_dir))}"]
    return "\n".join(lines)
