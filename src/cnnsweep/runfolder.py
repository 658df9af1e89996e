"""The run folder: the one contract between training, which writes it, and analysis, which reads it.

    .hydra/config.yaml     CONFIG       the composed config (written by Hydra)
    .hydra/overrides.yaml  OVERRIDES    the overrides that made this run (written by Hydra)
    run.log                RUN_LOG      the run's log lines (Hydra's job log)
    history.csv            HISTORY      HISTORY_COLUMNS, one row per logged training step
    epochs.csv             EPOCHS       EPOCH_COLUMNS, one row per evaluation (0: before training)
    params.npz             PARAMS       the learned parameters (`Network.load`)
    params_init.npz        PARAMS_INIT  the first layer's weights before training (FIRST_LAYER)
    summary.json           SUMMARY      written last and atomically: status, metrics, provenance,
                                        and the resolved config and overrides again
    checkpoint.npz         CHECKPOINT   the latest training state (checkpoint.py), atomically
                                        replaced every epoch; the final one stays for extension
    .cnnsweep.lock         LOCK         held (flock) by the one process training the run

A folder without `summary.json` is an unfinished run. A run's identity is its config without the
presentation keys (how results are shown, not what is computed): they name neither its folder nor
its config hash. This module imports neither Hydra nor the engine: both sides share it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from cnnsweep.atomic import atomic_write, atomic_write_text

CONFIG = ".hydra/config.yaml"
OVERRIDES = ".hydra/overrides.yaml"
RUN_LOG = "run.log"
HISTORY = "history.csv"
HISTORY_COLUMNS = ("iteration", "epoch", "train_loss")
EPOCHS = "epochs.csv"
# train_sample/test_sample: how many images the accuracies were measured on (the book
# evaluates on the first 1,000); the validation set is always evaluated whole.
EPOCH_COLUMNS = ("epoch", "iteration", "train_acc", "test_acc", "val_acc", "seconds",
                 "train_sample", "test_sample")
PARAMS = "params.npz"
PARAMS_INIT = "params_init.npz"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.npz"
# What one training attempt writes; an attempt from scratch removes them first so nothing stale
# mixes in (one that continues keeps the checkpoint and rewrites the rest from it).
TRAINING_FILES = (HISTORY, EPOCHS, PARAMS, PARAMS_INIT, SUMMARY, CHECKPOINT)
# The first layer's weights, (FN, C, FH, FW) for a convolution: PARAMS_INIT holds only these,
# and the filters figure draws them from both files.
FIRST_LAYER = "W1"

LOCK = ".cnnsweep.lock"
# Config keys (and `+sweep`, the sweep file that asked for a run) that change how results are
# shown, not what is computed. Everything below them is presentation too (`compare.metric`).
PRESENTATION_KEYS = ("compare", "sweep")
# Keys that say how a run keeps checkpoints, not what it computes: like presentation keys, they
# name neither its folder nor its config hash (a run continued with other checkpoint settings
# is the same run).
CHECKPOINT_KEYS = ("trainer.checkpoint", "trainer.checkpoint_seconds")
# The training budget: runs that differ only here are one training stopped at different points,
# so the longer continues from the shorter one's last checkpoint (extension).
BUDGET_KEYS = ("trainer.epochs", "trainer.max_iterations")

# The C YAML parser is ~10× faster; gathering 1,000 runs reads 2,000 YAML files.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Status(str, Enum):
    """How a run ended. A str, so it is written to JSON and compared as its plain value."""

    OK = "ok"  # trained to the end
    DIVERGED = "diverged"  # the loss became NaN or infinite: a result, with its history so far
    FAILED = "failed"  # an error stopped it; summary.json holds the error and the traceback
    INTERRUPTED = "interrupted"  # stopped by a signal (Ctrl-C, SIGTERM); a rerun continues it
    UNFINISHED = "unfinished"  # no summary.json: running, killed, or never started
    # Never written: what a launch reports for a run another process holds the lock of.
    RUNNING_ELSEWHERE = "running elsewhere"

    def __str__(self) -> str:
        return self.value


# The runs that trained to a result: a diverged run's history up to the NaN is one.
ENDED_WITH_RESULT = (Status.OK, Status.DIVERGED)


class NoRunsError(ValueError):
    """The given folders hold no run folder."""


# ---------------------------------------------------------------------------------------------
# summary.json: one typed definition for every writer (a run, a launch marking a run it stopped)
# and every reader (analysis, progress, the end of a sweep, checkpoints looking for a run to
# extend)


def _metric(lower_is_better: bool = False) -> Any:
    """A summary field that analysis shows as a metric column (`SUMMARY_METRICS`)."""
    return field(default=None, metadata={"metric": True, "lower_is_better": lower_is_better})


@dataclass
class Summary:
    """What `summary.json` holds. Written last and atomically, so a folder that has one is a
    run that ended (`status`); every key but `status` and `run` is optional, since a run that
    failed early, one stopped by its launch, and one written by an older version lack some.

    The metric fields (`_metric`) are analysis's metric columns in this order; a failed or
    stopped run leaves them None (NaN in the runs table).
    """

    status: Status = Status.UNFINISHED
    run: str = ""
    seed: int | None = None
    # The run's identity (config_hash) and what it shares with runs of another budget.
    config_hash: str | None = None
    continuation_hash: str | None = None
    started_at: str | None = None  # ISO 8601, UTC
    threads: int | None = None
    pid: int | None = None
    versions: dict[str, Any] = field(default_factory=dict)  # packages, BLAS, CPU, git commit
    # The checkpoints this run continued ({run, iteration, epoch, mid_epoch}, the last last) and
    # the reasons checkpoints were refused.
    continued_from: list[dict[str, Any]] = field(default_factory=list)
    checkpoints_ignored: list[str] = field(default_factory=list)
    data_seconds: float | None = None
    train_size: int | None = None
    test_size: int | None = None
    val_size: int | None = None
    message: str | None = None  # why a diverged run stopped
    # test_acc: all test images at the end (a diverged run: its last sampled evaluation);
    # train_acc on train_sample images; best_test_acc: the best per-epoch evaluation.
    test_acc: float | None = _metric()
    train_acc: float | None = _metric()
    val_acc: float | None = _metric()
    best_test_acc: float | None = _metric()
    final_train_loss: float | None = _metric(lower_is_better=True)
    wall_seconds: float | None = _metric(lower_is_better=True)
    train_seconds: float | None = _metric(lower_is_better=True)
    images_per_second: float | None = _metric()
    param_count: int | None = _metric(lower_is_better=True)
    iterations: int | None = _metric()
    epochs: int | None = _metric()
    train_sample: int | None = None
    error: str | None = None  # a failed or interrupted run: what stopped it
    traceback: str | None = None
    finished_at: str | None = None
    memory_mib: float | None = None
    # The resolved config and the overrides again: analysis reads one JSON file per run.
    config: dict[str, Any] | None = None
    overrides: list[str] | None = None
    # Never written: what run_experiment reports besides (a run skipped as done; the process
    # holding a run another launch trains).
    skipped: bool = field(default=False, metadata={"written": False})
    holder: str | None = field(default=None, metadata={"written": False})

    def to_json(self) -> dict[str, Any]:
        """The file's content: the fields that are set, in the order above."""
        return {f.name: value for f in fields(self) if f.metadata.get("written", True)
                for value in (getattr(self, f.name),) if not _unset(value)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        """A summary as read; keys this version does not know are dropped, and a status it does
        not know reads as unfinished."""
        known = {f.name for f in fields(cls) if f.metadata.get("written", True)}
        summary = cls(**{k: v for k, v in data.items() if k in known and k != "status"})
        try:
            summary.status = Status(data.get("status"))
        except ValueError:
            summary.status = Status.UNFINISHED
        return summary

    def metric(self, name: str) -> Any:
        """A metric field by its name (None if unset or not a field)."""
        return getattr(self, name, None) if name in SUMMARY_METRICS else None


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, (list, dict)) and not value)


