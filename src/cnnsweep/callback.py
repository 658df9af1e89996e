"""The Hydra callback that closes a multirun: a table of every run, the comparison report,
and a non-zero exit naming the failed runs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cnnsweep.experiment import read_summary

log = logging.getLogger("cnnsweep")


def sweep_table(sweep_dir: Path) -> tuple[str, list[str], list[str]]:
    """A plain-text table of the runs in `sweep_dir`, the names of the runs that failed or
    never finished, and of those that diverged (a result, not an error)."""
    rows, failed, diverged = [], [], []
    for run_dir in sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()):
        summary = read_summary(run_dir) or {"status": "unfinished"}
        status = summary.get("status", "?")
        if status == "diverged":
            diverged.append(run_dir.name)
        elif status != "ok":
            failed.append(run_dir.name)
        acc = summary.get("test_acc")
        rows.append((run_dir.name, status, "" if acc is None else f"{acc:.4f}",
                     f"{summary.get('wall_seconds', 0):.1f}"))
    header = ("run", "status", "test_acc", "seconds")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
             for row in [header, *rows]]
    return "\n".join(lines), failed, diverged


class CompareOnMultirunEnd(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        table, failed, diverged = sweep_table(sweep_dir)
        print(f"\n{table}\n\nsweep folder: {sweep_dir}", flush=True)
        if config.get("compare") is not None and config.compare.enabled:
            try:
                from cnnsweep.report import compare_sweep

                report = compare_sweep([sweep_dir])
                print(f"report: {report}", flush=True)
            except Exception as exc:  # a report problem must not hide the runs' results
                log.error("comparison failed: %s: %s", type(exc).__name__, exc)
        if diverged:
            print(f"{len(diverged)} run(s) diverged (loss NaN/inf; history kept): "
                  f"{', '.join(diverged)}", flush=True)
        if failed:
            print(f"{len(failed)} run(s) failed or did not finish: {', '.join(failed)}",
                  file=sys.stderr, flush=True)
            sys.exit(1)
