"""A multirun as the launching process sees it: the runs it will launch, the checks before the
first job (a writable folder, a reachable Ray cluster, SLURM on this machine), and its end (the
table, the report, runs that never arrived, the exit code)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cnnsweep import runfolder
from cnnsweep.experiment import EXIT_RUNNING_ELSEWHERE
from cnnsweep.runfolder import ENDED_WITH_RESULT, Status
from cnnsweep.runlock import Holder, running_elsewhere

if TYPE_CHECKING:
    import pandas as pd

# pandas and the results reader are imported where the end of a sweep needs them: a single run,
# which passes through this module's checks, starts without them.

log = logging.getLogger("cnnsweep")

EXIT_FAILED = 1  # runs failed, did not finish, or never arrived
EXIT_BAD_SETUP = 2  # the output folder, the cluster or the scheduler cannot be used


def expected_runs(sweeper: dict, task_overrides: list[str]) -> list[str] | int | None:
    """The run folder names a multirun will create (Hydra's basic sweeper: the product of the
    sweep file's params and the command line's, the command line winning a key), or only their
    number (an optimizing sweeper's `n_trials`), or None when that cannot be told."""
    if sweeper.get("n_trials"):
        return int(sweeper["n_trials"])
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    try:
        overrides = OverridesParser.create().parse_overrides([*params, *task_overrides])
        jobs = BasicSweeper.split_arguments(overrides, None)[0]
    except Exception:  # a glob or another sweep that needs the config: unknown
        return None
    return [runfolder.run_name(job) for job in jobs]


def check_output_folder(folder: Path, key: str) -> None:
    """Create `folder` and write into it, or exit with one line that names it."""
    probe = folder / ".cnnsweep-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        _exit(f"cannot write the output folder {folder}: {exc.strerror or exc}; choose a "
              f"writable one with {key}=<folder>")


def check_launcher(launcher: dict) -> None:
    """Fail in one line, before any job, where the chosen launcher cannot work here."""
    target = str(launcher.get("_target_", ""))
    if "SlurmLauncher" in target and shutil.which("sbatch") is None:
        _exit("SLURM is not available here (no sbatch on PATH): launch from a SLURM login node, "
              "or try the sweep locally with hydra/launcher=submitit_local")
    address = ((launcher.get("ray") or {}).get("init") or {}).get("address")
    if "RayLauncher" in target and address not in (None, "", "local"):
        # Ray >= 2.59 starts clusters with token authentication; a driver joining by address
        # must say so, and finds the token where `ray start` left it.
        if (Path.home() / ".ray" / "auth_token").is_file():
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        host, port = _ray_head(str(address))
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as exc:
            _exit(f"cannot reach the Ray cluster at {host}:{port} ({exc.strerror or exc}); "
                  "start it (ray start --head) or fix hydra.launcher.ray.init.address")


def _ray_head(address: str) -> tuple[str, int]:
    if address == "auto":  # what `ray start` leaves for local drivers
        try:
            address = Path("/tmp/ray/ray_current_cluster").read_text().strip()
        except OSError:
            _exit("hydra.launcher.ray.init.address=auto, but no Ray cluster runs on this "
                  "machine (ray start --head starts one)")
    address = address.removeprefix("ray://")
    host, _, port = address.rpartition(":")
    return host or address, int(port) if port.isdigit() else 6379


