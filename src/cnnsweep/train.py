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


def planned_iterations(train_size: int, settings: TrainSettings) -> int:
    """The updates a training of `settings` makes, unless it diverges."""
    per_epoch = iterations_per_epoch(train_size, settings.batch_size, settings.sampling)
    return settings.max_iterations if settings.max_iterations is not None \
        else settings.epochs * per_epoch


class BatchSampler:
    """Index arrays, one per iteration, epoch after epoch: a permutation per epoch (shuffle,
    drawn when the epoch's first batch is asked for) or independent draws (replacement).

    Its position (the epoch's permutation and how many of its batches were drawn) is part of a
    checkpoint: with the generator's state it gives the batches that would have come next."""

    def __init__(self, train_size: int, settings: TrainSettings, rng: np.random.Generator,
                 order: np.ndarray | None = None, drawn: int = 0) -> None:
        self.train_size, self.batch_size, self.rng = train_size, settings.batch_size, rng
        self.replacement = settings.sampling == "replacement"
        self.per_epoch = iterations_per_epoch(train_size, self.batch_size, settings.sampling)
        self.order, self.drawn = order, drawn

    def next(self) -> np.ndarray:
        if self.drawn == self.per_epoch:
            self.order, self.drawn = None, 0
        self.drawn += 1
        if self.replacement:
            return self.rng.choice(self.train_size, self.batch_size)
        if self.order is None:
            self.order = self.rng.permutation(self.train_size)
        start = (self.drawn - 1) * self.batch_size
        return self.order[start : start + self.batch_size]


@dataclass
class TrainState:
    """Where a training stands after `iteration` updates, besides the network's and the
    optimizer's arrays: what `train` needs to go on exactly as if it had never stopped."""

    iteration: int
    rng_state: dict  # the run's generator (batch order and dropout masks from here on)
    order: np.ndarray | None  # the current epoch's permutation (shuffle), if drawn
    drawn: int  # batches of the current epoch drawn so far
    steps: list[StepRecord]
    epochs: list[EpochRecord]
    seconds: float  # wall time of the training so far (the `seconds` column goes on from it)
    step_seconds: float  # of which training steps (throughput)
    images: int  # images trained on so far

    def for_budget(self, total: int, per_epoch: int, log_every: int) -> TrainState:
        """This state as a run of `total` iterations has it at the same iteration: a state saved
        at the end of a shorter run holds a loss and an evaluation logged only because that run
        ended there; a longer run (an extension) has neither."""
        if self.iteration >= total:
            return self
        steps = [s for s in self.steps if s.iteration % log_every == 0]
        epochs = [e for e in self.epochs if e.iteration % per_epoch == 0]
        return TrainState(self.iteration, self.rng_state, self.order, self.drawn, steps,
                          epochs, self.seconds, self.step_seconds, self.images)


class Checkpointer:
    """Saves `TrainState`s for `train`: at the end of every epoch, at the end of training,
    every `every_seconds` of training at a step boundary, and at the step boundary after a stop
    was requested (then `stop` ends the training). The network's and the optimizer's state are
    the saver's to take: `train` changes neither while `save` runs."""

    every_seconds: float | None = None

    def save(self, state: TrainState) -> None:
        raise NotImplementedError

    def stop_requested(self) -> bool:
        return False

    def stop(self) -> None:
        """Called after the state a stop request asked for is saved; raises to stop."""


def train(network: Network, optimizer: Optimizer, x_train: np.ndarray, t_train: np.ndarray,
          x_test: np.ndarray, t_test: np.ndarray, settings: TrainSettings,
          rng: np.random.Generator, callback: TrainingCallback | None = None,
          x_val: np.ndarray | None = None, t_val: np.ndarray | None = None,
          checkpointer: Checkpointer | None = None,
          resume: TrainState | None = None) -> TrainResult:
    """Train `network` in place and return its history.

    Accuracy is measured at iteration 0 and after every epoch on the first `eval_sample` train
    and test images (the book's Trainer), and at the end on the whole test set; a validation
    set, when given, is evaluated whole every epoch. A loss that
    becomes NaN or infinite stops training (`diverged`), keeping the history so far.

    `resume` continues a training from a saved state: the caller has restored the network's
    and the optimizer's arrays of the same iteration; the generator's state is set here. The
    result, history included, is then bitwise that of the training never stopped (for a fixed
    thread count). A `checkpointer` receives states to save (see `Checkpointer`).
    """
    callback = callback or TrainingCallback()
    n = len(x_train)
    if n == 0:
        raise ValueError("the training set is empty")
    per_epoch = iterations_per_epoch(n, settings.batch_size, settings.sampling)
    total = planned_iterations(n, settings)
    epoch_count = math.ceil(total / per_epoch)
    sample = settings.eval_sample
    x_tr_eval, t_tr_eval = (x_train, t_train) if sample is None else \
        (x_train[:sample], t_train[:sample])
    x_te_eval, t_te_eval = (x_test, t_test) if sample is None else \
        (x_test[:sample], t_test[:sample])

    result = TrainResult()
    sampler = BatchSampler(n, settings, rng)
    images, step_seconds, first = 0, 0.0, 1
    if resume is not None:
        resume = resume.for_budget(total, per_epoch, settings.log_every)
        rng.bit_generator.state = resume.rng_state
        sampler.order, sampler.drawn = resume.order, resume.drawn
        result.steps, result.epochs = list(resume.steps), list(resume.epochs)
        images, step_seconds, first = resume.images, resume.step_seconds, resume.iteration + 1
        result.iterations = resume.iteration
    start = time.perf_counter() - (resume.seconds if resume is not None else 0.0)

    def evaluate(epoch: int, iteration: int) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            record = EpochRecord(epoch, iteration, network.accuracy(x_tr_eval, t_tr_eval),
                                 network.accuracy(x_te_eval, t_te_eval),
                                 time.perf_counter() - start,
                                 float("nan") if x_val is None else
                                 network.accuracy(x_val, t_val), len(x_tr_eval), len(x_te_eval))
        result.epochs.append(record)
        callback.on_epoch(record, epoch_count)

    def state(iteration: int) -> TrainState:
        order = None if sampler.order is None else sampler.order.copy()
        return TrainState(iteration, rng.bit_generator.state, order, sampler.drawn,
                          list(result.steps), list(result.epochs), time.perf_counter() - start,
                          step_seconds, images)

    if resume is None:
        evaluate(0, 0)
    saved_at = time.perf_counter()
    every = checkpointer.every_seconds if checkpointer is not None else None
    if checkpointer is not None and first > total:  # continued at its end: its own last state
        checkpointer.save(state(total))
    for it in range(first, total + 1):
        idx = sampler.next()
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
        if checkpointer is not None:
            stopping = checkpointer.stop_requested()
            now = time.perf_counter()
            if stopping or it % per_epoch == 0 or it == total or \
                    (every is not None and now - saved_at >= every):
                checkpointer.save(state(it))
                saved_at = time.perf_counter()
            if stopping:
                checkpointer.stop()
    result.train_seconds = time.perf_counter() - start
    # Throughput of the training steps alone: evaluation time would blur comparisons.
    result.images_per_second = images / step_seconds if step_seconds else 0.0
    if not result.diverged:
        result.final_train_acc = result.epochs[-1].train_acc
        result.final_test_acc = network.accuracy(x_test, t_test)
    return result
