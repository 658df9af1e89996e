"""Run folders → tidy pandas DataFrames: one row per run, per logged step, per epoch.

Reads only the run-folder contract (`.hydra/config.yaml`, `.hydra/overrides.yaml`,
`summary.json`, `history.csv`, `epochs.csv`); never imports the engine. Unfinished and failed
runs are kept with their status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser is ~10× faster

# Config groups whose choice (`optimizer=sgd`) is a comparison key of its own.
GROUPS = ("dataset", "arch", "optimizer", "init", "trainer")
# Keys that never make two runs different settings (the sweep file, presentation).
IGNORED_KEYS = ("sweep", "compare.enabled", "compare.by", "compare.metric")
REPEAT_KEY = "seed"
SUMMARY_METRICS = ("test_acc", "train_acc", "val_acc", "best_test_acc", "final_train_loss",
                   "wall_seconds", "train_seconds", "images_per_second", "param_count",
                   "iterations", "epochs")


class NoRunsError(ValueError):
    """The given folders hold no run folder."""


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders under `paths`: each path may be a run folder, a sweep, or a tree of sweeps."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise NoRunsError(f"{path} does not exist")
        if (path / ".hydra" / "config.yaml").is_file() or (path / "summary.json").is_file():
            found.append(path)
            continue
        found.extend(sorted(p.parent.parent for p in path.rglob(".hydra/config.yaml")))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise NoRunsError(f"no run folders (with .hydra/config.yaml or summary.json) under "
                          f"{', '.join(map(str, paths))}; give a sweep folder such as "
                          "outputs/sweeps/<date>, or a run folder")
    return unique


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


def _read_yaml(path: Path) -> object:
    try:
        with open(path) as f:
            return yaml.load(f, Loader=SafeLoader)
    except OSError:
        return None


def _override_pairs(overrides: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for item in overrides or ():
        key, _, value = str(item).partition("=")
        pairs[key.lstrip("+~")] = value
    return pairs


def read_run(run_dir: Path) -> dict[str, object]:
    """One run's row: identity, status, summary metrics, flattened config, group choices."""
    config = _read_yaml(run_dir / ".hydra" / "config.yaml") or {}
    overrides = _override_pairs(_read_yaml(run_dir / ".hydra" / "overrides.yaml") or [])
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        summary = {"status": "unfinished"}
    row: dict[str, object] = {"run": run_dir.name, "sweep": run_dir.parent.name,
                              "path": str(run_dir), "status": summary.get("status", "unknown")}
    for metric in SUMMARY_METRICS:
        row[metric] = summary.get(metric, np.nan)
    row["error"] = summary.get("error") or summary.get("message") or ""
    row.update(flatten(config))
    for group in GROUPS:  # the option chosen for a group, as the user typed it
        if group in overrides:
            row[group] = overrides[group]
    row["_overrides"] = tuple(k for k in overrides if k not in IGNORED_KEYS)
    return row


@dataclass
class Results:
    runs: pd.DataFrame  # one row per run
    steps: pd.DataFrame  # one row per logged iteration: run, iteration, epoch, train_loss
    epochs: pd.DataFrame  # one row per evaluation: run, epoch, train_acc, test_acc, …
    varying: list[str]  # the keys whose values differ between runs (seed excluded)

    def compare_settings(self) -> dict:
        """The `compare` block of the runs' config (the sweep file's figure choices)."""
        for path in self.runs["path"]:
            config = _read_yaml(Path(path) / ".hydra" / "config.yaml")
            if isinstance(config, dict) and isinstance(config.get("compare"), dict):
                return config["compare"]
        return {}

    def metrics(self) -> list[str]:
        return [m for m in SUMMARY_METRICS if m in self.runs and self.runs[m].notna().any()]


def varying_keys(runs: pd.DataFrame) -> list[str]:
    """Keys the user swept (from the overrides) whose values differ across runs; without
    overrides, every config column that differs."""
    swept = list(dict.fromkeys(k for keys in runs["_overrides"] for k in keys))
    candidates = [k for k in swept if k in runs and k != REPEAT_KEY]
    if not swept:  # no overrides recorded at all: fall back to every config value that differs
        meta = {"run_id", "run", "sweep", "path", "status", "error", "setting", "_overrides",
                *SUMMARY_METRICS}
        candidates = [c for c in runs.columns if c not in meta and c != REPEAT_KEY
                      and not c.startswith("compare.")]
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


def load_results(paths: Iterable[str | Path], by: Sequence[str] | None = None) -> Results:
    """Gather every run under `paths`; `by` overrides which keys are compared."""
    run_dirs = find_run_dirs(paths)
    runs = pd.DataFrame([read_run(d) for d in run_dirs])
    runs.insert(0, "run_id", range(len(runs)))
    if by:
        missing = [k for k in by if k not in runs]
        if missing:
            keys = sorted(c for c in runs.columns if not c.startswith("_"))
            raise KeyError(f"--by {', '.join(missing)}: no such key; keys are {', '.join(keys)}")
        varying = list(by)
    else:
        varying = varying_keys(runs)
    runs["setting"] = setting_labels(runs, varying)
    steps, epochs = _read_csvs(runs, "history.csv"), _read_csvs(runs, "epochs.csv")
    keep = ["run_id", "setting", *varying, REPEAT_KEY] if REPEAT_KEY in runs else \
        ["run_id", "setting", *varying]
    steps = steps.merge(runs[keep], on="run_id", how="left")
    epochs = epochs.merge(runs[keep], on="run_id", how="left")
    return Results(runs.drop(columns="_overrides"), steps, epochs, varying)


def setting_labels(runs: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """A readable name per run from its values of `keys` ("optimizer=sgd, conv.filter_num=16")."""
    if not keys:
        return pd.Series(["all runs"] * len(runs), index=runs.index)
    return runs[list(keys)].astype(str).apply(
        lambda row: ", ".join(f"{k}={v}" for k, v in row.items()), axis=1)


def aggregate(runs: pd.DataFrame, keys: Sequence[str], metric: str) -> pd.DataFrame:
    """Mean, std and count of `metric` per setting (repeats differ only by seed), best first."""
    ok = runs[runs["status"] == "ok"]
    group_keys = list(keys) or ["setting"]
    table = ok.groupby(group_keys, dropna=False, sort=False).agg(
        mean=(metric, "mean"), std=(metric, "std"), count=(metric, "count"),
        wall_seconds=("wall_seconds", "mean"), images_per_second=("images_per_second", "mean"))
    return table.sort_values("mean", ascending=False).reset_index()