SUMMARY_METRICS = tuple(f.name for f in fields(Summary) if f.metadata.get("metric"))
LOWER_IS_BETTER = tuple(f.name for f in fields(Summary) if f.metadata.get("lower_is_better"))


# ---------------------------------------------------------------------------------------------
# Identity: folder names and config hashes


def override_key(override: str) -> str:
    """`+conv.pad=1` → `conv.pad`; `optimizer=sgd` → `optimizer`; `~trainer.x` → `trainer.x`."""
    return override.split("=", 1)[0].lstrip("+~").split("@", 1)[0]


def is_presentation_key(key: str) -> bool:
    """A key that does not change a run's numbers: presentation, or checkpoint settings."""
    return key.split(".", 1)[0] in PRESENTATION_KEYS or key in CHECKPOINT_KEYS


def run_name(overrides: Sequence[str]) -> str:
    """A run folder's name: its sorted overrides without presentation keys, as Hydra's
    `override_dirname` joins them (`conv.filter_num=16,optimizer=sgd`), one path component,
    at most 200 bytes (longer names end in a digest that keeps them unique)."""
    lines = sorted(str(o) for o in overrides if not is_presentation_key(override_key(str(o))))
    name = ",".join(lines).replace("/", "_").replace("\\", "_").strip(".") or "defaults"
    if len(name.encode()) > 200:  # file names stop at 255 bytes
        name = f"{name[:180]}~{hashlib.sha1(name.encode()).hexdigest()[:10]}"
    return name


