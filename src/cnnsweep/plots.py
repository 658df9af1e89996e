"""The figure types a report can draw, by name. Each computes the numbers it shows as a
DataFrame (`data`, tested on its values) and draws that DataFrame (`draw`); a new figure type is
one entry in `FIGURES` (docs/extending.md). Every figure of a report shares one `FigureContext`:
the same colour for a setting and the same order of values everywhere.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from cnnsweep.compare_options import CompareOptions
from cnnsweep.figures import FigureContext
from cnnsweep.figures.curves import (
    accuracy_data,
    accuracy_notes,
    draw_accuracy,
    draw_loss,
    draw_top_curves,
    loss_data,
    loss_notes,
    top_curves_data,
    train_accuracy_data,
)
from cnnsweep.figures.filters import draw_filters, filters_data, filters_notes
from cnnsweep.figures.settings import (
    draw_main_effects,
    draw_metric,
    draw_parallel,
    draw_scatter,
    main_effects_data,
    main_effects_notes,
    metric_data,
    metric_notes,
    parallel_data,
    scatter_data,
)
from cnnsweep.figures.style import (
    Palette,
    drawing,
    fit_ticks,
    page_of,
    panel_key,
    panel_values,
    save,
)
from cnnsweep.results import Results


@dataclass(frozen=True)
class FigureType:
    data: Callable[[Results, FigureContext], pd.DataFrame | None]  # None: nothing to show
    draw: Callable[[pd.DataFrame, FigureContext], Figure]
    caption: str  # a short title; may use {metric} and {spread}
    # What the reader needs to know about this drawing (bands, intervals, samples, pooling):
    # the report prints it under the figure, so that the figure itself needs no long title.
    notes: Callable[[pd.DataFrame, FigureContext], list[str]] = lambda data, ctx: []


FIGURES: dict[str, FigureType] = {
    "loss": FigureType(loss_data, draw_loss,
                       "Training loss per iteration, one line per setting", loss_notes),
    "accuracy": FigureType(accuracy_data, draw_accuracy,
                           "Accuracy per epoch: held-out (solid) and training (dashed)",
                           accuracy_notes),
    "train_accuracy": FigureType(train_accuracy_data, draw_accuracy,
                                 "Training accuracy per epoch", accuracy_notes),
    "metric": FigureType(metric_data, draw_metric, "Final {metric} per setting", metric_notes),
    "main_effects": FigureType(main_effects_data, draw_main_effects,
                               "Main effects: {metric} for each value of each key, averaged "
                               "over the other keys", main_effects_notes),
    "filters": FigureType(filters_data, draw_filters,
                          "First-layer filters of the best run, before and after training",
                          filters_notes),
    "top_curves": FigureType(top_curves_data, draw_top_curves,
                             "The best runs by {metric}: held-out (solid) and training "
                             "(dashed) accuracy",
                             lambda data, ctx: ["panel titles: rank and the run's swept values"]),
    "scatter": FigureType(scatter_data, draw_scatter,
                          "{metric} of every run over the two swept values",
                          lambda data, ctx: [f"colour: {ctx.metric}; star: the best run; "
                                             "log axes where values span more than 100x"]),
    "parallel_coordinates": FigureType(parallel_data, draw_parallel,
                                       "Every run's swept values and {metric}",
                                       lambda data, ctx: [
                                           f"one line per run, coloured by {ctx.metric}; each "
                                           "axis spans its key's range (log where it spans "
                                           "more than 100x), ends labelled"]),
}


@dataclass(frozen=True)
class DrawnFigure:
    name: str
    caption: str
    note: str  # printed under the figure: what its marks mean
    data: pd.DataFrame  # the numbers the figure shows
    files: dict[str, Path]  # png, svg, pdf


def figure_context(results: Results, options: CompareOptions) -> FigureContext:
    """What every figure of one report shares: palette, panel key and order, spread label."""
    panel = panel_key(results, options.panels)
    pooled = ", ".join(f"{k} ({results.runs[k].nunique()} values)" for k in results.pooled)
    return FigureContext(options, Palette.of(results, panel), panel,
                         tuple(panel_values(results, panel)), results.spread_label(),
                         f"averaged over {pooled}" if pooled else "", page_of(options.size))


class FigureJobs:
    """The figures of one report, drawn here and, given one, in a helper process at the same
    time: the helper takes figures from the front of the list, this process from the back
    (after whatever it does between starting and `finish`), until they meet."""

    def __init__(self, names: Sequence[str], results: Results, ctx: FigureContext,
                 out_dir: Path, helper: Pool | None = None) -> None:
        self.names, self.args, self.helper = list(names), (results, ctx, out_dir), helper
        self.waiting = deque(self.names)
        self.sent: dict[str, AsyncResult] = {}
        self._send()

    def _send(self) -> None:
        if self.helper is not None and self.waiting:
            name = self.waiting.popleft()
            self.sent[name] = self.helper.apply_async(draw_figure, (name, *self.args))

    def finish(self) -> list[DrawnFigure]:
        """Every figure that had something to show, in the order asked."""
        drawn: dict[str, DrawnFigure | None] = {}
        while self.waiting:
            if self.sent and all(job.ready() for job in self.sent.values()):
                self._send()  # the helper is free: the next figure from the front
                continue
            name = self.waiting.pop()
            drawn[name] = draw_figure(name, *self.args)
        drawn.update({name: job.get() for name, job in self.sent.items()})
        return [drawn[name] for name in self.names if drawn[name] is not None]


def draw_figure(name: str, results: Results, ctx: FigureContext, out_dir: Path) \
        -> DrawnFigure | None:
    """Compute and draw one figure type into `out_dir`; None when it has nothing to show."""
    kind = FIGURES[name]
    data = kind.data(results, ctx)
    if data is None or data.empty:
        return None
    with drawing(ctx.page):
        fig = kind.draw(data, ctx)
        fit_ticks(fig)
        files = save(fig, out_dir, name, ctx.options.formats, ctx.page)
    notes = kind.notes(data, ctx)
    return DrawnFigure(name, kind.caption.format(metric=ctx.metric, spread=ctx.spread),
                       _sentence("; ".join(notes)) if notes else "", data, files)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "." if text else ""
