"""What a comparison shows: the options that `cnnsweep compare`, a sweep file's `compare:` block
and the end-of-sweep report share, with their defaults (defined here only)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_METRIC = "test_acc"  # what ranks runs and settings unless compare.metric says otherwise
# A claim's kind is the field that carries it (cnnsweep.claims checks them; docs/claims.md).
KINDS = ("order", "highest", "lowest", "value", "difference", "count")


@dataclass(frozen=True)
class Claim:
    """What a sweep expects of its results (`compare.claims`): one kind, named by the field
    that carries it (KINDS), else a bound (at_least / at_most) on the runs' value."""

    says: str = ""  # the claim in words, as its source states it
    figure: str | None = None  # the figure (or table) of the source it comes from, e.g. "6-9"
    metric: str = "test_acc"  # a summary metric, or a gap of two: "train_acc - test_acc"
    by: str | None = None  # the key whose values the settings below are (else "key=value")
    where: tuple[str, ...] = ()  # only the runs with these values: ["init=std"]
    when: tuple[str, ...] = ()  # checked only when every run has these values, else skipped
    order: tuple[str, ...] | None = None  # settings from the highest value to the lowest
    highest: str | None = None  # a setting above every other
    lowest: str | None = None  # a setting below every other
    value: float | None = None  # the runs' value, within `tolerance`
    tolerance: float = 0.0
    difference: tuple[str, ...] | None = None  # [a, b]: a − b within at_least / at_most
    count: tuple[str, ...] | None = None  # [a, b]: a ahead of b at at_least values of `per`
    per: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    of: str = "mean"  # over the runs: their mean (with its 95% CI), or the best run
    note: str | None = None  # one line: why the claim reads as it does

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | Claim) -> Claim:
        if isinstance(values, Claim):
            return values
        known = {f.name for f in fields(cls)}
        unknown = [k for k in values if k not in known]
        if unknown:
            raise ValueError(f"compare.claims: unknown field {unknown[0]}"
                             f"{closest(unknown[0], known)}; the fields are {', '.join(known)}")
        return cls(**{k: tuple(str(x) for x in v) if isinstance(v, (list, tuple)) else v
                      for k, v in values.items() if v is not None})

    @property
    def kind(self) -> str:
        given = [k for k in KINDS if getattr(self, k) is not None]
        return given[0] if given else "bound"

    def settings(self) -> list[str]:
        """The settings it names, as written."""
        named = {"order": self.order, "difference": self.difference, "count": self.count,
                 "highest": (self.highest,), "lowest": (self.lowest,)}.get(self.kind) or ()
        return [str(s) for s in named]


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
    # What the results are expected to show, checked in the report and by the exit code
    # (cnnsweep.claims; the grammar: docs/claims.md).
    claims: tuple[Claim, ...] = ()

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> CompareOptions:
        """From a config's `compare` block (lists become tuples; other keys are ignored)."""
        known = {f.name for f in fields(cls)}
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
                 if k in known}
        if "claims" in given:
            given["claims"] = tuple(Claim.from_mapping(c) for c in given["claims"] or ())
        return cls(**given)

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
