"""Run folders → tidy pandas DataFrames: one row per run, per logged step, per epoch.

Reads only the run-folder contract (runfolder.py); never imports the engine. Unfinished and
failed runs are kept with their status. Folders are read once (`gather`); which keys are
compared is decided afterwards (`Results.by`), without reading them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cnnsweep.runfolder import (
    EPOCHS,
    HISTORY,
    NoRunsError,
    Status,
    find_run_dirs,
    is_presentation_key,
    override_key,
    read_run,
)

__all__ = ["NoRunsError", "Results", "aggregate", "gather", "load_results", "setting_labels"]

# Config groups whose choice (`optimizer=sgd`) is a comparison key of its own.
GROUPS = ("dataset", "arch", "optimizer", "init", "trainer")
REPEAT_KEY = "seed"
SUMMARY_METRICS = ("test_acc", "train_acc", "val_acc", "best_test_acc", "final_train_loss",
                   "wall_seconds", "train_seconds", "images_per_second", "param_count",
                   "iterations", "epochs")
META_COLUMNS = ("run_id", "run", "sweep", "path", "status", "error", "setting", "_overrides",
                "_compare", *SUMMARY_METRICS)


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """`{"conv": {"pad": 1}}` → `{"conv.pad": 1}`; lists become strings so they compare."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = str(value)
        else:
            flat[name] = value
    return flat


def run_row(run_dir: Path) -> dict[str, object]:
    """One run's row: identity, status, summary metrics, flattened config, group choices."""
    record = read_run(run_dir)
    overrides = {override_key(o): o.split("=", 1)[1] if "=" in o else ""
                 for o in record.overrides}
    row: dict[str, object] = {"run": run_dir.name, "sweep": run_dir.parent.name,
                              "path": str(run_dir), "status": record.status.value}
    for metric in SUMMARY_METRICS:
        row[metric] = record.summary.get(metric, np.nan)
    row["error"] = record.summary.get("error") or record.summary.get("message") or ""
    row.update(flatten(record.config))
    for group in GROUPS:  # the option chosen for a group, as the user typed it
        if group in overrides:
            row[group] = overrides[group]
    row["_overrides"] = tuple(k for k in overrides if not is_presentation_key(k))
    row["_compare"] = record.config.get("compare") or {}
    return row


@dataclass
class Results:
    runs: pd.DataFrame  # one row per run
    steps: pd.DataFrame  # one row per logged iteration: run_id, iteration, epoch, train_loss
    epochs: pd.DataFrame  # one row per evaluation: run_id, epoch, train_acc, test_acc, …
    varying: list[str]  # the compared keys (by default those whose values differ; seed apart)
    # The CSVs as read, before the compared keys were joined on: `by` starts from these.
    history: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    evaluations: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def compare_settings(self) -> dict[str, object]:
        """The `compare` block of the runs' config (a sweep file's figure choices), from the
        first run that has one."""
        return next((c for c in self.runs["_compare"] if c), {})

    def table(self) -> pd.DataFrame:
        """The runs as they are exported (runs.csv): without the internal columns."""
        return self.runs[[c for c in self.runs.columns if not c.startswith("_")]]

    def metrics(self) -> list[str]:
        return [m for m in SUMMARY_METRICS if m in self.runs and self.runs[m].notna().any()]

    def by(self, keys: Sequence[str] | None) -> Results:
        """The same runs compared by `keys` (None: the keys that vary)."""
        if keys:
            missing = [k for k in keys if k not in self.runs]
            if missing:
                names = sorted(c for c in self.runs.columns if not c.startswith("_"))
                raise KeyError(f"--by {', '.join(missing)}: no such key; keys are "
                               f"{', '.join(names)}")
            varying = list(keys)
        else:
            varying = varying_keys(self.runs)
        runs = self.runs.assign(setting=setting_labels(self.runs, varying))
        keep = ["run_id", "setting", *varying, *([REPEAT_KEY] if REPEAT_KEY in runs else [])]
        keep = list(dict.fromkeys(keep))
        steps = self.history.merge(runs[keep], on="run_id", how="left")
        epochs = self.evaluations.merge(runs[keep], on="run_id", how="left")
        return Results(runs, steps, epochs, varying, self.history, self.evaluations)


def varying_keys(runs: pd.DataFrame) -> list[str]:
    """Keys the user swept (from the overrides) whose values differ across runs; without
    overrides, every config column that differs."""
    swept = list(dict.fromkeys(k for keys in runs["_overrides"] for k in keys))
    candidates = [k for k in swept if k in runs and k != REPEAT_KEY]
    if not swept:  # no overrides recorded at all: fall back to every config value that differs
        candidates = [c for c in runs.columns if c not in META_COLUMNS and c != REPEAT_KEY
                      and not is_presentation_key(c)]
    return [k for k in candidates if runs[k].astype(str).nunique(dropna=False) > 1]


def _read_csvs(runs: pd.DataFrame, name: str) -> pd.DataFrame:
    frames = []
    for run, path in zip(runs["run_id"], runs["path"], strict=True):
        file = Path(path) / name
        if file.is_file() and file.stat().st_size:
            frame = pd.read_csv(file)
            frame.insert(0, "run_id", run)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_id"])


def gather(paths: Iterable[str | Path]) -> Results:
    """Read every run under `paths` once; compared by the keys that vary (see `Results.by`)."""
    run_dirs = find_run_dirs(paths)
    runs = pd.DataFrame([run_row(d) for d in run_dirs])
    runs.insert(0, "run_id", range(len(runs)))
    history, evaluations = _read_csvs(runs, HISTORY), _read_csvs(runs, EPOCHS)
    return Results(runs, history, evaluations, [], history, evaluations).by(None)


def load_results(paths: Iterable[str | Path], by: Sequence[str] | None = None) -> Results:
    """Gather every run under `paths`; `by` overrides which keys are compared."""
    results = gather(paths)
    return results.by(by) if by else results


def setting_labels(runs: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """A readable name per run from its values of `keys` ("optimizer=sgd, conv.filter_num=16"),
    built column by column (a per-row apply takes seconds over 100,000s of rows)."""
    if not keys:
        return pd.Series("all runs", index=runs.index)
    parts = [f"{key}=" + runs[key].astype(str) for key in keys]
    label = parts[0]
    for part in parts[1:]:
        label = label + ", " + part
    return label


def aggregate(runs: pd.DataFrame, keys: Sequence[str], metric: str) -> pd.DataFrame:
    """Mean, std and count of `metric` per setting (repeats differ only by seed), best first."""
    ok = runs[runs["status"] == Status.OK]
    group_keys = list(keys) or ["setting"]
    table = ok.groupby(group_keys, dropna=False, sort=False).agg(
        mean=(metric, "mean"), std=(metric, "std"), count=(metric, "count"),
        wall_seconds=("wall_seconds", "mean"), images_per_second=("images_per_second", "mean"))
    return table.sort_values("mean", ascending=False).reset_index()
