"""A run's checkpoint: everything its training needs to go on exactly where it stopped.

One `.npz` file (loaded with `allow_pickle=False`), written atomically and synced to disk:

    net/<name>           the network's parameters and batch-norm running statistics
    opt/<param>/<slot>   the optimizer's per-parameter state (momentum, accumulators, moments)
    order                the current epoch's permutation (shuffle sampling), when drawn
    steps/<field>        the logged training losses so far (history.csv)
    epochs/<field>       the evaluations so far (epochs.csv)
    meta                 JSON: iteration, the generator's state, the sampler's position, the
                         optimizer's counters (Adam's step count), timings, and what the state
                         belongs to: config hash, continuation hash, engine version, dtype

A checkpoint is used only by a run it belongs to: the same continuation hash (the config less
its training budget, `runfolder.continuation_hash`), engine version and dtype, at an iteration
no later than the run's last. Anything else (another config, a truncated or corrupt file) is a
`CheckpointError` naming the file and the reason, and the run starts from scratch: states are
never mixed. Pure NumPy: it imports neither Hydra nor the analysis side.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import cnnsweep
from cnnsweep import runfolder
from cnnsweep.atomic import atomic_write
from cnnsweep.nn.networks import Network
from cnnsweep.nn.optimizers import Optimizer
from cnnsweep.train import EpochRecord, StepRecord, TrainState

FORMAT = 1
# What the numbers of a continued run depend on besides the config: the engine's code and
# NumPy's generators and kernels. A checkpoint of another version is not continued.
ENGINE = f"cnnsweep {cnnsweep.__version__}, numpy {np.__version__}, checkpoint format {FORMAT}"
_STEP_FIELDS = [f.name for f in dataclasses.fields(StepRecord)]
_EPOCH_FIELDS = [f.name for f in dataclasses.fields(EpochRecord)]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, or another run's."""


@dataclass(frozen=True)
class Owner:
    """The run a checkpoint belongs to."""

    config_hash: str  # the whole identity, budget included
    continuation_hash: str  # the identity less the budget: who may continue it
    dtype: str
    run: str  # the run folder's name (an extension names the run it continued)


@dataclass
class Checkpoint:
    owner: Owner
    engine: str
    state: TrainState
    network: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    counters: dict[str, int]
    # Earlier continuations of this training: [{"run", "iteration", "epoch"}, ...]
    continued_from: list[dict[str, Any]] = field(default_factory=list)

    @property
    def iteration(self) -> int:
        return self.state.iteration


def save(path: Path, network: Network, optimizer: Optimizer, state: TrainState, owner: Owner,
         continued_from: list[dict[str, Any]] | None = None) -> None:
    """Write the checkpoint atomically: a reader (or a crash, or a full disk) leaves the
    previous one in place until the whole new one is on disk."""
    opt_arrays, counters = optimizer.state_dict()
    meta = {"format": FORMAT, "engine": ENGINE, "owner": dataclasses.asdict(owner),
            "iteration": state.iteration, "rng_state": state.rng_state, "drawn": state.drawn,
            "seconds": state.seconds, "step_seconds": state.step_seconds,
            "images": state.images, "counters": counters,
            "continued_from": list(continued_from or [])}
    arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    arrays.update({f"net/{k}": v for k, v in network.state_dict().items()})
    arrays.update({f"opt/{k}": v for k, v in opt_arrays.items()})
    if state.order is not None:
        arrays["order"] = state.order
    for name in _STEP_FIELDS:
        arrays[f"steps/{name}"] = np.array([getattr(s, name) for s in state.steps],
                                           dtype=np.float64 if name == "train_loss" else np.int64)
    for name in _EPOCH_FIELDS:
        arrays[f"epochs/{name}"] = np.array([getattr(e, name) for e in state.epochs],
                                            dtype=np.float64)

    def write(f):
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())  # on disk before it replaces the previous one

    atomic_write(path, write)


def load(path: Path) -> Checkpoint:
    """Read a checkpoint whole; any problem is a CheckpointError naming the file."""
    path = Path(path)
    try:
        # Our own handle: np.load leaks its own when the file is no zip archive.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}  # reads (and CRC-checks) all
        meta = json.loads(arrays.pop("meta").tobytes())
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"checkpoint format {meta.get('format')}, not {FORMAT}")
        steps = [StepRecord(*(float(v) if name == "train_loss" else int(v)
                              for name, v in zip(_STEP_FIELDS, row, strict=True)))
                 for row in zip(*(arrays.pop(f"steps/{n}") for n in _STEP_FIELDS),
                                strict=True)]
        epochs = [EpochRecord(**{name: int(v) if name in ("epoch", "iteration",
                                                          "train_sample", "test_sample")
                                 else float(v) for name, v in zip(_EPOCH_FIELDS, row,
                                                                  strict=True)})
                  for row in zip(*(arrays.pop(f"epochs/{n}") for n in _EPOCH_FIELDS),
                                 strict=True)]
        state = TrainState(int(meta["iteration"]), meta["rng_state"], arrays.pop("order", None),
                           int(meta["drawn"]), steps, epochs, float(meta["seconds"]),
                           float(meta["step_seconds"]), int(meta["images"]))
        return Checkpoint(
            Owner(**meta["owner"]), str(meta["engine"]), state,
            {k[4:]: v for k, v in arrays.items() if k.startswith("net/")},
            {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")},
            {k: int(v) for k, v in meta["counters"].items()}, list(meta["continued_from"]))
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc}); "
                              "truncated or corrupt") from None


