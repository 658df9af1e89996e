"""The training loop: mini-batches, per-epoch evaluation and a divergence stop.

It knows nothing of files or Hydra: progress goes to a `TrainingCallback`, results come back as
a `TrainResult`. Randomness (batch order) comes only from the generator it is given.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from cnnsweep.nn.checks import require_at_least, require_choice, require_not_negative
from cnnsweep.nn.networks import Network
from cnnsweep.nn.optimizers import Optimizer

SAMPLING = ("shuffle", "replacement")


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 5  # full passes over the training set
    max_iterations: int | None = None  # stop after this many updates (overrides epochs)
    batch_size: int = 100
    sampling: str = "shuffle"  # shuffle (a permutation per epoch) | replacement (the book's)
    eval_sample: int | None = 1000  # images per epoch evaluation; None: all (the book: 1,000)
    log_every: int = 1  # record the training loss every this many iterations

    def __post_init__(self) -> None:
        require_choice("sampling", self.sampling, SAMPLING)
        require_at_least("batch_size", self.batch_size, 1)
        require_not_negative("epochs", self.epochs)
        if self.max_iterations is not None:
            require_not_negative("max_iterations", self.max_iterations)
        require_at_least("log_every", self.log_every, 1)
        require_at_least("eval_sample", self.eval_sample, 1, " (null: all)")


@dataclass
class StepRecord:
    iteration: int
    epoch: int
    train_loss: float


@dataclass
class EpochRecord:
    epoch: int
    iteration: int
    train_acc: float
    test_acc: float
    seconds: float  # wall time since training started
    val_acc: float = float("nan")  # on the held-out validation images, when there are some
    train_sample: int = 0  # how many training images train_acc was measured on
    test_sample: int = 0  # how many test images test_acc was measured on


@dataclass
class TrainResult:
    diverged: bool = False  # the loss became NaN or infinite; training stopped there
    steps: list[StepRecord] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)
    iterations: int = 0
    train_seconds: float = 0.0
    images_per_second: float = 0.0  # training steps only, evaluation excluded
    final_train_acc: float = float("nan")
    final_test_acc: float = float("nan")
    message: str = ""


class TrainingCallback:
    """Receives progress; every method is optional."""

    def on_step(self, record: StepRecord) -> None:
        pass

    def on_epoch(self, record: EpochRecord, of_epochs: int) -> None:
        pass


def iterations_per_epoch(train_size: int, batch_size: int, sampling: str) -> int:
    if sampling == "shuffle":
        return max(math.ceil(train_size / batch_size), 1)
    return max(train_size // batch_size, 1)  # the book: train_size / batch_size draws


def _batches(train_size: int, settings: TrainSettings, rng: np.random.Generator):
    """Yields index arrays, one per iteration, epoch after epoch, forever."""
    bs = settings.batch_size
    per_epoch = iterations_per_epoch(train_size, bs, settings.sampling)
    while True:
        if settings.sampling == "replacement":
            for _ in range(per_epoch):
                yield rng.choice(train_size, bs)
        else:
            order = rng.permutation(train_size)
            for start in range(0, train_size, bs):
                yield order[start : start + bs]


def train(network: Network, optimizer: Optimizer, x_train: np.ndarray, t_train: np.ndarray,
          x_test: np.ndarray, t_test: np.ndarray, settings: TrainSettings,
          rng: np.random.Generator, callback: TrainingCallback | None = None,
          x_val: np.ndarray | None = None, t_val: np.ndarray | None = None) -> TrainResult:
    """Train `network` in place and return its history.

    Accuracy is measured at iteration 0 and after every epoch on the first `eval_sample` train
    and test images (the book's Trainer), and at the end on the whole test set; a validation
    set, when given, is evaluated whole every epoch. A loss that
    becomes NaN or infinite stops training (`diverged`), keeping the history so far.
    """
    callback = callback or TrainingCallback()
    n = len(x_train)
    if n == 0:
        raise ValueError("the training set is empty")
    per_epoch = iterations_per_epoch(n, settings.batch_size, settings.sampling)
    total = settings.max_iterations if settings.max_iterations is not None \
        else settings.epochs * per_epoch
    epoch_count = math.ceil(total / per_epoch)
    sample = settings.eval_sample
    x_tr_eval, t_tr_eval = (x_train, t_train) if sample is None else \
        (x_train[:sample], t_train[:sample])
    x_te_eval, t_te_eval = (x_test, t_test) if sample is None else \
        (x_test[:sample], t_test[:sample])

    result = TrainResult()
    start = time.perf_counter()

    def evaluate(epoch: int, iteration: int) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            record = EpochRecord(epoch, iteration, network.accuracy(x_tr_eval, t_tr_eval),
                                 network.accuracy(x_te_eval, t_te_eval),
                                 time.perf_counter() - start,
                                 float("nan") if x_val is None else
                                 network.accuracy(x_val, t_val), len(x_tr_eval), len(x_te_eval))
        result.epochs.append(record)
        callback.on_epoch(record, epoch_count)

    evaluate(0, 0)
    images, step_seconds = 0, 0.0
    batches = _batches(n, settings, rng)
    for it in range(1, total + 1):
        idx = next(batches)
        step_start = time.perf_counter()
        # A diverging run overflows on its way to NaN; the isfinite check below reports it.
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grads = network.loss_and_gradient(x_train[idx], t_train[idx])
        images += len(idx)
        epoch = (it - 1) // per_epoch + 1
        if not math.isfinite(loss):
            result.diverged = True
            result.message = f"training loss became {loss} at iteration {it} (epoch {epoch})"
            result.steps.append(StepRecord(it, epoch, loss))
            callback.on_step(result.steps[-1])
            result.iterations = it
            break
        with np.errstate(over="ignore", invalid="ignore"):
            optimizer.update(network.params, grads)
        step_seconds += time.perf_counter() - step_start
        if it % settings.log_every == 0 or it == total:
            result.steps.append(StepRecord(it, epoch, loss))
            callback.on_step(result.steps[-1])
        if it % per_epoch == 0 or it == total:
            evaluate(epoch, it)
        result.iterations = it
    result.train_seconds = time.perf_counter() - start
    # Throughput of the training steps alone: evaluation time would blur comparisons.
    result.images_per_second = images / step_seconds if step_seconds else 0.0
    if not result.diverged:
        result.final_train_acc = result.epochs[-1].train_acc
        result.final_test_acc = network.accuracy(x_test, t_test)
    return result
