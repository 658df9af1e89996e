"""How every figure of a report looks: the colour and marker of each setting (the same option
gets the same ones in every report), one order of values, a paper width with legible fonts, and
PNG + SVG + PDF files.

Colour rule (docs/architecture.md, "The comparison"):
- an option of a config group (`optimizer=adam`, `init=he`, `arch=mlp`, `dataset=mnist`) has
  its own colour and marker from `OPTION_STYLES`, whatever else is compared; an option the table
  does not know takes the group's first unused colour, in sorted order;
- a numeric key maps its values through one colour map (`NUMERIC_MAP`), by value (log-scaled
  where they span more than a factor 100); its markers follow the values' order;
- any other key (text, booleans, the sweep folder) takes the palette's colours in sorted order;
- a setting of several keys takes its colour and marker from its first config-group key (else
  its first text key, else its first key); the other keys' values make that colour lighter, in
  their order, so that such settings read as one family.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LinearSegmentedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cnnsweep.results import GROUPS, Results, setting_labels, sorted_by_values, value_order

# Okabe & Ito's colour-blind-safe palette, in the order that keeps neighbours apart; yellow
# last (weak on white). Seven markers against eight colours: a pair repeats after 56 settings.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
             "#F0E442")
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
# Every option of the shipped config groups, by index into OKABE_ITO and MARKERS: Adam is
# vermilion diamonds... in every report, whatever else is compared.
OPTION_STYLES: dict[str, dict[str, int]] = {
    "optimizer": {"sgd": 0, "momentum": 2, "nesterov": 5, "adagrad": 4, "rmsprop": 6,
                  "adam": 3},
    "init": {"std": 0, "xavier": 1, "he": 2},
    "arch": {"simple_convnet": 0, "mlp": 1, "deep_convnet": 2},
    "dataset": {"mnist": 0, "mnist_mini": 1, "idx": 2},
}
# viridis without its pale yellow end, which vanishes on white paper.
NUMERIC_MAP = LinearSegmentedColormap.from_list(
    "viridis_dark", colormaps["viridis"](np.linspace(0.0, 0.85, 256)))
LIGHTEST = 0.6  # a family's last member is its colour mixed this far towards white
LEGEND_LIMIT = 20  # more entries than this are not a legend any more: a colour bar or none
COLOUR_BAR_VALUES = 8  # a single numeric key with more values gets a colour bar
FORMATS = ("png", "pdf", "svg")  # the ones a report can write; png is always written
# Subsetting fonts into the PDFs logs each table it prunes at INFO; Hydra shows INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Page:
    """The width a figure is drawn for and its fonts (points): a paper's column or its page."""

    name: str
    width: float  # inches
    font: float  # labels and titles
    small: float  # ticks, legends, notes (never below 7 pt)
    columns: int  # at most this many panels side by side
    png_dpi: int  # about 800-900 pixels wide in report.html

    def rc(self) -> dict[str, object]:
        return {"font.size": self.font, "axes.titlesize": self.font,
                "axes.labelsize": self.font, "legend.fontsize": self.small,
                "legend.title_fontsize": self.small, "xtick.labelsize": self.small,
                "ytick.labelsize": self.small, "figure.titlesize": self.font,
                "figure.labelsize": self.font, "figure.dpi": 100, "svg.fonttype": "none",
                "pdf.fonttype": 42, "ps.fonttype": 42}  # TrueType fonts, embedded

    def figure(self, height: float) -> Figure:
        return Figure(figsize=(self.width, height), layout="constrained")


PAGES = {"column": Page("column", 3.3, 8.0, 7.0, 2, 260),
         "page": Page("page", 7.0, 9.0, 8.0, 4, 125)}
MIN_FONT = 7.0
MAX_PANEL_HEIGHT = 3.0  # inches: a single panel across a page stays a figure, not a poster


def page_of(name: str) -> Page:
    try:
        return PAGES[name]
    except KeyError:
        raise ValueError(f"size={name!r} is not a paper width; the widths are "
                         f"{', '.join(PAGES)}") from None


def _is_number(values: pd.Series) -> bool:
    if values.map(lambda v: isinstance(v, (bool, np.bool_))).any():
        return False
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def group_of(key: str) -> str | None:
    """The config group a key chooses an option of: `optimizer`, or `optimizer.name`."""
    group = key.removesuffix(".name")
    return group if group in OPTION_STYLES or group in GROUPS else None


