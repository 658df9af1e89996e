"""What a comparison shows: the options that `cnnsweep compare`, a sweep file's `compare:` block
and the end-of-sweep report share, with their defaults (defined here only)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_METRIC = "test_acc"  # what ranks runs and settings unless compare.metric says otherwise


@dataclass(frozen=True)
class CompareOptions:
    by: tuple[str, ...] | None = None  # keys to compare; None: the keys that vary across runs
    metric: str = DEFAULT_METRIC  # the summary metric that ranks runs and settings
    # Named figure types, drawn in this order (cnnsweep.plots.FIGURES); None: default_figures.
    figures: tuple[str, ...] | None = None
    smooth: int = 11  # loss smoothing window in iterations (1: raw)
    loss_ylim: tuple[float, ...] | None = None  # y range of the loss figure, e.g. [0, 1]
    panels: str | None = None  # key whose values split curves into panels (default: last key)
    top: int = 20  # top_curves: how many of the best runs to show
    # File formats of every figure: png (embedded in report.html), pdf (vector, for papers),
    # svg (vector, for the web).
    formats: tuple[str, ...] = ("png", "pdf")
    # The paper width every figure is drawn for, fonts >= 7 pt: "column" (3.3 in, one column
    # of a two-column paper) or "page" (7 in, the full text width).
    size: str = "page"
    # Runs of one setting from several sweep folders: pooled as repeats (True) or compared
    # side by side, the sweep becoming a key (False).
    pool_sweeps: bool = False

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> CompareOptions:
        """From a config's `compare` block (lists become tuples; other keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
                      if k in known})

    def updated(self, **given: Any) -> CompareOptions:
        """These options with every given value that is not None replaced."""
        return replace(self, **{k: tuple(v) if isinstance(v, list) else v
                                for k, v in given.items() if v is not None})


def default_figures(keys: int) -> tuple[str, ...]:
    """Learning curves, the metric per setting, main effects when two or more keys vary, and
    the best run's first-layer filters."""
    return ("loss", "accuracy", "metric", *(("main_effects",) if keys >= 2 else ()), "filters")


def closest_name(name: str, choices: Iterable[str]) -> str | None:
    """The one of `choices` a typo of `name` most likely meant, or None. Every "did you mean"
    of cnnsweep (config keys, compare settings, metrics) comes from here."""
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def closest(name: str, choices: Iterable[str]) -> str:
    """" (did you mean X?)" for the closest of `choices`, or ""."""
    close = closest_name(name, choices)
    return f" (did you mean {close}?)" if close else ""
