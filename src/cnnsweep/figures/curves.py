"""Learning curves: training loss per iteration, accuracy per epoch, and the best runs' curves.

Each setting is one line in its palette colour (the mean over its runs, with a ±1 std band where
it has several); a second key splits the figure into panels, in the same order everywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from cnnsweep.figures import FigureContext
from cnnsweep.figures.style import (
    HELD_OUT,
    NEUTRAL,
    TRAIN,
    chars_in,
    figure_legend,
    grid,
    label_outer,
    short_value,
    smooth,
    wrapped,
)
from cnnsweep.results import Results, setting_labels

LEGEND_HEIGHT = 0.6  # inches under the panels for the settings' legend
MARK_EVERY = 10  # markers per line: enough to tell lines apart in grey print
# Above this many lines in a panel, bands and markers hide more than they show (and a hundred
# overlapping bands take seconds to draw): the lines alone, and the figure says so.
BAND_LIMIT = 12
CROWDED_POINTS = 150  # a crowded panel's lines are drawn through at most this many points


def _labelled(results: Results, table: pd.DataFrame, ctx: FigureContext) -> pd.DataFrame:
    """`table` (one row per step or epoch) with each row's palette label and panel value."""
    labels = setting_labels(results.runs, ctx.palette.keys) if ctx.palette.keys else \
        pd.Series("all runs", index=results.runs.index)
    by_run = dict(zip(results.runs["run_id"], labels, strict=True))
    out = table.assign(label=table["run_id"].map(by_run))
    out["panel"] = out[ctx.panel] if ctx.panel else None
    return out