def _without(config: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """`config` less the dotted `keys` (copies only the nodes on their paths)."""
    config = dict(config)
    for key in keys:
        *parents, leaf = key.split(".")
        node = config
        for name in parents:
            if not isinstance(node.get(name), dict):
                break
            node[name] = node = dict(node[name])
        else:
            node.pop(leaf, None)
    return config


def _digest(config: dict[str, Any]) -> str:
    identity = {k: v for k, v in _without(config, CHECKPOINT_KEYS).items()
                if not is_presentation_key(k)}
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def config_hash(config: dict[str, Any]) -> str:
    """A stable digest of everything in a resolved config that can change a run's numbers."""
    return _digest(config)


def continuation_hash(config: dict[str, Any]) -> str:
    """`config_hash` less the training budget (`BUDGET_KEYS`): runs that share it train the
    same way and stop at different points, so a checkpoint of one continues another."""
    return _digest(_without(config, BUDGET_KEYS))


def continuation_note(summary: Summary | None) -> str:
    """"continued from epoch 3" (of another run: "... of <run>"), or "" for a run trained in
    one go; from the summary's `continued_from`, the last continuation."""
    chain = summary.continued_from if summary is not None else []
    if not isinstance(chain, list) or not chain or not isinstance(chain[-1], dict):
        return ""
    last = chain[-1]
    where = f"epoch {last.get('epoch')}"
    if last.get("mid_epoch"):
        where += f" (iteration {last.get('iteration')})"
    other = last.get("run") not in (None, summary.run)
    return f"continued from {where}" + (f" of {last['run']}" if other else "")


# ---------------------------------------------------------------------------------------------
# The training side


def clear_training_files(run_dir: Path, keep: Sequence[str] = ()) -> None:
    """Remove what an earlier attempt wrote but `keep` (Hydra's own files stay)."""
    for name in TRAINING_FILES:
        if name not in keep:
            (run_dir / name).unlink(missing_ok=True)


class RunWriter:
    """Streams a run's history and evaluations into its folder, one CSV row at a time."""

    def __init__(self, run_dir: Path) -> None:
        self._history_file = open(run_dir / HISTORY, "w", newline="")  # noqa: SIM115
        self._epochs_file = open(run_dir / EPOCHS, "w", newline="")  # noqa: SIM115
        self._history = csv.writer(self._history_file)
        self._epochs = csv.writer(self._epochs_file)
        self._history.writerow(HISTORY_COLUMNS)
        self._epochs.writerow(EPOCH_COLUMNS)

    def write_step(self, iteration: int, epoch: int, train_loss: float) -> None:
        self._history.writerow([iteration, epoch, repr(float(train_loss))])

    def write_epoch(self, epoch: int, iteration: int, train_acc: float, test_acc: float,
                    val_acc: float, seconds: float, train_sample: int, test_sample: int) -> None:
        """One evaluation; both files are flushed, so a reader sees whole epochs as they end."""
        self._epochs.writerow([epoch, iteration, train_acc, test_acc, val_acc, f"{seconds:.3f}",
                               train_sample, test_sample])
        self._history_file.flush()
        self._epochs_file.flush()

    def close(self) -> None:
        self._history_file.close()
        self._epochs_file.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_summary(run_dir: Path, summary: Summary) -> None:
    """Write `summary.json` atomically: it marks the run finished, so never half of it."""
    text = json.dumps(summary.to_json(), indent=2, default=str, allow_nan=True) + "\n"
    atomic_write_text(run_dir / SUMMARY, text)


def save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """Save named arrays as `.npz` (loaded back with `allow_pickle=False`), atomically."""
    import numpy as np  # only the training side saves arrays

    atomic_write(path, lambda f: np.savez(f, **arrays))


# ---------------------------------------------------------------------------------------------
# The analysis side


def _read_yaml(path: Path) -> Any:
    try:
        with open(path) as f:
            return yaml.load(f, Loader=_YAML_LOADER)
    except (OSError, yaml.YAMLError):
        return None


def read_summary(run_dir: Path) -> Summary | None:
    """The run's summary, or None while there is none (or it cannot be read)."""
    try:
        data = json.loads((Path(run_dir) / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return Summary.from_json(data) if isinstance(data, dict) else None


def status_of(summary: Summary | None) -> Status:
    return summary.status if summary is not None else Status.UNFINISHED


@dataclass
class RunRecord:
    """What one run folder says about its run."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)

    @property
    def status(self) -> Status:
        return self.summary.status


def read_run(run_dir: Path) -> RunRecord:
    """A finished run's summary holds its config and overrides (one JSON file to read); an
    unfinished one, or one written before summaries held them, has Hydra's YAML files."""
    summary = read_summary(run_dir) or Summary()
    config, overrides = summary.config, summary.overrides
    summary.config = summary.overrides = None
    if not isinstance(config, dict) or not isinstance(overrides, list):
        config, overrides = _read_yaml(run_dir / CONFIG), _read_yaml(run_dir / OVERRIDES)
    return RunRecord(Path(run_dir), config if isinstance(config, dict) else {},
                     [str(o) for o in overrides] if isinstance(overrides, list) else [],
                     summary)


def unreadable_files(run_dir: Path) -> list[str]:
    """The files of a run folder that analysis cannot read, each as "<path>: <why, and what
    analysis does instead>": a summary that is not JSON (truncated or corrupt), a CSV whose
    header is not the contract's. Missing files are not listed (an unfinished run has none)."""
    problems = []
    summary = Path(run_dir) / SUMMARY
    if summary.is_file():
        try:
            json.loads(summary.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{summary}: not readable JSON ({type(exc).__name__}: truncated or "
                            "corrupt); the run counts as unfinished")
    for name, columns in ((HISTORY, HISTORY_COLUMNS), (EPOCHS, EPOCH_COLUMNS)):
        header = csv_header(Path(run_dir) / name)
        if header is not None and not valid_header(header, columns):
            shown = ",".join(header)[:60] or "(empty)"
            problems.append(f"{Path(run_dir) / name}: its header '{shown}' is not "
                            f"{','.join(columns)}; left out of the curves")
    return problems


def csv_header(path: Path) -> list[str] | None:
    """The first line of a CSV file, split; None where there is no such file."""
    try:
        with open(path, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return None
    return first.decode("utf-8", errors="replace").strip().split(",")


def valid_header(header: Sequence[str], columns: Sequence[str]) -> bool:
    """A contract's header, or the first columns of it (older run folders wrote fewer)."""
    return 0 < len(header) <= len(columns) and list(header) == list(columns[:len(header)])


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG).is_file() or (path / SUMMARY).is_file()


def started_runs(sweep_dir: Path) -> list[Path]:
    """The run folders directly in one sweep folder that Hydra has started (their composed
    config is written), sorted; none where the folder does not exist."""
    return sorted(p.parent.parent for p in Path(sweep_dir).glob(f"*/{CONFIG}"))


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders under `paths`: each path may be a run folder, a sweep, or a tree of sweeps."""
    paths = list(paths)
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise NoRunsError(f"{path} does not exist")
        if is_run_dir(path):
            found.append(path)
            continue
        found.extend(sorted(p.parent.parent for p in path.rglob(CONFIG)))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise NoRunsError(f"no run folders (with {CONFIG} or {SUMMARY}) under "
                          f"{', '.join(map(str, paths))}; give a sweep folder such as "
                          "outputs/sweeps/<date>, or a run folder")
    return unique
