"""Activation and loss functions on batches (rows are samples), as the layers use them."""

from __future__ import annotations

import numpy as np

# The book's guard against log(0); kept so that losses match its figures.
LOG_EPS = 1e-7


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-x) overflows for very negative x; the two-branch form stays finite everywhere.
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; subtracting the row maximum keeps exp from overflowing."""
    shifted = x - x.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def labels_to_indices(t: np.ndarray) -> np.ndarray:
    """Class indices from index labels `(N,)` or one-hot labels `(N, K)`."""
    t = np.asarray(t)
    return t.argmax(axis=-1) if t.ndim > 1 else t.astype(np.intp, copy=False)


def cross_entropy(y: np.ndarray, t: np.ndarray) -> float:
    """Mean cross-entropy of probabilities `y (N, K)` against index or one-hot labels `t`."""
    if y.ndim == 1:  # one sample: t is its index or its one-hot row
        y = y.reshape(1, -1)
        t = np.asarray(t).reshape(1, -1) if np.size(t) == y.size > 1 else np.atleast_1d(t)
    idx = labels_to_indices(t).reshape(-1)
    n = y.shape[0]
    # Divided before the conversion to float: in float32, as the book's float32 runs do.
    return float(-np.log(y[np.arange(n), idx] + LOG_EPS).sum() / n)