def _band(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    keys = ["panel", "label", x]
    return frame.groupby(keys, dropna=False, sort=False)[y].agg(["mean", "std", "count"]) \
        .reset_index().rename(columns={"count": "n"})


def loss_data(results: Results, ctx: FigureContext) -> pd.DataFrame | None:
    """Per panel, setting and iteration: the mean training loss over the setting's runs, its
    std, n, and both smoothed with the book's window."""
    steps = results.steps
    if steps.empty:
        return None
    table = _band(_labelled(results, steps, ctx), "iteration", "train_loss")
    table = table.sort_values(["panel", "label", "iteration"], na_position="first") \
        .reset_index(drop=True)
    window = ctx.options.smooth
    smoothed, smoothed_std = np.empty(len(table)), np.empty(len(table))
    mean, std = table["mean"].to_numpy(), table["std"].fillna(0).to_numpy()
    # One line per (panel, setting), consecutive after the sort: smooth each slice.
    line = table.groupby(["panel", "label"], dropna=False, sort=False).ngroup().to_numpy()
    starts = np.flatnonzero(np.r_[True, line[1:] != line[:-1]])
    for a, b in zip(starts, [*starts[1:], len(table)], strict=True):
        smoothed[a:b], smoothed_std[a:b] = smooth(mean[a:b], window), smooth(std[a:b], window)
    return table.assign(smoothed=smoothed, smoothed_std=smoothed_std)


def _panel_axes(ctx: FigureContext, results_panels: list[object]) \
        -> tuple[Figure, list[tuple[object, Axes]]]:
    fig, axes = grid(len(results_panels), ctx.page, extra_height=LEGEND_HEIGHT)
    return fig, list(zip(results_panels, axes, strict=True))


def _draw_lines(ax: Axes, part: pd.DataFrame, x: str, y: str, spread: str | None,
                ctx: FigureContext, style: str = "-", label: bool = True) -> None:
    lines = dict(list(part.groupby("label", sort=False)))
    crowded = len(lines) > BAND_LIMIT
    for name in ctx.palette.labels:  # the palette's (sorted) order: legends follow it
        line = lines.get(name)
        if line is None:
            continue
        colour = ctx.palette.colours[name]
        marker = None if crowded else ctx.palette.markers[name] or None
        if crowded and len(line) > CROWDED_POINTS:  # the same curve at this size, fewer points
            line = line.iloc[np.linspace(0, len(line) - 1, CROWDED_POINTS).round().astype(int)]
        # gid: the setting an artist draws, so that tests can check colours per setting.
        ax.plot(line[x], line[y], style, color=colour, marker=marker, markersize=3.5,
                markevery=max(1, len(line) // MARK_EVERY), label=name if label else None,
                gid=name, linewidth=1.2)
        if spread and not crowded and (line["n"] > 1).any():
            sd = line[spread].fillna(0)
            ax.fill_between(line[x], line[y] - sd, line[y] + sd, color=colour, alpha=0.15,
                            linewidth=0)


def _panel_title(ctx: FigureContext, value: object) -> str:
    if not ctx.panel:
        return ""
    panels = min(len(ctx.panel_order), ctx.page.columns)
    chars = chars_in(ctx.page.width / panels, ctx.page.font) - 1
    return wrapped(f"{ctx.panel}={short_value(value)}", chars)


def draw_loss(table: pd.DataFrame, ctx: FigureContext) -> Figure:
    fig, axes = _panel_axes(ctx, ctx_panels(table, ctx))
    for value, ax in axes:
        part = table if ctx.panel is None else table[table["panel"] == value]
        _draw_lines(ax, part, "iteration", "smoothed", "smoothed_std", ctx)
        ax.set_title(_panel_title(ctx, value))
        if ctx.options.loss_ylim:
            ax.set_ylim(*ctx.options.loss_ylim)
        ax.grid(alpha=0.3)
    label_outer([ax for _, ax in axes], "iterations", "training loss")
    ctx.palette.legend(fig, _present(table, ctx), ctx.page)
    return fig


def loss_notes(table: pd.DataFrame, ctx: FigureContext) -> list[str]:
    window = ctx.options.smooth
    notes = [f"smoothed over {window} iterations"] if window >= 3 else []
    return [*notes, *_band_notes(table, ctx)]


def _band_notes(table: pd.DataFrame, ctx: FigureContext) -> list[str]:
    pooled = [ctx.pooled] if ctx.pooled else []
    if not (table["n"] > 1).any():
        return pooled
    if table.groupby("panel", dropna=False)["label"].nunique().max() > BAND_LIMIT:
        return [f"lines: means over {ctx.spread} (bands left out: more than {BAND_LIMIT} "
                "lines)", *pooled]
    return [f"lines: means over {ctx.spread}, bands ±1 std", *pooled]


def _present(table: pd.DataFrame, ctx: FigureContext) -> list[str]:
    """The settings drawn in `table`, in the palette's order."""
    drawn = set(table["label"])
    return [label for label in ctx.palette.labels if label in drawn]


def ctx_panels(table: pd.DataFrame, ctx: FigureContext) -> list[object]:
    """The panel values present in `table`, in the report's one order."""
    if ctx.panel is None:
        return [None]
    present = set(table["panel"])
    return [v for v in ctx.panel_order if v in present]


def accuracy_data(results: Results, ctx: FigureContext, train_only: bool = False) \
        -> pd.DataFrame | None:
    """Per panel, setting, split and epoch: mean accuracy over the setting's runs, std and n.
    The held-out split is validation when the runs hold some out, else test."""
    epochs = results.epochs
    if epochs.empty:
        return None
    frame = _labelled(results, epochs, ctx)
    held = "val_acc" if "val_acc" in frame and frame["val_acc"].notna().any() else "test_acc"
    splits = {"train": "train_acc"} if train_only else {held.removesuffix("_acc"): held,
                                                       "train": "train_acc"}
    parts = []
    for split, column in splits.items():
        band = _band(frame, "epoch", column).assign(split=split)
        sample = f"{split}_sample"
        if sample in frame:  # how many images each per-epoch evaluation used
            band = band.assign(sample=frame.groupby(["panel", "label", "epoch"], dropna=False,
                                                    sort=False)[sample].max().to_numpy())
        parts.append(band)
    return pd.concat(parts, ignore_index=True).sort_values(["split", "panel", "label", "epoch"],
                                                           na_position="first")


def _sample_note(table: pd.DataFrame) -> str:
    if "sample" not in table or table["sample"].isna().all():
        return ""
    sizes = {split: int(part["sample"].max()) for split, part in table.groupby("split")
             if part["sample"].notna().any()}
    return "per-epoch evaluation on " + ", ".join(f"{n:,} {split}" for split, n in
                                                   sizes.items()) + " images"


def _splits(table: pd.DataFrame) -> list[str]:
    """The held-out split (val or test) first, drawn solid, as the figure's title says; train
    second, dashed. (Sorted by name, val came after train and was drawn dashed.)"""
    return sorted(dict.fromkeys(table["split"]), key=lambda split: split == "train")


def draw_accuracy(table: pd.DataFrame, ctx: FigureContext) -> Figure:
    panels = ctx_panels(table, ctx)
    fig, axes = _panel_axes(ctx, panels)
    splits = _splits(table)
    styles = dict(zip(splits, ("-", "--"), strict=False))
    for value, ax in axes:
        part = table if ctx.panel is None else table[table["panel"] == value]
        for split in splits:
            _draw_lines(ax, part[part["split"] == split], "epoch", "mean", "std", ctx,
                        styles[split], label=False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 1.0)
        ax.set_title(_panel_title(ctx, value))
        ax.grid(alpha=0.3)
    label_outer([ax for _, ax in axes], "epochs",
                "train accuracy" if splits == ["train"] else "accuracy")
    # What the line styles mean joins the settings' legend (one legend, below the panels).
    extra = [(Line2D([], [], color=NEUTRAL, linestyle=styles[s]), s) for s in splits] \
        if len(splits) > 1 else []
    ctx.palette.legend(fig, _present(table, ctx), ctx.page, extra)
    return fig


def accuracy_notes(table: pd.DataFrame, ctx: FigureContext) -> list[str]:
    splits = _splits(table)
    styles = [f"{split} {style}" for split, style in zip(splits, ("solid", "dashed"),
                                                         strict=False)]
    sample = _sample_note(table)
    return [*(["; ".join(styles)] if len(splits) > 1 else []), *([sample] if sample else []),
            *_band_notes(table, ctx)]


def train_accuracy_data(results: Results, ctx: FigureContext) -> pd.DataFrame | None:
    return accuracy_data(results, ctx, train_only=True)


def top_curves_data(results: Results, ctx: FigureContext) -> pd.DataFrame | None:
    """The best `top` runs by the metric, ranked, with their per-epoch accuracies."""
    metric = ctx.metric
    ok = results.ok.dropna(subset=[metric])
    if ok.empty or results.epochs.empty:
        return None
    ranked = ok.sort_values(metric, ascending=False).head(ctx.options.top)
    rank = dict(zip(ranked["run_id"], range(1, len(ranked) + 1), strict=True))
    epochs = results.epochs[results.epochs["run_id"].isin(rank)]
    held = "val_acc" if epochs["val_acc"].notna().any() else "test_acc"
    names = {row["run_id"]: ", ".join(f"{k.split('.')[-1]}={short_value(row[k])}"
                                      for k in results.varying)
             for _, row in ranked.iterrows()}
    return epochs.assign(rank=epochs["run_id"].map(rank), title=epochs["run_id"].map(names),
                         held_out=epochs[held], held_name=held.removesuffix("_acc")) \
        .sort_values(["rank", "epoch"])[["rank", "run_id", "title", "epoch", "held_out",
                                         "held_name", "train_acc"]]


def draw_top_curves(table: pd.DataFrame, ctx: FigureContext) -> Figure:
    ranks = sorted(table["rank"].unique())
    fig, axes = grid(len(ranks), ctx.page, aspect=0.7, extra_height=0.5)
    chars = chars_in(ctx.page.width / min(len(ranks), ctx.page.columns), ctx.page.small) - 1
    for ax, rank in zip(axes, ranks, strict=True):
        curve = table[table["rank"] == rank]
        ax.plot(curve["epoch"], curve["held_out"], "-", color=HELD_OUT)
        ax.plot(curve["epoch"], curve["train_acc"], "--", color=TRAIN)
        ax.set_ylim(0, 1.0)
        values = [wrapped(part, chars) for part in curve["title"].iloc[0].split(", ")]
        ax.set_title("\n".join([f"#{rank}", *values]), fontsize=ctx.page.small)
        ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(3))
    held = table["held_name"].iloc[0]
    figure_legend(fig, [Line2D([], [], color=HELD_OUT), Line2D([], [], color=TRAIN,
                                                                linestyle="--")],
                  [held, "train"], ctx.page)
    label_outer(axes, "epochs", "accuracy")
    return fig
