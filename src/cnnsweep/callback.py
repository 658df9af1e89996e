"""The Hydra callback around a multirun: before it, the sweep folder is made absolute and checked
writable and the progress line starts; after it, a table of every run, the comparison report,
and an exit code (1: runs failed or did not finish; 75: runs are still being trained by another
launch; 0: every run ended ok or diverged)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cnnsweep.experiment import EXIT_RUNNING_ELSEWHERE
from cnnsweep.interrupts import CURRENT
from cnnsweep.progress import SweepProgress, expected_runs
from cnnsweep.results import gather
from cnnsweep.runfolder import Status
from cnnsweep.runlock import running_elsewhere

log = logging.getLogger("cnnsweep")


def sweep_table(runs: pd.DataFrame, metric: str = "test_acc") -> str:
    """A plain-text table of the runs: name, status, metric, seconds."""
    table = pd.DataFrame({
        "run": runs["run"], "status": runs["status"],
        metric: runs[metric].map(lambda v: "" if pd.isna(v) else f"{v:.4f}"),
        "seconds": runs["wall_seconds"].fillna(0).map(lambda v: f"{v:.1f}"),
    }).sort_values("run")
    widths = {c: max(len(c), *table[c].str.len()) for c in table.columns}
    rows = [dict(zip(table.columns, table.columns, strict=True)),
            *table.to_dict("records")]
    return "\n".join("  ".join(str(row[c]).ljust(w) for c, w in widths.items()).rstrip()
                     for row in rows)


def writable_folder(folder: Path, key: str) -> None:
    """Create `folder` and write into it, or exit with one line that names it (before any job
    starts, so nothing is lost)."""
    probe = folder / ".cnnsweep-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        print(f"cannot write the output folder {folder}: {exc.strerror or exc}; choose a "
              f"writable one with {key}=<folder>", file=sys.stderr, flush=True)
        sys.exit(2)


# The progress of the multirun in this process. Not an attribute of the callback: Hydra pickles
# its callbacks along with every job, and a thread cannot be pickled.
_PROGRESS: list[SweepProgress] = []


class CompareOnMultirunEnd(Callback):

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        writable_folder(Path(config.hydra.run.dir).absolute(), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Resolved once and absolute: every job's folder lands in the folder the user sees,
        # whatever a worker's working directory (a Ray worker runs where `ray start` ran).
        sweep_dir = Path(config.hydra.sweep.dir).absolute()
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.sweep.dir = str(sweep_dir)
        writable_folder(sweep_dir, "hydra.sweep.dir")
        compare = config.get("compare")
        CURRENT.sweep_dir, CURRENT.compare = sweep_dir, bool(compare and compare.enabled)
        sweeper = OmegaConf.to_container(config.hydra.sweeper, resolve=False)
        total = expected_runs(sweeper, list(config.hydra.overrides.task))
        metric = OmegaConf.select(config, "compare.metric", default="test_acc")
        progress = SweepProgress(sweep_dir, total, metric=metric).start()
        _PROGRESS.append(progress)
        CURRENT.on_stop.append(progress.stop)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        while _PROGRESS:
            _PROGRESS.pop().stop()
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        results = gather([sweep_dir])
        runs = results.runs
        unfinished = runs["status"] == Status.UNFINISHED
        holders = runs.loc[unfinished, "path"].map(lambda p: running_elsewhere(Path(p)))
        elsewhere = holders.dropna()
        shown = runs.copy()
        shown.loc[elsewhere.index, "status"] = [f"running elsewhere ({h})" for h in elsewhere]
        metric = OmegaConf.select(config, "compare.metric", default="test_acc")
        print(f"\n{sweep_table(shown, metric)}\n\nsweep folder: {sweep_dir}", flush=True)
        if config.get("compare") is not None and config.compare.enabled:
            try:
                from cnnsweep.report import compare

                print(f"report: {compare([sweep_dir], results=results)}", flush=True)
            except Exception as exc:  # a report problem must not hide the runs' results
                log.error("comparison failed: %s: %s", type(exc).__name__, exc)
        diverged = runs.loc[runs["status"] == Status.DIVERGED, "run"].tolist()
        failed = runs.loc[~runs["status"].isin([Status.OK, Status.DIVERGED]) &
                          ~runs.index.isin(elsewhere.index), "run"].tolist()
        if diverged:
            print(f"{len(diverged)} run(s) diverged (loss NaN/inf; history kept): "
                  f"{', '.join(diverged)}", flush=True)
        if failed:
            print(f"{len(failed)} run(s) failed or did not finish: {', '.join(failed)}",
                  file=sys.stderr, flush=True)
            sys.exit(1)
        if len(elsewhere):
            print(f"{len(elsewhere)} run(s) are being trained by another launch; run the same "
                  "command again once it has finished to compare them all",
                  file=sys.stderr, flush=True)
            sys.exit(EXIT_RUNNING_ELSEWHERE)
