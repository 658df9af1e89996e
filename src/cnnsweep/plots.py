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
    draw_accuracy,
    draw_loss,
    draw_top_curves,
    loss_data,
    top_curves_data,
    train_accuracy_data,
)
from cnnsweep.figures.filters import draw_filters, filters_data
from cnnsweep.figures.settings import (
    draw_main_effects,
    draw_metric,
    draw_parallel,
    draw_scatter,
    main_effects_data,
    metric_data,
    parallel_data,
    scatter_data,
)
from cnnsweep.figures.style import Palette, drawing, panel_key, panel_values, save
from cnnsweep.results import Results


@dataclass(frozen=True)
class FigureType:
    data: Callable[[Results, FigureContext], pd.DataFrame | None]  # None: nothing to show
    draw: Callable[[pd.DataFrame, FigureContext], Figure]
    caption: str  # may use {metric} and {spread}


FIGURES: dict[str, FigureType] = {
    "loss": FigureType(loss_data, draw_loss,
                       "Training loss per iteration, one line per setting"),
    "accuracy": FigureType(accuracy_data, draw_accuracy,
                           "Accuracy per epoch: held-out (solid) and training (dashed)"),
    "train_accuracy": FigureType(train_accuracy_data, draw_accuracy,
                                 "Training accuracy per epoch"),
    "metric": FigureType(metric_data, draw_metric,
                         # what each mark is (a mean with its CI, or one run) the figure's
                         # own title says: it depends on the runs
                         "Final {metric} per setting"),
    "main_effects": FigureType(main_effects_data, draw_main_effects,
                               "Main effects: {metric} for each value of each key, averaged "
                               "over the other keys"),
    "filters": FigureType(filters_data, draw_filters,
                          "First-layer filters of the best run, before and after training"),
    "top_curves": FigureType(top_curves_data, draw_top_curves,
                             "The best runs by {metric}: held-out (solid) and training "
                             "(dashed) accuracy"),
    "scatter": FigureType(scatter_data, draw_scatter,
                          "{metric} of every run over the two swept values"),
    "parallel_coordinates": FigureType(parallel_data, draw_parallel,
                                       "Every run's swept values and {metric}"),
}


@dataclass(frozen=True)
class DrawnFigure:
    name: str
    caption: str
    data: pd.DataFrame  # the numbers the figure shows
    files: dict[str, Path]  # png, svg, pdf


def figure_context(results: Results, options: CompareOptions) -> FigureContext:
    """What every figure of one report shares: palette, panel key and order, spread label."""
    panel = panel_key(results, options.panels)
    pooled = ", ".join(f"{k} ({results.runs[k].nunique()} values)" for k in results.pooled)
    return FigureContext(options, Palette.of(results, panel), panel,
                         tuple(panel_values(results, panel)), results.spread_label(),
                         f"averaged over {pooled}" if pooled else "")


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
    with drawing():
        files = save(kind.draw(data, ctx), out_dir, name, ctx.options.formats)
    return DrawnFigure(name, kind.caption.format(metric=ctx.metric, spread=ctx.spread), data,
                       files)
