"""One run: config → data, network, optimizer → training → a self-describing run folder.

The run folder's files are defined in runfolder.py; `summary.json`, written last and
atomically, marks a finished run. A failure never escapes: it is recorded as status `failed`
with its traceback, so that a sweep goes on.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_info, threadpool_limits

import cnnsweep
from cnnsweep import checkpoint, interrupts, runfolder
from cnnsweep.build import build_run
from cnnsweep.data.datasets import load
from cnnsweep.exitcodes import ExitCode
from cnnsweep.interrupts import Interrupted, in_launching_process, while_training
from cnnsweep.nn.allocator import keep_freed_memory
from cnnsweep.nn.networks import Network, network_from_plan
from cnnsweep.nn.optimizers import Optimizer
from cnnsweep.resolvers import register_resolvers
from cnnsweep.runfolder import RunWriter, Status, Summary
from cnnsweep.runlock import RunLock
from cnnsweep.train import (
    Checkpointer,
    EpochRecord,
    StepRecord,
    TrainingCallback,
    TrainState,
    iterations_per_epoch,
    planned_iterations,
    train,
)

log = logging.getLogger("cnnsweep")

# A worker (joblib, Ray) composes each job's config again and names its folder, importing this
# module to run the task: the resolvers must exist there too.
register_resolvers()


def source_commit() -> str | None:
    """The git commit of the cnnsweep checkout this run came from (`-dirty` if edited)."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             cwd=Path(cnnsweep.__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def cpu_model() -> str:
    """The processor's model name (Linux /proc/cpuinfo, else what `platform` knows): runs on
    two machines that disagree in their numbers are told apart by it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_blas() -> str:
    """The BLAS NumPy computes with, as "openblas 0.3.31": SciPy ships a BLAS of its own, and
    which of the two threadpoolctl lists first depends on the order the process loaded them."""
    libraries = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    # A wheel's own copy sits in numpy.libs (Linux) or numpy/.dylibs (macOS).
    ours = [i for i in libraries
            if any("numpy" in part for part in Path(i.get("filepath") or "").parent.parts[-2:])]
    found = (ours or libraries)[:1]
    return f"{found[0]['internal_api']} {found[0]['version']}" if found else "unknown"


def versions() -> dict[str, str | None]:
    import hydra
    import omegaconf

    return {"cnnsweep": cnnsweep.__version__, "numpy": np.__version__,
            "hydra": hydra.__version__, "omegaconf": omegaconf.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "blas": numpy_blas(),
            "cpu": cpu_model(), "commit": source_commit()}


class RunProgress(TrainingCallback):
    """Writes each step and evaluation into the run folder and logs one line per epoch."""

    def __init__(self, writer: RunWriter, label: str, train_size: int, test_size: int) -> None:
        self.writer, self.label = writer, label
        self.sizes = {"train": train_size, "test": test_size}

    def on_step(self, record: StepRecord) -> None:
        self.writer.write_step(record.iteration, record.epoch, record.train_loss)

    def write(self, record: EpochRecord) -> None:
        self.writer.write_epoch(record.epoch, record.iteration, record.train_acc,
                                record.test_acc, record.val_acc, record.seconds,
                                record.train_sample, record.test_sample)

    def on_epoch(self, record: EpochRecord, of_epochs: int) -> None:
        self.write(record)
        val = "" if np.isnan(record.val_acc) else f"  val_acc {record.val_acc:.4f}"
        log.info("%sepoch %d/%d  %s %.4f  %s %.4f%s  (%.1f s)", self.label, record.epoch,
                 of_epochs, self._name("train", record.train_sample), record.train_acc,
                 self._name("test", record.test_sample), record.test_acc, val, record.seconds)

    def _name(self, split: str, sample: int) -> str:
        """`test_acc[1000]` when the evaluation used the first 1,000 images, else `test_acc`."""
        return f"{split}_acc" if sample >= self.sizes[split] else f"{split}_acc[{sample}]"


class RunCheckpointer(Checkpointer):
    """Saves the run's checkpoint into its folder; a stop signal noted during training
    (interrupts.stops_at_step_boundaries) is acted on once the state is saved."""

    def __init__(self, path: Path, network: Network, optimizer: Optimizer,
                 owner: checkpoint.Owner, continued_from: list[dict], every_seconds: float,
                 enabled: bool, label: str) -> None:
        self.path, self.network, self.optimizer, self.owner = path, network, optimizer, owner
        self.continued_from, self.enabled, self.label = continued_from, enabled, label
        self.every_seconds = every_seconds if enabled else None

    def save(self, state: TrainState) -> None:
        if not self.enabled:
            return
        try:
            checkpoint.save(self.path, self.network, self.optimizer, state, self.owner,
                            self.continued_from)
        except OSError as exc:  # a full disk: the previous checkpoint stays; training goes on
            log.warning("%scould not write %s (%s); the previous checkpoint stays valid",
                        self.label, self.path, exc.strerror or exc)

    def stop_requested(self) -> bool:
        return interrupts.stop_requested()

    def stop(self) -> None:
        interrupts.act_on_stop()


def _continuation(cfg_dict: dict, run_dir: Path, total: int, per_epoch: int, label: str,
                  summary: Summary, extend: bool) -> checkpoint.Checkpoint | None:
    """The checkpoint this run continues (checkpoint.find_start; another run's only when
    `extend`), recorded in `summary`; the run's own checkpoint is removed when it is not the
    one."""
    ignored: list[str] = []

    def warn(reason: str) -> None:
        log.warning("%signored a checkpoint: %s; not continued from it", label, reason)
        ignored.append(reason)

    found = checkpoint.find_start(run_dir, cfg_dict, total, warn, extend=extend)
    summary.checkpoints_ignored = ignored
    own = run_dir / runfolder.CHECKPOINT
    if found is None or found[1] != own:
        own.unlink(missing_ok=True)
    if found is None:
        return None
    start, path = found
    it = start.iteration
    summary.continued_from = [*start.continued_from, {
        "run": start.owner.run, "iteration": it, "epoch": it // per_epoch,
        "mid_epoch": it % per_epoch != 0}]
    log.info("%s%s (%s)", label, runfolder.continuation_note(summary), path)
    return start


def _train_run(cfg: DictConfig, run_dir: Path, label: str, summary: Summary,
               extend: bool = False) -> None:
    """Everything that can fail, filling `summary` as it goes."""
    # A mandatory value left unset (`???`) fails here, named by its key.
    cfg_dict = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    parts = build_run(cfg_dict)
    started = time.perf_counter()
    data = load(parts.source, parts.load_options, dtype=parts.run.dtype)
    summary.data_seconds = round(time.perf_counter() - started, 4)
    summary.train_size, summary.test_size = len(data.x_train), len(data.x_test)
    summary.val_size = 0 if data.x_val is None else len(data.x_val)

    rng = np.random.default_rng(parts.seed)
    network = network_from_plan(parts.layers, init=parts.init, rng=rng, dtype=parts.run.dtype,
                                weight_decay=parts.run.weight_decay)
    summary.param_count = network.param_count
    if parts.run.save_params:
        runfolder.save_arrays(run_dir / runfolder.PARAMS_INIT,
                              {runfolder.FIRST_LAYER: network.params[runfolder.FIRST_LAYER]})
    # The threads split each batch where the network allows it (one BLAS thread per part),
    # otherwise they are BLAS's: either way a fixed count gives the same numbers anywhere.
    split = network.set_threads(parts.run.threads)
    blas_threads = 1 if split > 1 else parts.run.threads
    settings = parts.training
    total = planned_iterations(len(data.x_train), settings)
    per_epoch = iterations_per_epoch(len(data.x_train), settings.batch_size, settings.sampling)
    start = _continuation(cfg_dict, run_dir, total, per_epoch, label, summary, extend)
    resume = None
    if start is not None:
        try:
            resume = checkpoint.restore(start, network, parts.optimizer) \
                .for_budget(total, per_epoch, settings.log_every)
        except checkpoint.CheckpointError as exc:  # checked before anything was copied
            log.warning("%signored a checkpoint: %s; not continued from it", label, exc)
            summary.checkpoints_ignored.append(str(exc))
            summary.continued_from = []
            if start.owner.run == run_dir.name:
                (run_dir / runfolder.CHECKPOINT).unlink(missing_ok=True)
    owner = checkpoint.Owner(summary.config_hash, summary.continuation_hash,
                             parts.run.dtype, run_dir.name)
    saver = RunCheckpointer(run_dir / runfolder.CHECKPOINT, network, parts.optimizer, owner,
                            summary.continued_from, parts.run.checkpoint_seconds,
                            parts.run.checkpoint, label)
    keep_freed_memory()  # every step reuses the last one's memory instead of faulting it in
    with RunWriter(run_dir) as writer, threadpool_limits(limits=blas_threads), \
            interrupts.stops_at_step_boundaries(hold_stops=not in_worker()):
        progress = RunProgress(writer, label, len(data.x_train), len(data.x_test))
        if resume is not None:  # the files as they were at the checkpoint
            for step in resume.steps:
                writer.write_step(step.iteration, step.epoch, step.train_loss)
            for record in resume.epochs:
                progress.write(record)
        result = train(network, parts.optimizer, data.x_train, data.t_train, data.x_test,
                       data.t_test, settings, rng, progress, data.x_val, data.t_val,
                       checkpointer=saver, resume=resume)
    if parts.run.save_params:
        runfolder.save_arrays(run_dir / runfolder.PARAMS, network.state_dict())
    last = result.epochs[-1]
    summary.status = Status.DIVERGED if result.diverged else Status.OK
    summary.message = result.message
    summary.iterations, summary.epochs = result.iterations, last.epoch
    summary.train_seconds = round(result.train_seconds, 3)
    summary.images_per_second = round(result.images_per_second, 1)
    summary.final_train_loss = result.steps[-1].train_loss if result.steps else None
    summary.train_acc, summary.train_sample = last.train_acc, last.train_sample
    # The whole test set at the end; a diverged run keeps its last sampled evaluation.
    summary.test_acc = last.test_acc if result.diverged else result.final_test_acc
    summary.val_acc = None if np.isnan(last.val_acc) else last.val_acc
    summary.best_test_acc = max(e.test_acc for e in result.epochs)


def run_experiment(cfg: DictConfig, run_dir: Path, label: str = "",
                   overrides: list[str] | None = None, extend: bool = False) -> Summary:
    """Train the run of `cfg` into `run_dir` unless it is done or being trained elsewhere;
    return its summary.

    The folder is claimed first (RunLock): a run another process trains is skipped. A folder
    holding an `ok` summary of the same config hash is skipped (resume). Anything that goes
    wrong becomes status `failed` with the error, and nothing is raised; Ctrl-C or SIGTERM
    record status `interrupted` and then stop the process.

    A run continues from its own checkpoint when it has one (an earlier attempt stopped); with
    `extend` (a sweep folder's run), also from the final checkpoint of a finished run in the
    same folder that differs only in a smaller budget (checkpoint.find_start).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir)
    holder = lock.acquire(patience=1.0)  # outlasts another launch's look at the lock
    if holder is not None:
        log.warning("%srunning elsewhere (%s), skipped", label, holder)
        return Summary(Status.RUNNING_ELSEWHERE, run_dir.name, holder=str(holder))
    try:
        return _attempt(cfg, run_dir, label, overrides, extend)
    finally:
        lock.release()


