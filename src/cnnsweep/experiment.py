"""One run: config → data, network, optimizer → training → a self-describing run folder.

The run folder contract (docs in ARCHITECTURE.md): `history.csv` (one row per logged step),
`epochs.csv` (one row per evaluation), `params.npz`/`params_init.npz` when asked, and
`summary.json`, written last and atomically, whose presence marks a finished run. A failure
never escapes: it is recorded as status `failed` with its traceback so a sweep goes on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_info, threadpool_limits

import cnnsweep
from cnnsweep.data import load_dataset
from cnnsweep.nn import build_network, make_optimizer
from cnnsweep.nn.networks import plan_network
from cnnsweep.schema import ConfigError, arch_spec, train_settings, validate
from cnnsweep.train import EpochRecord, StepRecord, TrainingCallback, train

log = logging.getLogger("cnnsweep")

SUMMARY = "summary.json"
RUN_FILES = ("history.csv", "epochs.csv", "params.npz", "params_init.npz", SUMMARY)
# Keys that change how results are shown, not what is computed: outside the config hash.
PRESENTATION_KEYS = ("compare",)
MNIST_SHAPE = (1, 28, 28)


def config_hash(cfg: DictConfig) -> str:
    """A stable digest of everything in the config that can change a run's numbers."""
    container = OmegaConf.to_container(cfg, resolve=True)
    for key in PRESENTATION_KEYS:
        container.pop(key, None)
    blob = json.dumps(container, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2, default=str, allow_nan=True) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_summary(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / SUMMARY).read_text())
    except (OSError, ValueError):
        return None


