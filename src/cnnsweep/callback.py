"""The Hydra callback that closes a multirun: a table of every run, the comparison report,
and a non-zero exit naming the runs that failed or did not finish."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cnnsweep.results import gather
from cnnsweep.runfolder import Status

log = logging.getLogger("cnnsweep")


def sweep_table(runs: pd.DataFrame, metric: str = "test_acc") -> str:
    """A plain-text table of the runs: name, status, metric, seconds."""
    table = pd.DataFrame({
        "run": runs["run"], "status": runs["status"],
        metric: runs[metric].map(lambda v: "" if pd.isna(v) else f"{v:.4f}"),
        "seconds": runs["wall_seconds"].fillna(0).map(lambda v: f"{v:.1f}"),
    }).sort_values("run")
    return table.to_string(index=False, justify="left")


class CompareOnMultirunEnd(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        results = gather([sweep_dir])
        runs = results.runs
        print(f"\n{sweep_table(runs)}\n\nsweep folder: {sweep_dir}", flush=True)
        if config.get("compare") is not None and config.compare.enabled:
            try:
                from cnnsweep.report import compare

                print(f"report: {compare([sweep_dir], results=results)}", flush=True)
            except Exception as exc:  # a report problem must not hide the runs' results
                log.error("comparison failed: %s: %s", type(exc).__name__, exc)
        diverged = runs.loc[runs["status"] == Status.DIVERGED, "run"].tolist()
        failed = runs.loc[~runs["status"].isin([Status.OK, Status.DIVERGED]), "run"].tolist()
        if diverged:
            print(f"{len(diverged)} run(s) diverged (loss NaN/inf; history kept): "
                  f"{', '.join(diverged)}", flush=True)
        if failed:
            print(f"{len(failed)} run(s) failed or did not finish: {', '.join(failed)}",
                  file=sys.stderr, flush=True)
            sys.exit(1)