def _attempt(cfg: DictConfig, run_dir: Path, label: str,
             overrides: list[str] | None, extend: bool) -> Summary:
    config = OmegaConf.to_container(cfg, resolve=True)
    digest = runfolder.config_hash(config)
    previous = runfolder.read_summary(run_dir)
    if runfolder.status_of(previous) == Status.OK and previous.config_hash == digest:
        log.info("%salready done (status ok, same config), skipped", label)
        previous.skipped = True
        return previous
    # The checkpoint stays until the run decides whether to continue from it (_continuation).
    runfolder.clear_training_files(run_dir, keep=(runfolder.CHECKPOINT,))

    start = time.perf_counter()
    summary = Summary(
        Status.FAILED, run_dir.name, seed=cfg.get("seed"), config_hash=digest,
        continuation_hash=runfolder.continuation_hash(config),
        started_at=datetime.now(timezone.utc).isoformat(), threads=cfg.trainer.threads,
        pid=os.getpid(), versions=versions())
    try:
        with while_training(worker=in_worker()):
            _train_run(cfg, run_dir, label, summary, extend)
    except (KeyboardInterrupt, Interrupted) as exc:  # recorded, then the process stops
        name = "SIGINT" if isinstance(exc, KeyboardInterrupt) else str(exc)
        summary.status, summary.error = Status.INTERRUPTED, f"interrupted by {name}"
        _finish(run_dir, summary, start, config, overrides)
        raise
    except Exception as exc:  # recorded, so that the rest of the sweep goes on
        summary.status, summary.error = Status.FAILED, f"{type(exc).__name__}: {exc}"
        summary.traceback = traceback.format_exc()
        log.error("%sfailed: %s: %s", label, type(exc).__name__, exc)
    _finish(run_dir, summary, start, config, overrides)
    return summary