def source_commit() -> str | None:
    """The git commit of the cnnsweep checkout this run came from (`-dirty` if edited)."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             cwd=Path(cnnsweep.__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str | None]:
    import hydra
    import omegaconf

    blas = next((f"{i['internal_api']} {i['version']}" for i in threadpool_info()
                 if i.get("user_api") == "blas"), "unknown")
    return {"cnnsweep": cnnsweep.__version__, "numpy": np.__version__,
            "hydra": hydra.__version__, "omegaconf": omegaconf.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "blas": blas,
            "commit": source_commit()}


class RunFolderWriter(TrainingCallback):
    """Streams history.csv and epochs.csv into the run folder and logs each epoch."""

    def __init__(self, run_dir: Path, label: str) -> None:
        self.label = label
        self._history = open(run_dir / "history.csv", "w", newline="")  # noqa: SIM115
        self._epochs = open(run_dir / "epochs.csv", "w", newline="")  # noqa: SIM115
        self.history = csv.writer(self._history)
        self.history.writerow(["iteration", "epoch", "train_loss"])
        self.epochs = csv.writer(self._epochs)
        self.epochs.writerow(["epoch", "iteration", "train_acc", "test_acc", "val_acc", "seconds"])

    def on_step(self, record: StepRecord) -> None:
        self.history.writerow([record.iteration, record.epoch, repr(float(record.train_loss))])

    def on_epoch(self, record: EpochRecord, of_epochs: int) -> None:
        self.epochs.writerow([record.epoch, record.iteration, record.train_acc, record.test_acc,
                              record.val_acc, f"{record.seconds:.3f}"])
        self._history.flush()
        self._epochs.flush()
        val = "" if np.isnan(record.val_acc) else f" val_acc {record.val_acc:.4f}"
        log.info("%sepoch %d/%d  train_acc %.4f  test_acc %.4f%s  (%.1f s)", self.label,
                 record.epoch, of_epochs, record.train_acc, record.test_acc, val, record.seconds)

    def close(self) -> None:
        self._history.close()
        self._epochs.close()


def _train_run(cfg: DictConfig, run_dir: Path, label: str, summary: dict) -> None:
    """Everything that can fail, filling `summary` as it goes."""
    ds = cfg.dataset
    validate(cfg, None if ds.name == "idx" else MNIST_SHAPE)
    started = time.perf_counter()
    files = {k: ds[k] for k in ("train_images", "train_labels", "test_images", "test_labels")}
    data = load_dataset(ds.name, data_dir=ds.data_dir, download=ds.download, files=files,
                        normalize=ds.normalize, dtype=cfg.trainer.dtype,
                        train_size=ds.train_size, test_size=ds.test_size,
                        validation_fraction=ds.validation_fraction, split_seed=ds.split_seed)
    spec = arch_spec(cfg)
    try:
        plan_network(spec, data.input_shape, data.n_classes)
    except ValueError as exc:
        raise ConfigError(f"{exc} (input {data.input_shape})") from None
    summary["data_seconds"] = round(time.perf_counter() - started, 4)
    summary.update(train_size=len(data.x_train), test_size=len(data.x_test),
                   val_size=0 if data.x_val is None else len(data.x_val))

    rng = np.random.default_rng(cfg.seed)
    tr = cfg.trainer
    network = build_network(spec, data.input_shape, data.n_classes, init=cfg.init.name,
                            init_std=cfg.init.std, rng=rng, dtype=tr.dtype,
                            weight_decay=tr.weight_decay)
    summary["param_count"] = network.param_count
    if tr.save_params:
        first = {k: network.params[k] for k in ("W1", "b1")}
        np.savez(run_dir / "params_init.npz", **first)
    opt_args = {k: v for k, v in OmegaConf.to_container(cfg.optimizer).items() if k != "name"}
    optimizer = make_optimizer(cfg.optimizer.name, **opt_args)
    settings = train_settings(tr)
    writer = RunFolderWriter(run_dir, label)
    try:
        with threadpool_limits(limits=tr.threads):
            result = train(network, optimizer, data.x_train, data.t_train, data.x_test,
                           data.t_test, settings, rng, writer, data.x_val, data.t_val)
    finally:
        writer.close()
    if tr.save_params:
        network.save(run_dir / "params.npz")
    last = result.epochs[-1]
    summary.update(
        status=result.status, message=result.message, iterations=result.iterations,
        epochs=last.epoch, train_seconds=round(result.train_seconds, 3),
        images_per_second=round(result.images_per_second, 1),
        final_train_loss=result.steps[-1].train_loss if result.steps else None,
        train_acc=last.train_acc,
        # The whole test set at the end; a diverged run keeps its last sampled evaluation.
        test_acc=result.final_test_acc if result.status == "ok" else last.test_acc,
        val_acc=None if np.isnan(last.val_acc) else last.val_acc,
        best_test_acc=max(e.test_acc for e in result.epochs),
    )


def run_experiment(cfg: DictConfig, run_dir: Path, label: str = "") -> dict[str, Any]:
    """Train the run of `cfg` into `run_dir` unless it is already done; return its summary.

    A folder holding an `ok` summary of the same config hash is skipped (resume). Anything
    that goes wrong becomes status `failed` with the error; nothing is raised.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    digest = config_hash(cfg)
    previous = read_summary(run_dir)
    if previous and previous.get("status") == "ok" and previous.get("config_hash") == digest:
        log.info("%salready done (status ok, same config), skipped", label)
        return {**previous, "skipped": True}
    for name in RUN_FILES:  # a stale or partial earlier attempt must not mix with this one
        (run_dir / name).unlink(missing_ok=True)

    start = time.perf_counter()
    summary: dict[str, Any] = {
        "status": "failed", "run": run_dir.name, "seed": cfg.get("seed"),
        "config_hash": digest, "started_at": datetime.now(timezone.utc).isoformat(),
        "threads": cfg.trainer.threads, "pid": os.getpid(), "versions": versions(),
    }
    try:
        _train_run(cfg, run_dir, label, summary)
    except Exception as exc:  # recorded, so that the rest of the sweep goes on
        summary.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc())
        log.error("%sfailed: %s: %s", label, type(exc).__name__, exc)
    summary["wall_seconds"] = round(time.perf_counter() - start, 3)
    summary["finished_at"] = datetime.now(timezone.utc).isoformat()
    write_json_atomic(run_dir / SUMMARY, summary)
    return summary


def describe(summary: dict, run_dir: Path) -> str:
    """A few lines for the terminal at the end of a single run."""
    if summary["status"] == "failed":
        return f"run failed: {summary.get('error')}\nrun folder: {run_dir}"
    lines = [f"status {summary['status']}" + (f" ({summary['message']})"
                                               if summary.get("message") else ""),
             f"test accuracy {summary['test_acc']:.4f}  (train {summary['train_acc']:.4f})",
             f"time {summary['wall_seconds']:.1f} s, {summary['images_per_second']:.0f} images/s "
             f"in training, {summary['param_count']:,} parameters",
             f"run folder: {run_dir}"]
    return "\n".join(lines)


def main(cfg: DictConfig) -> float:
    """The Hydra task: one run into Hydra's output folder; a failed single run exits non-zero.

    Returns the run's `compare.metric` (NaN unless it finished ok), the objective that an
    optimizing sweeper such as Optuna maximizes; the basic sweeper ignores it.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    label = f"[{hc.job.override_dirname or 'defaults'}] " if multirun else ""
    summary = run_experiment(cfg, run_dir, label)
    if not multirun:
        print(describe(summary, run_dir), file=sys.stderr if summary["status"] == "failed"
              else sys.stdout)
        if summary["status"] == "failed":
            sys.exit(1)
    value = summary.get(cfg.compare.metric) if summary["status"] == "ok" else None
    return float("nan") if value is None else float(value)
