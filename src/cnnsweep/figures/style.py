"""How every figure of a report looks: one colour and marker per setting, one order of values,
fonts legible at one-column width, and PNG + SVG + PDF files."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cnnsweep.results import Results, setting_labels, sorted_by_values, value_order

# Okabe & Ito's colour-blind-safe palette, in the order that keeps neighbours apart; yellow
# last (weak on white). Seven markers against eight colours: a pair repeats after 56 settings.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
             "#F0E442")
MARKERS = ("o", "s", "D", "^", "v", "P", "X")
LEGEND_LIMIT = 20  # more entries than this are not a legend any more: a colour bar or none
PANEL_SIZE = (4.6, 3.4)  # inches: a single panel reads at one-column width (~3.4 in)
RC = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": 8.5,
      "xtick.labelsize": 9, "ytick.labelsize": 9, "figure.dpi": 100, "svg.fonttype": "none",
      "pdf.fonttype": 42}
PNG_DPI = 120  # a 4.6-inch panel is 552 pixels wide in report.html
FORMATS = ("png", "pdf", "svg")  # the ones a report can write; png is always written
# Subsetting fonts into the PDFs logs each table it prunes at INFO; Hydra shows INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Palette:
    """The colour and marker of each setting, assigned once from the sorted settings.

    The settings here are the values of `keys` (the compared keys less the panel key, which
    the panels show instead). A single numeric key with many values gets a colour map.
    """

    keys: tuple[str, ...]
    labels: tuple[str, ...]  # in sorted order
    colours: dict[str, str] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)
    scale: tuple[str, float, float] | None = None  # ("log"|"linear", low, high) for a colour map

    @classmethod
    def of(cls, results: Results, panel: str | None) -> Palette:
        keys = tuple(k for k in results.varying if k != panel)
        runs = results.runs
        if not keys:
            return cls((), ("all runs",), {"all runs": OKABE_ITO[0]}, {"all runs": MARKERS[0]})
        labels = tuple(dict.fromkeys(setting_labels(sorted_by_values(runs, keys), keys)))
        numbers = pd.to_numeric(runs[keys[0]], errors="coerce")
        if len(keys) == 1 and numbers.notna().all() and len(labels) > len(OKABE_ITO):
            low, high = float(numbers.min()), float(numbers.max())
            kind = "log" if low > 0 and high / low > 100 else "linear"
            cmap = colormaps["viridis"]
            norm = (LogNorm if kind == "log" else Normalize)(low, high)
            by_label = dict(zip(setting_labels(runs, keys), numbers, strict=True))
            colours = {lab: matplotlib.colors.to_hex(cmap(norm(by_label[lab]))) for lab in labels}
            return cls(keys, labels, colours, dict.fromkeys(labels, ""), (kind, low, high))
        colours = {lab: OKABE_ITO[i % len(OKABE_ITO)] for i, lab in enumerate(labels)}
        markers = {lab: MARKERS[i % len(MARKERS)] for i, lab in enumerate(labels)}
        return cls(keys, labels, colours, markers)

    def short(self, label: str) -> str:
        """A label without the `key=` prefixes when a legend title names the keys."""
        return ", ".join(part.split("=", 1)[1] for part in label.split(", ")) if self.keys \
            else label

    @property
    def title(self) -> str:
        return ", ".join(self.keys)

    def legend(self, ax: Axes, labels: Sequence[str], **kwargs: object) -> None:
        """Legend entries in the given order, or a colour bar for a colour map."""
        if self.scale is not None:
            kind, low, high = self.scale
            norm = (LogNorm if kind == "log" else Normalize)(low, high)
            bar = ax.figure.colorbar(ScalarMappable(norm, "viridis"), ax=ax, pad=0.02)
            bar.set_label(self.title)
            return
        if not self.keys:  # one setting per panel: the panel titles name it
            return
        if len(labels) > LEGEND_LIMIT:
            ax.text(0.99, 0.99, f"{len(labels)} settings (no legend)", transform=ax.transAxes,
                    ha="right", va="top", fontsize=8, color="0.4")
            return
        handles = [Line2D([], [], color=self.colours[lab], marker=self.markers[lab] or None,
                              markersize=5) for lab in labels]
        ax.legend(handles, [self.short(lab) for lab in labels], title=self.title or None,
                  **kwargs)


def panel_key(results: Results, requested: str | None) -> str | None:
    """The key that splits curve figures into panels: the requested one, else the last of two
    or more compared keys."""
    if requested is not None:
        if requested not in results.runs:
            raise KeyError(f"panels={requested!r} is not a key of these runs")
        return requested
    return results.varying[-1] if len(results.varying) >= 2 else None


def panel_values(results: Results, panel: str | None) -> list[object]:
    return [None] if panel is None else value_order(results.runs[panel])


def grid(n: int, width: float = PANEL_SIZE[0], height: float = PANEL_SIZE[1],
         sharey: bool = True, columns: int = 4) -> tuple[Figure, list[Axes]]:
    cols = min(n, columns)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


@contextlib.contextmanager
def drawing() -> Iterator[None]:
    with matplotlib.rc_context(RC):
        yield


def save(fig: Figure, out_dir: Path, name: str, formats: Sequence[str] = ("png", "pdf")) \
        -> dict[str, Path]:
    """The figure as PNG (for the reports) and the other formats asked for."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in dict.fromkeys(["png", *formats]):
        paths[fmt] = out_dir / f"{name}.{fmt}"
        # Every figure uses constrained layout: no second "tight" drawing pass per file.
        fig.savefig(paths[fmt], dpi=PNG_DPI if fmt == "png" else None,
                    metadata={"Date": None} if fmt == "svg" else None)
    return paths


def smooth(y: np.ndarray, window: int = 11) -> np.ndarray:
    """The book's `smooth_curve`: a Kaiser-window moving average with mirrored ends."""
    y = np.asarray(y, dtype=float)
    if window < 3 or len(y) < window:
        return y
    half = window // 2
    padded = np.r_[y[half:0:-1], y, y[-2 : -half - 2 : -1]]
    w = np.kaiser(window, 2)
    return np.convolve(padded, w / w.sum(), mode="valid")


def short_value(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