def key_styles(key: str, values: pd.Series) -> dict[str, tuple[str, str]]:
    """{value as text: (colour, marker)} for every value of one key (the colour rule above)."""
    order = value_order(values)
    group = group_of(key)
    if group is not None and not _is_number(values):
        known = OPTION_STYLES.get(group, {})
        used = {known[str(v)] for v in order if str(v) in known}
        free = iter([i for i in range(len(OKABE_ITO)) if i not in used] or
                    range(len(OKABE_ITO)))
        indices = {}
        for v in order:
            indices[str(v)] = known[str(v)] if str(v) in known else next(free, 0)
        return {v: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)])
                for v, i in indices.items()}
    if _is_number(values) and len(order) > 1:
        norm = numeric_norm(pd.to_numeric(pd.Series(order)))
        return {str(v): (matplotlib.colors.to_hex(NUMERIC_MAP(norm(float(v)))),
                         MARKERS[i % len(MARKERS)]) for i, v in enumerate(order)}
    return {str(v): (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)])
            for i, v in enumerate(order)}


def numeric_norm(values: pd.Series) -> Normalize:
    low, high = float(values.min()), float(values.max())
    log = low > 0 and high / low > 100
    return (LogNorm if log else Normalize)(low, high)


def lighter(colour: str, amount: float) -> str:
    rgb = np.array(matplotlib.colors.to_rgb(colour))
    return matplotlib.colors.to_hex(rgb + (1 - rgb) * amount)


@dataclass(frozen=True)
class Palette:
    """The colour and marker of each setting (the module's colour rule).

    The settings here are the values of `keys` (the compared keys less the panel key, which
    the panels show instead). A single numeric key with many values gets a colour bar.
    """

    keys: tuple[str, ...]
    labels: tuple[str, ...]  # in sorted order
    colours: dict[str, str] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)
    scale: tuple[str, float, float] | None = None  # ("log"|"linear", low, high) for a colour bar

    @classmethod
    def of(cls, results: Results, panel: str | None) -> Palette:
        keys = tuple(k for k in results.varying if k != panel)
        runs = results.runs
        if not keys:
            return cls((), ("all runs",), {"all runs": OKABE_ITO[0]}, {"all runs": MARKERS[0]})
        ordered = sorted_by_values(runs, keys)
        labels = tuple(dict.fromkeys(setting_labels(ordered, keys)))
        lead = next((k for k in keys if group_of(k) and not _is_number(runs[k])),
                    next((k for k in keys if not _is_number(runs[k])), keys[0]))
        styles = key_styles(lead, runs[lead])
        rest = [k for k in keys if k != lead]
        family = setting_labels(ordered, rest) if rest else pd.Series("", ordered.index)
        members = list(dict.fromkeys(family))
        colours, markers = {}, {}
        for label, value, member in zip(setting_labels(ordered, keys), ordered[lead], family,
                                        strict=True):
            colour, marker = styles[str(value)]
            rank = members.index(member)
            colours[label] = lighter(colour, LIGHTEST * rank / max(len(members) - 1, 1))
            markers[label] = marker
        scale = None
        if len(keys) == 1 and _is_number(runs[lead]) and len(labels) > COLOUR_BAR_VALUES:
            norm = numeric_norm(pd.to_numeric(runs[lead]))
            scale = ("log" if isinstance(norm, LogNorm) else "linear", norm.vmin, norm.vmax)
            markers = dict.fromkeys(labels, "")
        return cls(keys, labels, colours, markers, scale)

    def short(self, label: str) -> str:
        """A label without the `key=` prefixes when a legend title names the keys."""
        return ", ".join(part.split("=", 1)[1] for part in label.split(", ")) if self.keys \
            else label

    @property
    def title(self) -> str:
        return ", ".join(self.keys)

    def handle(self, label: str, **kwargs: object) -> Line2D:
        return Line2D([], [], color=self.colours[label], marker=self.markers[label] or None,
                      markersize=4, **kwargs)

    def legend(self, fig: Figure, labels: Sequence[str], page: Page,
               extra: Sequence[tuple[Artist, str]] = ()) -> None:
        """Names every colour: a legend under the panels (outside them, so that it covers no
        data), or a colour bar for a colour map; `extra` entries (line styles) join it."""
        handles: list[Artist] = [h for h, _ in extra]
        names = [name for _, name in extra]
        title = None
        if self.scale is not None:
            kind, low, high = self.scale
            norm = (LogNorm if kind == "log" else Normalize)(low, high)
            bar = fig.colorbar(ScalarMappable(norm, NUMERIC_MAP), ax=fig.axes,
                               location="right", pad=0.02, fraction=0.05)
            bar.set_label(self.title)
        elif self.keys and len(labels) > LEGEND_LIMIT:
            fig.text(0.99, 0.99, f"{len(labels)} settings (no legend)", ha="right", va="top",
                     fontsize=page.small, color="0.4")
        elif self.keys:
            handles = [self.handle(lab) for lab in labels] + handles
            names = [self.short(lab) for lab in labels] + names
            title = self.title
        if handles:
            figure_legend(fig, handles, names, page, title)