def _exit(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(EXIT_BAD_SETUP)


def sweep_table(runs: pd.DataFrame, metric: str = "test_acc") -> str:
    """A plain-text table of the runs, best by `metric` first: run, status, metric, seconds."""
    import pandas as pd

    from cnnsweep.results import is_higher_better

    ranked = runs.sort_values([metric, "run"], ascending=[not is_higher_better(metric), True],
                              na_position="last")
    table = pd.DataFrame({
        "run": ranked["run"], "status": ranked["status"],
        metric: ranked[metric].map(lambda v: "" if pd.isna(v) else f"{v:.4f}"),
        "seconds": ranked["wall_seconds"].fillna(0).map(lambda v: f"{v:.1f}"),
    })
    widths = {c: max(len(c), *table[c].str.len()) for c in table.columns}
    rows = [dict(zip(table.columns, table.columns, strict=True)), *table.to_dict("records")]
    return "\n".join("  ".join(str(row[c]).ljust(w) for c, w in widths.items()).rstrip()
                     for row in rows)


def finish(sweep_dir: Path, metric: str = "test_acc", compare: bool = True,
           expected: list[str] | int | None = None) -> int:
    """The end of a multirun: the table, the report, what is missing; the exit code."""
    names = {run_dir.name for run_dir in runfolder.started_runs(sweep_dir)}
    lost = sorted(set(expected) - names) if isinstance(expected, list) else []
    if isinstance(expected, int) and len(names) < expected:
        lost = [f"{expected - len(names)} of {expected} trials"]
    if not names:
        print(f"no run folder arrived in {sweep_dir}", file=sys.stderr, flush=True)
        return _lost(lost, sweep_dir) or EXIT_FAILED
    from cnnsweep.results import gather

    holders = _held_elsewhere(sweep_dir)  # before the summaries are read: see running_elsewhere
    results = gather([sweep_dir])
    runs = results.runs
    unfinished = runs["status"] == Status.UNFINISHED
    elsewhere = runs.loc[unfinished, "run"].map(holders).dropna()
    shown = runs.copy()
    shown.loc[elsewhere.index, "status"] = [f"running elsewhere ({h})" for h in elsewhere]
    notes = runs["path"].map(lambda path: runfolder.continuation_note(
        runfolder.read_summary(Path(path))))
    continued = notes != ""
    shown.loc[continued, "status"] = shown.loc[continued, "status"] + " (" + \
        notes[continued] + ")"
    if metric not in shown:
        metric = "test_acc"
    print(f"\n{sweep_table(shown, metric)}\n\nsweep folder: {sweep_dir}", flush=True)
    finished = runs["status"].isin(ENDED_WITH_RESULT)
    if compare and not finished.any():
        print("no report: no run finished (their errors are in the table above and in each "
              "run's summary.json)", file=sys.stderr, flush=True)
    elif compare:
        try:
            from cnnsweep.report import compare as write_report

            print(f"report: {write_report([sweep_dir], results=results)}", flush=True)
        except Exception as exc:  # a report problem must not hide the runs' results
            log.error("comparison failed: %s: %s", type(exc).__name__, exc)
    diverged = runs.loc[runs["status"] == Status.DIVERGED, "run"].tolist()
    failed = runs.loc[~runs["status"].isin(ENDED_WITH_RESULT) &
                      ~runs.index.isin(elsewhere.index), "run"].tolist()
    if diverged:
        print(f"{len(diverged)} run(s) diverged (loss NaN/inf; history kept): "
              f"{', '.join(diverged)}", flush=True)
    code = _lost(lost, sweep_dir)
    if failed:
        print(f"{len(failed)} run(s) failed or did not finish: {', '.join(failed)}",
              file=sys.stderr, flush=True)
        code = EXIT_FAILED
    if code:
        return code
    if len(elsewhere):
        print(f"{len(elsewhere)} run(s) are being trained by another launch; run the same "
              "command again once it has finished to compare them all",
              file=sys.stderr, flush=True)
        return EXIT_RUNNING_ELSEWHERE
    return 0


def _held_elsewhere(sweep_dir: Path) -> dict[str, Holder]:
    """Who trains each started run that has no result yet, by run folder name."""
    holders = {}
    for run_dir in runfolder.started_runs(sweep_dir):
        if runfolder.status_of(runfolder.read_summary(run_dir)) == Status.UNFINISHED:
            holder = running_elsewhere(run_dir)
            if holder is not None:
                holders[run_dir.name] = holder
    return holders


def _lost(lost: list[str], sweep_dir: Path) -> int:
    if not lost:
        return 0
    print(f"{len(lost)} run(s) were launched but never arrived in {sweep_dir}: "
          f"{', '.join(lost[:10])}{' …' if len(lost) > 10 else ''}. A worker wrote them "
          "elsewhere or died before starting: hydra.sweep.dir must be on a filesystem every "
          "worker sees", file=sys.stderr, flush=True)
    return EXIT_FAILED
