"""A batch split over threads: one copy of the layer stack per thread, sharing the parameters.

NumPy releases the GIL inside its kernels, so two Python threads that each run forward and
backward on half of a batch, with one BLAS thread each, keep two cores busy with large, simple
operations. OpenBLAS's own threads cannot do that here: at the skinny shapes of these networks
its second thread gains little (measured 1.0-1.35× on a DeepConvNet step), while the column
building, pooling and ReLU between the GEMMs stay on one core.

What stays as in one thread:
- the gradients: each copy's loss is scaled by its share of the batch (`n_i / N`), so the
  parameter gradients are sums, added in stack order: a run is bitwise reproducible for a
  given number of threads;
- the dropout masks: each dropout layer draws one mask for the whole batch from the network's
  generator, whichever copy gets there first, and every copy takes its rows of it. The copies
  pass the dropout layers in the same order, so the draws happen in layer order, as in one
  thread.

Batch normalisation cannot be split this way (its statistics are the whole batch's): the
network keeps one stack then (`Network.set_threads`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np

from cnnsweep.nn.layers import (
    Dropout,
    Layer,
    SoftmaxWithLoss,
    backward_through,
    forward_through,
)


class WholeBatchMask:
    """What one copy's dropout layer draws its mask from in a split step: `rows` of a mask for
    the whole batch, drawn once (under `lock`) into `cell` by the first copy to ask."""

    def __init__(self, cell: list[np.ndarray], lock: threading.Lock, rows: slice,
                 batch_size: int) -> None:
        self.cell, self.lock, self.rows, self.batch_size = cell, lock, rows, batch_size

    def rows_of(self, layer: Dropout, sample_shape: tuple[int, ...]) -> np.ndarray:
        with self.lock:
            if not self.cell:
                self.cell.append(layer.draw_mask((self.batch_size, *sample_shape)))
        return self.cell[0][self.rows]


class BatchSplit:
    """`threads` copies of a layer stack (the first is the stack itself) and a thread pool to
    run all but the first copy; the calling thread runs the first."""

    def __init__(self, layers: list[Layer], threads: int) -> None:
        if threads < 2:
            raise ValueError(f"a batch split needs at least 2 threads, got {threads}")
        self.threads = threads
        self.stacks = [layers] + [[layer.replica() for layer in layers]
                                  for _ in range(threads - 1)]
        self.heads = [SoftmaxWithLoss() for _ in range(threads)]
        self.pool = ThreadPoolExecutor(max_workers=threads - 1,
                                       thread_name_prefix="cnnsweep-batch-split")

    def _parts(self, n: int) -> list[slice]:
        """Consecutive slices of n rows, sizes differing by at most one, none empty."""
        k = min(self.threads, n)
        return [slice(a, b) for a, b in pairwise(i * n // k for i in range(k + 1))]

    def _on_each(self, run, parts: list) -> list:
        """`run(stack_index, part)` for every part, the first in this thread, in order."""
        futures = [self.pool.submit(run, i, part) for i, part in enumerate(parts) if i > 0]
        first = run(0, parts[0])
        return [first, *(future.result() for future in futures)]

    def loss_and_gradients(self, x: np.ndarray, t: np.ndarray) \
            -> tuple[float, list[dict[str, np.ndarray]]]:
        """The batch's mean loss and, per layer position, its parameter gradients."""
        n = len(x)
        parts = self._parts(n)
        lock = threading.Lock()
        cells: dict[int, list[np.ndarray]] = {}
        for i, rows in enumerate(parts):
            for position, layer in enumerate(self.stacks[i]):
                if isinstance(layer, Dropout):
                    layer.whole_batch = WholeBatchMask(cells.setdefault(position, []), lock,
                                                       rows, n)

        def run(i: int, rows: slice) -> float:
            share = (rows.stop - rows.start) / n
            loss = self.heads[i].forward(forward_through(self.stacks[i], x[rows], True), t[rows])
            # (y - t) / N: this part's share of the batch's mean loss
            backward_through(self.stacks[i], self.heads[i].backward(share))
            return share * loss

        try:
            losses = self._on_each(run, parts)
        finally:
            for stack in self.stacks:
                for layer in stack:
                    if isinstance(layer, Dropout):
                        layer.whole_batch = None
        grads = []
        for position, layer in enumerate(self.stacks[0]):
            summed = {}
            for local, grad in layer.grads.items():
                for stack in self.stacks[1 : len(parts)]:
                    grad = grad + stack[position].grads[local]
                summed[local] = grad
            grads.append(summed)
        return float(sum(losses)), grads

    def predict(self, x: np.ndarray, chunk: int) -> np.ndarray:
        """Evaluation-mode scores of `x`, in chunks of `chunk` images dealt to the copies in
        turn."""
        starts = list(range(0, len(x), chunk))
        dealt = [starts[i :: self.threads] for i in range(min(self.threads, len(starts)))]

        def run(i: int, mine: list[int]) -> list[np.ndarray]:
            return [forward_through(self.stacks[i], x[start : start + chunk], False)
                    for start in mine]

        results = self._on_each(run, dealt)
        ordered = [results[k % len(dealt)][k // len(dealt)] for k in range(len(starts))]
        return np.concatenate(ordered)