def check(checkpoint: Checkpoint, continuation_hash: str, dtype: str, total: int,
          path: Path) -> None:
    """Raise CheckpointError unless `checkpoint` can continue a run of `continuation_hash` and
    `dtype` that trains `total` iterations."""
    owner = checkpoint.owner
    if checkpoint.engine != ENGINE:
        raise CheckpointError(f"{path} was written by {checkpoint.engine}, this is {ENGINE}")
    if owner.continuation_hash != continuation_hash:
        raise CheckpointError(f"{path} belongs to another config (hash "
                              f"{owner.config_hash}, run {owner.run})")
    if owner.dtype != dtype:
        raise CheckpointError(f"{path} holds {owner.dtype} arrays, this run is {dtype}")
    if checkpoint.iteration > total:
        raise CheckpointError(f"{path} is at iteration {checkpoint.iteration}, beyond this "
                              f"run's last ({total})")


def find_start(run_dir: Path, config: dict[str, Any], total: int,
               on_ignored: Callable[[str], object] = print,
               extend: bool = True) -> tuple[Checkpoint, Path] | None:
    """The checkpoint a run of the resolved `config` that trains `total` iterations starts
    from, and its file; None: from scratch.

    The run's own checkpoint comes first (a run stopped before its end: interrupted, killed,
    crashed, its folder without a summary). Otherwise (with `extend`) the furthest final
    checkpoint of a finished (`ok`) run in the same sweep folder whose config differs at most
    in its budget
    (`trainer.epochs`, `trainer.max_iterations`) and that trained no more than `total`
    iterations: the run extends it. An unusable checkpoint is reported to `on_ignored` with the
    reason and skipped, never half used.

    A sweeper that promotes configurations to a larger budget (issue 25) relies on this: a
    run of the same config with more epochs, launched into the same sweep folder, continues
    the shorter run bitwise as if it had trained that long from the start.
    """
    digest, dtype = runfolder.continuation_hash(config), str(config["trainer"]["dtype"])
    own = Path(run_dir) / runfolder.CHECKPOINT
    candidates = [own] if own.is_file() else []
    finished = []
    for other in runfolder.started_runs(Path(run_dir).parent) if extend else []:
        summary = runfolder.read_summary(other)
        if other.name == Path(run_dir).name or \
                runfolder.status_of(summary) != runfolder.Status.OK or \
                summary.continuation_hash != digest or \
                not (other / runfolder.CHECKPOINT).is_file():
            continue
        iterations = summary.iterations
        if isinstance(iterations, int) and iterations <= total:
            finished.append((iterations, other.name, other / runfolder.CHECKPOINT))
    candidates += [path for *_, path in sorted(finished, reverse=True)]
    for path in candidates:
        try:
            found = load(path)
            check(found, digest, dtype, total, path)
        except CheckpointError as exc:
            on_ignored(str(exc))
            continue
        return found, path
    return None


def restore(checkpoint: Checkpoint, network: Network, optimizer: Optimizer) -> TrainState:
    """Copy the checkpoint's arrays into `network` (in place: a batch split's copies share
    them) and `optimizer`; return the state `train(resume=...)` continues from."""
    target = network.state_dict()
    if set(target) != set(checkpoint.network):
        raise CheckpointError(f"the checkpoint holds {sorted(checkpoint.network)}, the "
                              f"network {sorted(target)}")
    for key, array in target.items():
        saved = checkpoint.network[key]
        if saved.shape != array.shape or saved.dtype != array.dtype:
            raise CheckpointError(f"{key} is {saved.dtype}{saved.shape} in the checkpoint, "
                                  f"{array.dtype}{array.shape} in the network")
    if set(checkpoint.counters) != set(optimizer.counters()):
        raise CheckpointError(f"the checkpoint's optimizer counters {sorted(checkpoint.counters)}"
                              f" are not {optimizer.name}'s {sorted(optimizer.counters())}")
    for flat, slot in checkpoint.optimizer.items():
        param = target.get(flat.rpartition("/")[0])
        if param is None or slot.shape != param.shape:
            raise CheckpointError(f"the checkpoint's optimizer state {flat} fits no parameter")
    for key, array in target.items():
        np.copyto(array, checkpoint.network[key])
    optimizer.load_state_dict(checkpoint.optimizer, checkpoint.counters)
    return checkpoint.state