def in_worker() -> bool:
    """A launcher's worker process: a multirun's job outside the process that launched it."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN and \
        not in_launching_process()


def _finish(run_dir: Path, summary: Summary, start: float, config: dict,
            overrides: list[str] | None) -> None:
    summary.wall_seconds = round(time.perf_counter() - start, 3)
    summary.finished_at = datetime.now(timezone.utc).isoformat()
    summary.memory_mib = round(resident_mib(), 1)
    # The analysis reads these from here: one JSON file per run instead of two YAML files.
    summary.config, summary.overrides = config, list(overrides or [])
    try:
        runfolder.write_summary(run_dir, summary)
    except OSError as exc:  # a full disk, a folder made read-only: nothing half-written stays
        summary.status = Status.FAILED
        summary.error = (f"could not write {runfolder.SUMMARY} in {run_dir}: "
                         f"{exc.strerror or exc}; free space or make it writable, then run the "
                         "sweep again")
        log.error("%s", summary.error)


def resident_mib() -> float:
    """This process's resident memory now (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _images(sample: int, size: int) -> str:
    return f"all {size:,} training images" if sample >= size else \
        f"the first {sample:,} training images"


def describe(summary: Summary, run_dir: Path) -> str:
    """A few lines for the terminal at the end of a single run."""
    if summary.status == Status.FAILED:
        return f"run failed: {summary.error}\nrun folder: {run_dir}"
    note = runfolder.continuation_note(summary)
    lines = [f"status {summary.status}" + (f" ({summary.message})" if summary.message else "") +
             (f", {note}" if note else ""),
             f"test accuracy on all {summary.test_size:,} test images {summary.test_acc:.4f}"
             if summary.status == Status.OK else
             f"test accuracy at the last evaluation {summary.test_acc:.4f}",
             f"train accuracy on {_images(summary.train_sample, summary.train_size)} "
             f"{summary.train_acc:.4f}",
             f"time {summary.wall_seconds:.1f} s, {summary.images_per_second:.0f} images/s "
             f"in training, {summary.param_count:,} parameters",
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
    label = f"[{run_dir.name}] " if multirun else ""
    # Extension looks for shorter runs of the same config among the sweep folder's runs; a
    # single run's folder sits among unrelated ones.
    summary = run_experiment(cfg, run_dir, label, list(hc.overrides.task), extend=multirun)
    failed = summary.status == Status.FAILED
    if not multirun and summary.status == Status.RUNNING_ELSEWHERE:
        print(f"run folder {run_dir} is being trained elsewhere ({summary.holder}); "
              "nothing done", file=sys.stderr)
        sys.exit(ExitCode.RUNNING_ELSEWHERE)
    if not multirun:
        print(describe(summary, run_dir), file=sys.stderr if failed else sys.stdout)
        if failed:
            sys.exit(ExitCode.FAILED)
    value = summary.metric(cfg.compare.metric) if summary.status == Status.OK else None
    return float("nan") if value is None else float(value)
