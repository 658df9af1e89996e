"""The best run's first-layer filters before and after training (the book's figure 7-24)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from cnnsweep.figures import FigureContext
from cnnsweep.results import Results, is_higher_better
from cnnsweep.runfolder import FIRST_LAYER, PARAMS, PARAMS_INIT

COLUMNS = 10


def _first_layer(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return z[FIRST_LAYER] if FIRST_LAYER in z.files else None


def best_run(results: Results, metric: str) -> pd.Series | None:
    ok = results.ok.dropna(subset=[metric])
    if ok.empty:
        return None
    return ok.sort_values(metric, ascending=not is_higher_better(metric)).iloc[0]


def filters_data(results: Results, ctx: FigureContext) -> pd.DataFrame | None:
    """The best run's first-layer weights `(FN, C, FH, FW)`, initial and trained, one row per
    weight: stage, filter, channel, row, col, value (and the run)."""
    best = best_run(results, ctx.metric)
    if best is None:
        return None
    frames = []
    for stage, name in (("initial", PARAMS_INIT), ("trained", PARAMS)):
        weights = _first_layer(Path(best["path"]) / name)
        if weights is None or weights.ndim != 4:
            continue  # not saved, or not a convolution (an MLP's first layer)
        index = np.indices(weights.shape).reshape(4, -1)
        frames.append(pd.DataFrame({"stage": stage, "filter": index[0], "channel": index[1],
                                    "row": index[2], "col": index[3],
                                    "value": weights.reshape(-1).astype(float)}))
    if not frames or frames[-1]["stage"].iloc[0] != "trained":
        return None
    return pd.concat(frames, ignore_index=True).assign(run=best["run"])


def _images(part: pd.DataFrame) -> np.ndarray:
    """`(FN, FH, FW)` grey or `(FN, FH, FW, 3)` colour images (3 input channels), each filter
    scaled to [0, 1] on its own, as `imshow` shows each of the book's subplots."""
    shape = [part[c].max() + 1 for c in ("filter", "channel", "row", "col")]
    weights = part.sort_values(["filter", "channel", "row", "col"])["value"].to_numpy() \
        .reshape(shape)
    images = weights.transpose(0, 2, 3, 1) if shape[1] == 3 else weights[:, 0]
    axes = tuple(range(1, images.ndim))
    low, high = images.min(axis=axes, keepdims=True), images.max(axis=axes, keepdims=True)
    return (images - low) / np.where(high > low, high - low, 1)


def tile(images: np.ndarray, columns: int = COLUMNS) -> np.ndarray:
    """The images side by side in rows of `columns`, a one-pixel gap between them (NaN)."""
    count, h, w = images.shape[:3]
    rows = math.ceil(count / columns)
    canvas = np.full((rows * (h + 1) - 1, min(count, columns) * (w + 1) - 1,
                      *images.shape[3:]), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image
    return canvas


def draw_filters(table: pd.DataFrame, ctx: FigureContext) -> Figure:
    stages = list(dict.fromkeys(table["stage"]))
    count = int(table["filter"].max()) + 1
    rows = math.ceil(count / COLUMNS)
    page = ctx.page
    tile_size = min(page.width / COLUMNS, 0.45)  # inches per filter
    fig = page.figure(len(stages) * (rows * tile_size + 0.35) + 0.1)
    axes = fig.subplots(len(stages), 1, squeeze=False)
    grey = colormaps["gray_r"].with_extremes(bad="white")
    for ax, stage in zip(axes[:, 0], stages, strict=True):
        canvas = tile(_images(table[table["stage"] == stage]))
        if canvas.ndim == 3:  # colour: the gaps white
            canvas = np.where(np.isnan(canvas), 1.0, canvas)
        ax.imshow(canvas, cmap=grey, interpolation="nearest", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
        ax.set_title("initial weights" if stage == "initial" else "after training")
    return fig


def filters_notes(table: pd.DataFrame, ctx: FigureContext) -> list[str]:
    channels = int(table["channel"].max()) + 1
    note = [] if channels in (1, 3) else [f"channel 0 of {channels}"]
    return [f"the best run by {ctx.metric}: {table['run'].iloc[0]}",
            "each filter scaled to its own range, dark = large", *note]