def figure_legend(fig: Figure, handles: Sequence[Artist], names: Sequence[str], page: Page,
                  title: str | None = None) -> None:
    """A legend below the panels, in as many columns as the width holds."""
    widest = max(len(n) for n in names)
    entry = (widest * CHAR_WIDTH + 4) * page.small / 72  # inches: text, handle and spacing
    ncols = max(1, min(len(names), int(page.width * 0.95 // entry)))
    fig.legend(handles, names, loc="outside lower center", ncols=ncols, title=title,
               frameon=False, columnspacing=1.0, handlelength=1.8)


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


def grid(n: int, page: Page, aspect: float = 0.75, sharey: bool = True,
         columns: int | None = None, extra_height: float = 0.0) -> tuple[Figure, list[Axes]]:
    """`n` panels across the page's width, `aspect` = panel height / width."""
    cols = min(n, columns or page.columns)
    rows = math.ceil(n / cols)
    panel = page.width / cols
    fig = page.figure(rows * min(max(panel * aspect, 1.3), MAX_PANEL_HEIGHT) + extra_height)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def label_outer(axes: Sequence[Axes], xlabel: str, ylabel: str) -> None:
    """Axis labels on the panels at the grid's left and bottom edges only."""
    for i, ax in enumerate(axes):
        cols = ax.get_subplotspec().get_gridspec().ncols
        if i + cols >= len(axes):  # nothing below it
            ax.set_xlabel(xlabel)
        if i % cols == 0:
            ax.set_ylabel(ylabel)


@contextlib.contextmanager
def drawing(page: Page = PAGES["page"]) -> Iterator[None]:
    with matplotlib.rc_context(page.rc()):
        yield


def save(fig: Figure, out_dir: Path, name: str, formats: Sequence[str] = ("png", "pdf"),
         page: Page = PAGES["page"]) -> dict[str, Path]:
    """The figure as PNG (for the reports) and the other formats asked for."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in dict.fromkeys(["png", *formats]):
        paths[fmt] = out_dir / f"{name}.{fmt}"
        # Every figure uses constrained layout: no second "tight" drawing pass per file, and
        # the file keeps the page's width.
        fig.savefig(paths[fmt], dpi=page.png_dpi if fmt == "png" else None,
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


CHAR_WIDTH = 0.7  # a character of DejaVu Sans, at most, in ems (digits and lower case)


def chars_in(inches: float, points: float) -> int:
    """How many characters of a `points` font fit into `inches`."""
    return max(4, int(inches * 72 / (CHAR_WIDTH * points)))


def upright_room(labels: Sequence[str], width: float, page: Page) -> float:
    """Inches under an axis `width` wide for tick labels that will not fit side by side
    (`fit_ticks` turns them upright); 0 when they fit."""
    longest = max((len(label) for label in labels), default=0)
    if len(labels) * (longest + 1) <= chars_in(width, page.small):
        return 0.0
    return longest * CHAR_WIDTH * page.small / 72


def wrapped(text: str, width: int) -> str:
    """`text` broken after dots (not a number's), commas, `=` and spaces into lines of about
    `width` characters."""
    lines, line = [], ""
    for piece in _pieces(text):
        if line and len(line) + len(piece.rstrip()) > width:
            lines.append(line.rstrip())
            line = piece.lstrip()
        else:
            line += piece
    return "\n".join([*lines, line.rstrip()])


def _pieces(text: str) -> list[str]:
    pieces, start = [], 0
    for i, char in enumerate(text):
        # a dot inside a number ("1.57e-05") is no place to break
        if char in " ,=" or (char == "." and not text[i + 1 : i + 2].isdigit()):
            pieces.append(text[start : i + 1])
            start = i + 1
    return [*pieces, text[start:]] if start < len(text) else pieces


def renderer_of(fig: Figure) -> RendererBase:
    """The figure laid out (constrained layout run) and the renderer that measures its text."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    return fig.canvas.get_renderer()


def fit_ticks(fig: Figure) -> None:
    """Turn an axis's x tick labels upright where they would touch each other."""
    renderer = renderer_of(fig)
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        if any(a.x1 + 2 > b.x0 for a, b in itertools.pairwise(boxes)):
            for t in labels:
                t.set_rotation(90)


# Colours with a fixed meaning outside the settings' palette.
HELD_OUT, TRAIN = OKABE_ITO[0], OKABE_ITO[1]  # one run's held-out and training curves
LINE, HIGHLIGHT = OKABE_ITO[0], OKABE_ITO[3]  # a single line of means; the best point on it
NEUTRAL, MUTED = "0.3", "0.45"  # line-style keys; notes and statuses
