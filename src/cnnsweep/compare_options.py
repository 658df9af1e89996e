"""What a comparison shows: the options that `cnnsweep compare`, a sweep file's `compare:` block
and the end-of-sweep report share, with their defaults (defined here only)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class CompareOptions:
    by: tuple[str, ...] | None = None  # keys to compare; None: the keys that vary across runs
    metric: str = "test_acc"  # the summary metric that ranks runs and settings
    # Named figure types, drawn in this order (cnnsweep.plots.FIGURES lists them).
    figures: tuple[str, ...] = ("loss", "accuracy", "metric", "filters")
    smooth: int = 11  # loss smoothing window in iterations (1: raw)
    loss_ylim: tuple[float, ...] | None = None  # y range of the loss figure, e.g. [0, 1]
    panels: str | None = None  # key whose values split curves into panels (default: last key)
    top: int = 20  # top_curves: how many of the best runs to show

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
