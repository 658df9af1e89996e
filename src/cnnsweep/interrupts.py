"""Ctrl-C and SIGTERM (what SLURM sends at preemption or time-out) end a sweep cleanly.

Inside a run, SIGTERM raises `Interrupted` and the run records itself as `interrupted` (Ctrl-C
raises KeyboardInterrupt there). In the launching process, `guard` stops every worker, marks the
runs that were cut off (started, no summary, no live lock) as `interrupted`, and prints how many
runs finished and the command that resumes the sweep, without a traceback; the exit code is
128 + the signal (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cnnsweep import runfolder
from cnnsweep.runfolder import Status
from cnnsweep.runlock import RunLock

GRACE_SECONDS = 2.0  # workers that have not stopped after SIGTERM are killed


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


@dataclass
class Sweep:
    """What the launching process knows of the multirun in progress (set by the callback)."""

    sweep_dir: Path | None = None  # set while a multirun is under way
    compare: bool = False
    metric: str = "test_acc"
    expected: list[str] | int | None = None  # the run folders it launches (multirun.py)
    argv: list[str] = field(default_factory=lambda: list(sys.argv))
    on_stop: list[Callable[[], object]] = field(default_factory=list)


CURRENT = Sweep()


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
            runfolder.write_summary(run_dir, {
                "status": Status.INTERRUPTED, "run": run_dir.name,
                "error": f"interrupted by {signame} before it finished",
                "finished_at": datetime.now(timezone.utc).isoformat()})
            status = Status.INTERRUPTED
        return status
    finally:
        lock.release()


def resume_command(argv: list[str], sweep_dir: Path) -> str:
    """The command as it was given, with `hydra.sweep.dir` pinned to this sweep's folder."""
    args = [a for a in argv[1:] if not a.startswith("hydra.sweep.dir=")]
    program = f"python {argv[0]}" if argv[0].endswith(".py") else argv[0]
    return " ".join([program, *map(shlex.quote, [*args, f"hydra.sweep.dir={sweep_dir}"])])


def guard(main: Callable[[], object]) -> int:
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
        return _failed(exc, full_error == "1")
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for stop in CURRENT.on_stop:
            stop()
        stop_children()
        print(_report(signal.Signals(signum).name), file=sys.stderr, flush=True)
        return 128 + signum
    return 0


# Launcher and sweeper plugins live in optional extras; a missing one names its extra.
EXTRAS = {"hydra/launcher/ray": "ray", "hydra/launcher/submitit": "slurm",
          "hydra/launcher/slurm": "slurm", "hydra/sweeper/optuna": "search"}


def _override_being_applied(exc: BaseException) -> str | None:
    """The command-line override Hydra was applying when `exc` escaped its composition, if it
    was: OmegaConf's own errors there reach the user as Hydra's messages, but some (an
    assertion on a key under a null node) escape as they are."""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "_apply_overrides_to_config":
            return getattr(frame.tb_frame.f_locals.get("override"), "input_line", None)
        frame = frame.tb_next
    return None


def _override_error(override: str, exc: BaseException) -> str:
    from cnnsweep.build import options_having

    key = override.lstrip("+~").split("=", 1)[0]
    parent = key.rsplit(".", 1)[0]
    if "." not in key or "NoneType" not in str(exc):
        return f"Could not apply the override '{override}': {type(exc).__name__}: {exc}"
    group, having = options_having(key)
    fix = f"select {group}={' or '.join(having)}, or leave it out" if having else "leave it out"
    return (f"Could not apply the override '{override}': {parent} is null in this config, "
            f"because the selected options have no {parent} settings; {fix}")


def _failed(exc: Exception, show_traceback: bool) -> int:
    """An exception that escaped Hydra: a composition error (printed as Hydra prints it), or a
    failed launcher during a multirun (its table, report and resume command)."""
    from hydra.errors import CompactHydraException

    if isinstance(exc, CompactHydraException) and not show_traceback:
        print(exc, file=sys.stderr)
        if exc.__cause__ is not None and "omegaconf" in type(exc.__cause__).__module__:
            print(exc.__cause__, file=sys.stderr)
        extra = next((e for key, e in EXTRAS.items() if key in str(exc)), None)
        if extra is not None:
            print(f"That config comes with an optional extra: pip install 'cnnsweep[{extra}]' "
                  f"(in a checkout: pip install -e '.[{extra}]')", file=sys.stderr)
        return 1
    override = _override_being_applied(exc)
    if override is not None and not show_traceback:
        print(_override_error(override, exc), file=sys.stderr)
        return 1
    sweep_dir = CURRENT.sweep_dir
    if sweep_dir is None or show_traceback:
        raise exc
    for stop in CURRENT.on_stop:
        stop()
    stop_children()
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    print(f"\nThe launcher failed: {type(exc).__name__}: {first}", file=sys.stderr, flush=True)
    from cnnsweep import multirun

    multirun.finish(sweep_dir, CURRENT.metric, CURRENT.compare, CURRENT.expected)
    print(f"Resume (finished runs are skipped): {resume_command(CURRENT.argv, sweep_dir)}",
          file=sys.stderr, flush=True)
    return 1


def _report(signame: str) -> str:
    what = "Ctrl-C" if signame == "SIGINT" else signame
    sweep_dir = CURRENT.sweep_dir
    if sweep_dir is None or not sweep_dir.is_dir():
        return (f"\nInterrupted ({what}). A run cut off is recorded as interrupted in its "
                "summary.json; run the same command again to continue it from its checkpoint.")
    finished, interrupted = mark_interrupted(sweep_dir, signame)
    lines = [f"\nInterrupted ({what}): {finished} run(s) finished, {interrupted} interrupted "
             f"(recorded in their summary.json) in {sweep_dir}.",
             f"Resume (finished runs are skipped): {resume_command(CURRENT.argv, sweep_dir)}",
             f"Compare what finished: cnnsweep compare {shlex.quote(str(sweep_dir))}"]
    return "\n".join(lines)
