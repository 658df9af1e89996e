"""Run folders → tidy pandas DataFrames: one row per run, per logged step, per evaluation.

Reads only the run-folder contract (runfolder.py); never imports the engine. Unfinished and
failed runs are kept with their status. Folders are read once (`gather`); the CSVs only when a
figure asks for them, all files of a kind parsed in one go; which keys are compared is decided
afterwards (`Results.by`) without reading anything again.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from cnnsweep.compare_options import closest
from cnnsweep.runfolder import (
    ENDED_WITH_RESULT,
    EPOCH_COLUMNS,
    EPOCHS,
    HISTORY,
    HISTORY_COLUMNS,
    LOWER_IS_BETTER,
    SUMMARY_METRICS,
    NoRunsError,
    Status,
    config_hash,
    find_run_dirs,
    is_presentation_key,
    override_key,
    read_run,
    valid_header,
)

__all__ = ["NoRunsError", "Results", "gather", "load_results", "setting_labels"]

# Config groups whose choice (`optimizer=sgd`) is a comparison key of its own.
GROUPS = ("dataset", "arch", "optimizer", "init", "trainer")
REPEAT_KEY = "seed"
SWEEP_KEY = "sweep"  # which of several given sweep folders a run came from
META_COLUMNS = ("run_id", "run", SWEEP_KEY, "path", "status", "error", "commit", "config_hash",
                "setting", "_overrides", "_compare", *SUMMARY_METRICS)
# What a run computed: two runs of one identity (config hash) that agree in all of these are
# copies of one run (the same sweep run twice, or a folder copied), counted once.
RESULT_COLUMNS = ("status", "test_acc", "train_acc", "val_acc", "best_test_acc",
                  "final_train_loss", "iterations", "epochs")


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
    summary = record.summary
    row: dict[str, object] = {"run": run_dir.name, SWEEP_KEY: run_dir.parent.name,
                              "path": str(run_dir), "status": record.status.value}
    for metric in SUMMARY_METRICS:
        value = summary.metric(metric)
        row[metric] = np.nan if value is None else value
    row["error"] = summary.error or summary.message or ""
    row["commit"] = summary.versions.get("commit")
    # The run's identity: its config less presentation keys, seed included (runfolder.py).
    row["config_hash"] = summary.config_hash or (config_hash(record.config)
                                                 if record.config else None)
    row["_versions"] = summary.versions
    row.update(flatten(record.config))
    for group in GROUPS:  # the option chosen for a group, as the user typed it
        if group in overrides:
            row[group] = overrides[group]
    row["_overrides"] = {k: v for k, v in overrides.items() if not is_presentation_key(k)}
    row["_sweep_file"] = overrides.get("sweep")
    row["_compare"] = record.config.get("compare") or {}
    return row


def read_tables(paths: Sequence[str], run_ids: Sequence[int], name: str) -> pd.DataFrame:
    """Every run's `name` CSV as one table with a `run_id` column.

    Files are read as bytes and parsed together, one parse per distinct header (older run
    folders may have fewer columns): a thousand separate `read_csv` calls take seconds.
    """
    columns = {HISTORY: HISTORY_COLUMNS, EPOCHS: EPOCH_COLUMNS}.get(name)
    by_header: dict[bytes, list[tuple[int, bytes]]] = {}
    for run_id, path in zip(run_ids, paths, strict=True):
        try:
            blob = (Path(path) / name).read_bytes()
        except OSError:
            continue
        header, _, body = blob.partition(b"\n")
        if columns is not None and not valid_header(
                header.decode("utf-8", errors="replace").strip().split(","), columns):
            continue  # not the contract's file: named by runfolder.unreadable_files
        if body.strip():
            by_header.setdefault(header, []).append((run_id, body if body.endswith(b"\n")
                                                     else body + b"\n"))
    frames = []
    for header, parts in by_header.items():
        frames += _parse(header, parts)
    if not frames:
        return pd.DataFrame(columns=["run_id"])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _parse(header: bytes, parts: list[tuple[int, bytes]]) -> list[pd.DataFrame]:
    """The files of one header parsed together; if that fails, one by one, leaving out the ones
    that do not parse (a file cut mid-write)."""
    def one(group: list[tuple[int, bytes]]) -> pd.DataFrame:
        frame = pd.read_csv(io.BytesIO(header + b"\n" + b"".join(part for _, part in group)))
        # A value cut mid-write reads as text: NaN instead, so that the column stays numeric.
        frame = frame.apply(pd.to_numeric, errors="coerce")
        counts = [part.count(b"\n") for _, part in group]
        frame.insert(0, "run_id", np.repeat([run_id for run_id, _ in group], counts))
        return frame

    try:
        return [one(parts)]
    except (ValueError, pd.errors.ParserError):
        frames = []
        for part in parts:
            with contextlib.suppress(ValueError, pd.errors.ParserError):
                frames.append(one([part]))
        return frames


def varying_keys(runs: pd.DataFrame) -> list[str]:
    """Keys the user swept (from the overrides) whose values differ across runs; without
    overrides, every config column that differs. The seed is a repeat, not a key."""
    swept = list(dict.fromkeys(k for keys in runs["_overrides"] for k in keys))
    candidates = [k for k in swept if k in runs and k != REPEAT_KEY]
    if not swept:  # no overrides recorded at all: fall back to every config value that differs
        candidates = [c for c in runs.columns if c not in META_COLUMNS and c != REPEAT_KEY
                      and not c.startswith("_") and not is_presentation_key(c)]
    return [k for k in candidates if runs[k].astype(str).nunique(dropna=False) > 1]


def _with_sweep_key(runs: pd.DataFrame) -> pd.DataFrame:
    """Label each run by its sweep folder (with the parent's name where two share a name),
    plus the sweep's code commit where the sweeps' commits differ."""
    parents = runs["path"].map(lambda p: Path(p).parent)
    label = parents.map(lambda p: p.name)
    if label.nunique() < parents.nunique():  # two folders of one name (two dates, say)
        label = parents.map(lambda p: f"{p.parent.name}/{p.name}")
    commits = runs["commit"].fillna("unknown").astype(str)
    per_sweep = commits.groupby(label).agg(lambda c: c.mode().iloc[0])
    if label.nunique() > 1 and per_sweep.nunique() > 1:
        label = label + " @ " + label.map(per_sweep).str[:12]
    return runs.assign(**{SWEEP_KEY: label})


def drop_copies(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Runs that share an identity (config hash, which covers the seed).

    Those that agree in their status and every result are copies of one run: the first found is
    kept, the others are dropped and returned with the path of the run they copy (`copy_of`).
    Those that ended with results that disagree (another machine, another commit) are all
    kept, and returned as the conflicts.
    """
    shared = runs[runs["config_hash"].notna() & runs.duplicated("config_hash", keep=False)]
    if shared.empty:
        return runs, runs.iloc[:0].assign(copy_of=[]), runs.iloc[:0]
    result = shared[[c for c in RESULT_COLUMNS if c in shared]].apply(
        lambda column: column.map(repr)).agg("|".join, axis=1)  # repr: NaN equals NaN
    identity = shared["config_hash"] + "|" + result
    copy = identity.duplicated()
    first_path = shared.loc[~copy, "path"].set_axis(identity[~copy])
    duplicates = shared[copy].assign(copy_of=identity[copy].map(first_path))
    ended = shared[~copy & shared["status"].isin(ENDED_WITH_RESULT)]
    conflicts = ended[ended.duplicated("config_hash", keep=False)]
    return runs.drop(duplicates.index), duplicates, conflicts


def _sources(runs: pd.DataFrame, duplicates: pd.DataFrame,
             conflicts: pd.DataFrame) -> pd.Series:
    """For each run, a label shared by the sweep folders shown to hold the same code's runs:
    linked by copies that agree, never by runs that disagree."""
    def folder(path: object) -> str:
        return str(Path(str(path)).parent)

    parent = {f: f for f in runs["path"].map(folder)}

    def root(f: str) -> str:
        while parent[f] != f:
            f = parent[f]
        return f

    disagree = {frozenset(group.map(folder)) for _, group in
                conflicts.groupby("config_hash")["path"]}
    for path, copy_of in zip(duplicates["path"], duplicates["copy_of"], strict=True):
        a, b = folder(path), folder(copy_of)
        if a in parent and b in parent and not any({a, b} <= d for d in disagree):
            parent[root(a)] = root(b)
    return runs["path"].map(lambda p: root(folder(p)))


class Results:
    """The runs of one comparison and the keys they are compared by."""

    def __init__(self, runs: pd.DataFrame, varying: list[str], default_keys: list[str],
                 candidates: list[str], tables: dict[str, pd.DataFrame] | None = None,
                 duplicates: pd.DataFrame | None = None,
                 conflicts: pd.DataFrame | None = None) -> None:
        self.runs = runs  # one row per run, each counted once
        # Copies of a run found again in another folder, dropped (with `copy_of`: the kept run).
        self.duplicates = duplicates if duplicates is not None else runs.iloc[:0]
        # Runs of one identity whose results disagree: all kept, as the different runs they are.
        self.conflicts = conflicts if conflicts is not None else runs.iloc[:0]
        self.varying = varying  # the compared keys
        self.default_keys = default_keys  # compared when no keys are asked for
        self.candidates = candidates  # every key whose values differ between runs
        # Keys that vary but are not compared: their runs are pooled into one setting.
        self.pooled = [k for k in candidates if k not in varying]
        self._tables = tables if tables is not None else {}

    def _table(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            self._tables[name] = read_tables(self.runs["path"].tolist(),
                                             self.runs["run_id"].tolist(), name)
        return self._tables[name]

    def _joined(self, name: str) -> pd.DataFrame:
        keep = list(dict.fromkeys(["run_id", "setting", *self.varying,
                                   *([REPEAT_KEY] if REPEAT_KEY in self.runs else [])]))
        return self._table(name).merge(self.runs[keep], on="run_id", how="left")

    @cached_property
    def steps(self) -> pd.DataFrame:
        """One row per logged iteration: run_id, iteration, epoch, train_loss, the keys."""
        return self._joined(HISTORY)

    @cached_property
    def epochs(self) -> pd.DataFrame:
        """One row per evaluation: run_id, epoch, train_acc, test_acc, val_acc, …, the keys."""
        return self._joined(EPOCHS)

    def by(self, keys: Sequence[str] | None) -> Results:
        """The same runs compared by `keys` (None: the default keys)."""
        if keys:
            missing = [k for k in keys if k not in self.runs]
            if missing:
                names = self.user_keys()
                raise KeyError(f"--by {', '.join(missing)}: no such key"
                               f"{closest(missing[0], names)}; the keys that vary are "
                               f"{', '.join(self.default_keys) or '(none)'}, and any config "
                               f"key of these runs: {', '.join(names)}")
        varying = list(keys) if keys else list(self.default_keys)
        runs = self.runs.assign(setting=setting_labels(self.runs, varying))
        return Results(runs, varying, self.default_keys, self.candidates, self._tables,
                       self.duplicates, self.conflicts)

    def user_keys(self) -> list[str]:
        """The keys a user compares by: config keys and groups, and the sweep; not the
        bookkeeping columns (run, path, status, metrics) nor the presentation keys."""
        return sorted(c for c in self.runs.columns if (not c.startswith("_") and
                      c not in META_COLUMNS[:META_COLUMNS.index("setting")] + SUMMARY_METRICS
                      and c != "setting" and not is_presentation_key(c)) or c == SWEEP_KEY)

    def table(self) -> pd.DataFrame:
        """The runs as they are exported (runs.csv): without the internal columns."""
        return self.runs[[c for c in self.runs.columns if not c.startswith("_")]]

    def compare_settings(self) -> dict[str, object]:
        """The `compare` block of the runs' config (a sweep file's figure choices)."""
        return next((c for c in self.runs["_compare"] if c), {})

    def metrics(self) -> list[str]:
        return [m for m in SUMMARY_METRICS if m in self.runs and self.runs[m].notna().any()]

    @property
    def ok(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == Status.OK]

    def spread_label(self, blocks: bool = False) -> str:
        """What the runs of one setting differ by: "seeds" only when that is all they differ
        by, else "runs" (pooled keys, or repeats of one seed from several sweeps). With
        `blocks`, within each value of the pooled keys (what the statistics compare)."""
        if (self.pooled and not blocks) or REPEAT_KEY not in self.runs:
            return "runs"
        within = ["setting", *(self.pooled if blocks else []), REPEAT_KEY]
        repeats = self.runs.groupby(within, dropna=False).size()
        return "seeds" if (repeats <= 1).all() else "runs"


def gather(paths: Iterable[str | Path], pool_sweeps: bool = False) -> Results:
    """Read every run under `paths` once, each run counted once, compared by the keys that vary.

    A run found in several folders with the same results (a copy) counts once. When the same
    setting occurs in more than one sweep folder, and copies do not show the folders to hold
    the same code's runs, the sweep (its folder name, and its commit where those differ)
    becomes a compared key, unless `pool_sweeps`: then it is averaged over, and said to be.
    """
    run_dirs = find_run_dirs(paths)
    runs = pd.DataFrame([run_row(d) for d in run_dirs])
    runs, duplicates, conflicts = drop_copies(runs)
    runs = runs.reset_index(drop=True)
    runs.insert(0, "run_id", range(len(runs)))
    runs = _with_sweep_key(runs)
    candidates = varying_keys(runs)
    if runs[SWEEP_KEY].nunique() > 1:
        sources = _sources(runs, duplicates, conflicts)
        if (sources.groupby(setting_labels(runs, candidates)).nunique() > 1).any():
            candidates.append(SWEEP_KEY)
    defaults = [k for k in candidates if not (pool_sweeps and k == SWEEP_KEY)]
    return Results(runs, defaults, defaults, candidates, None, duplicates, conflicts).by(None)


def load_results(paths: Iterable[str | Path], by: Sequence[str] | None = None) -> Results:
    """Gather every run under `paths`; `by` overrides which keys are compared."""
    results = gather(paths)
    return results.by(by) if by else results


def setting_labels(runs: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """A readable name per run from its values of `keys` ("optimizer=sgd, conv.filter_num=16"),
    built column by column (a per-row apply takes seconds over 100,000s of rows)."""
    if not keys:
        return pd.Series("all runs", index=runs.index)
    label = f"{keys[0]}=" + runs[keys[0]].astype(str)
    for key in keys[1:]:
        label = label + f", {key}=" + runs[key].astype(str)
    return label


def value_order(values: Iterable[object]) -> list[object]:
    """One order for a key's values in every figure: numbers ascending, else text ascending."""
    unique = list(dict.fromkeys(v for v in values if not (isinstance(v, float) and np.isnan(v))))
    numbers = pd.to_numeric(pd.Series(unique, dtype=object), errors="coerce")
    if numbers.notna().all():
        return [unique[i] for i in np.argsort(numbers.to_numpy(), kind="stable")]
    return sorted(unique, key=str)


def sorted_by_values(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """`frame` with its rows in the one order of the keys' values (`value_order`)."""
    if not keys:
        return frame
    ranks = pd.DataFrame({i: frame[k].map({v: j for j, v in enumerate(value_order(frame[k]))})
                          for i, k in enumerate(keys)}, index=frame.index)
    return frame.loc[ranks.sort_values(list(ranks.columns), kind="stable").index]


def is_higher_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER
