"""The metric per setting: a ranked dot plot with 95% confidence intervals (one key), a line
over a continuous key, a heat map (two keys, facets beyond), main effects, and for searches a
scatter and parallel coordinates.

Axes that do not start at 0 say so; intervals are drawn only where a setting has several runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnnsweep.figures import FigureContext
from cnnsweep.figures.style import (
    HIGHLIGHT,
    LINE,
    MUTED,
    NEUTRAL,
    chars_in,
    figure_legend,
    grid,
    short_value,
    upright_room,
    wrapped,
)
from cnnsweep.learning import not_learned
from cnnsweep.results import (
    Results,
    is_higher_better,
    setting_labels,
    sorted_by_values,
    value_order,
)
from cnnsweep.stats import main_effects, settings_table

HEATMAP_CELLS = 400  # beyond this many cells the values are continuous: scatter instead
ZOOMED = "axis not from 0"


def metric_data(results: Results, ctx: FigureContext) -> pd.DataFrame | None:
    """The settings table (stats.settings_table): per setting n, mean, CI, rank, p vs best;
    then the settings without a finished run, with their status (mean NaN, n 0)."""
    table = settings_table(results, ctx.metric).assign(status="ok")
    keys = results.varying
    if table.empty or (len(keys) >= 2 and table[keys[0]].nunique() *
                       table[keys[1]].nunique() > HEATMAP_CELLS):
        return None  # nothing finished, or a continuous search: scatter, parallel coordinates
    others = results.runs[~results.runs["setting"].isin(table["setting"])]
    if not others.empty:
        missing = others.groupby("setting", sort=False).agg(
            status=("status", lambda s: s.mode().iloc[0]),
            **{k: (k, "first") for k in keys}).reset_index()
        table = pd.concat([table, missing.assign(n=0, mean=np.nan)], ignore_index=True)
    flagged = set(not_learned(results, ctx.metric)["setting"])
    return table.assign(label=setting_labels(table, ctx.palette.keys) if ctx.palette.keys
                        else "all runs",
                        name=setting_labels(table, keys) if keys else "all runs",
                        learned=~table["setting"].isin(flagged))


NOT_LEARNED = "\u2020"  # a dagger after a value: the setting did not learn (learning.py)
NOT_LEARNED_NOTE = f"{NOT_LEARNED}: did not learn (final loss or accuracy at chance)"


def _spread_note(ctx: FigureContext, table: pd.DataFrame, several: str) -> list[str]:
    spread = several if (table["n"] > 1).any() else "one run per setting: no interval"
    if ctx.pooled and (table["n"] > 1).any():  # stats.settings_table: left-out keys are blocks
        spread += " (from the seed noise within each value of the keys averaged over)"
    return [spread, *([ctx.pooled] if ctx.pooled else [])]


def metric_notes(table: pd.DataFrame, ctx: FigureContext) -> list[str]:
    return _metric_notes(table, ctx) + ([] if table["learned"].all() else [NOT_LEARNED_NOTE])


def _metric_notes(table: pd.DataFrame, ctx: FigureContext) -> list[str]:
    keys = [k for k in table.columns if k in ctx.palette.keys or k == ctx.panel]
    if len(keys) >= 2:
        shown = "colour and number" if HeatMapLayout.of(table, ctx, keys).numbers else \
            "colour (the numbers: the settings table)"
        return [f"{shown}: the mean of each cell", *_spread_note(
            ctx, table, f"mean over {ctx.spread}; n runs per cell in the settings table")]
    if ctx.palette.scale is not None:
        zoomed = _y_range(table["ci_low"].fillna(table["mean"]),
                          table["ci_high"].fillna(table["mean"]))[0] > 0
        return [*_spread_note(ctx, table, f"line: mean over {ctx.spread}, band: its 95% CI"),
                *([f"y {ZOOMED}"] if zoomed else [])]
    return ["best on top; value column: mean (n runs)", *_spread_note(
        ctx, table, f"dot: mean over {ctx.spread}, whiskers: its 95% CI")]


def draw_metric(table: pd.DataFrame, ctx: FigureContext) -> Figure:
    keys = [k for k in table.columns if k in ctx.palette.keys or k == ctx.panel]
    if len(keys) >= 2:
        return _heat_maps(table, ctx, keys)
    if ctx.palette.scale is not None:
        return _metric_line(table, ctx, keys[0])
    return _dot_plot(table, ctx, keys[0] if keys else None)


def _dot_plot(table: pd.DataFrame, ctx: FigureContext, key: str | None) -> Figure:
    """Settings in rank order, best on top; whiskers are 95% CIs; values in a right column."""
    n = len(table)
    page = ctx.page
    fig = page.figure(max(1.5, 0.22 * n + 0.9))
    ax = fig.subplots()
    y = np.arange(n)[::-1]
    for yi, (_, row) in zip(y, table.iterrows(), strict=True):
        colour = ctx.palette.colours.get(row["label"], NEUTRAL)
        if row["status"] != "ok":  # nothing to plot: say why, in the value column
            ax.annotate(row["status"], xy=(1.02, yi), xycoords=("axes fraction", "data"),
                        va="center", fontsize=page.small, color=MUTED)
            continue
        if row["n"] > 1 and not np.isnan(row["ci_low"]):
            ax.plot([row["ci_low"], row["ci_high"]], [yi, yi], color=colour, linewidth=2,
                    gid=f"ci:{row['label']}")
        ax.plot(row["mean"], yi, marker=ctx.palette.markers.get(row["label"]) or "o",
                color=colour, markersize=5, linestyle="none", gid=row["label"],
                fillstyle="full" if row["learned"] else "none")
        value = f"{row['mean']:.4f}" + (f" ({row['n']})" if row["n"] != 1 else "") + \
            ("" if row["learned"] else f" {NOT_LEARNED}")
        ax.annotate(value, xy=(1.02, yi), xycoords=("axes fraction", "data"), va="center",
                    fontsize=page.small)
    names = [", ".join(part.split("=", 1)[-1] for part in name.split(", ")) if key else name
             for name in table["name"]]
    ax.set_yticks(y, names)
    ax.set_ylabel(wrapped(", ".join(k for k in (*ctx.palette.keys, ctx.panel) if k in table),
                          chars_in(1.2, page.font)) if key else "")
    ax.set_ylim(-0.7, n - 0.3)
    lows = table["ci_low"].fillna(table["mean"])
    highs = table["ci_high"].fillna(table["mean"])
    span = max(float(highs.max() - lows.min()), 1e-3)
    low, high = float(lows.min()) - 0.08 * span, float(highs.max()) + 0.08 * span
    if ctx.metric.endswith("_acc"):  # an accuracy's axis stays within [0, 1]
        low, high = max(low, 0.0), min(high, 1.0)
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(MaxNLocator(5 if page.width > 5 else 3))
    ax.set_xlabel(ctx.metric + (f" ({ZOOMED})" if low > 0 else ""))
    ax.grid(axis="x", alpha=0.3)
    return fig


def _metric_line(table: pd.DataFrame, ctx: FigureContext, key: str) -> Figure:
    """A continuous key: the mean over its values with the CI as a band."""
    ordered = table.assign(x=pd.to_numeric(table[key])).sort_values("x")
    page = ctx.page
    fig = page.figure(page.width * 0.62)
    ax = fig.subplots()
    ax.plot(ordered["x"], ordered["mean"], "-o", color=LINE, markersize=3)
    if (ordered["n"] > 1).any():
        ax.fill_between(ordered["x"], ordered["ci_low"], ordered["ci_high"], color=LINE,
                        alpha=0.2, linewidth=0)
    if ctx.palette.scale and ctx.palette.scale[0] == "log":
        ax.set_xscale("log")
    best = ordered.loc[ordered["rank"] == 1].iloc[0]
    star = ax.plot(best["x"], best["mean"], marker="*", markersize=10, color=HIGHLIGHT,
                   linestyle="none")[0]
    figure_legend(fig, [star], [f"best: {key}={short_value(best[key])}"], page)
    ax.set_xlabel(key)
    ax.set_ylim(*_y_range(ordered["ci_low"].fillna(ordered["mean"]),
                          ordered["ci_high"].fillna(ordered["mean"])))
    ax.set_ylabel(ctx.metric)
    ax.grid(alpha=0.3)
    return fig


CELL_CHARS = 7  # "0.9445" and a dagger


@dataclass(frozen=True)
class HeatMapLayout:
    """Rows: the first key; columns: the second (the curves' panel key when there are two);
    one map per value of the keys beyond (the curves' panels when there are three)."""

    row_key: str
    col_key: str
    rows: list
    cols: list
    facets: pd.Series  # each setting's map
    names: list[str]  # the maps, in value order
    columns: int  # maps side by side
    panel_width: float  # inches
    numbers: bool  # whether a cell is wide enough for its number

    @classmethod
    def of(cls, table: pd.DataFrame, ctx: FigureContext, keys: list[str]) -> HeatMapLayout:
        row_key, col_key, facet_keys = keys[0], keys[1], keys[2:]
        facets = setting_labels(table, facet_keys) if facet_keys else pd.Series("", table.index)
        names = list(dict.fromkeys(facets[sorted_by_values(table, facet_keys).index]))
        page = ctx.page
        columns = min(len(names), 3 if page.width > 5 else 1)  # 1: maps one above another
        panel_width = page.width / columns
        cols = value_order(table[col_key])
        cell = (panel_width - 1.3) / len(cols)
        return cls(row_key, col_key, value_order(table[row_key]), cols, facets, names, columns,
                   panel_width, cell > (CELL_CHARS * 0.62 * page.small + 4) / 72)


def _heat_maps(table: pd.DataFrame, ctx: FigureContext, keys: list[str]) -> Figure:
    """The maps of `HeatMapLayout`, one colour scale for all of them."""
    layout = HeatMapLayout.of(table, ctx, keys)
    row_key, col_key, rows, cols = layout.row_key, layout.col_key, layout.rows, layout.cols
    facets, names, columns, numbers = layout.facets, layout.names, layout.columns, layout.numbers
    page = ctx.page
    height = 0.26 * len(rows) + 1.0
    fig, axes = grid(len(names), page, aspect=height / layout.panel_width, sharey=False,
                     columns=columns)
    lo, hi = float(table["mean"].min()), float(table["mean"].max())
    image = None
    for i, (ax, name) in enumerate(zip(axes, names, strict=True)):
        part = table[facets == name]
        cells = part.pivot_table(index=row_key, columns=col_key, values="mean", aggfunc="mean")
        cells = cells.reindex(index=rows, columns=cols)
        image = ax.imshow(cells.to_numpy(float), cmap="viridis", aspect="auto", vmin=lo, vmax=hi)
        ax.set_xticks(range(len(cols)), [short_value(c) for c in cols])
        ax.set_yticks(range(len(rows)), [short_value(r) for r in rows] if i % columns == 0
                      else [])
        ax.set_xlabel(col_key)
        if i % columns == 0:
            ax.set_ylabel(row_key)
        if name:
            ax.set_title(name)
        statuses = part.pivot_table(index=row_key, columns=col_key, values="status",
                                    aggfunc="first").reindex(index=rows, columns=cols)
        learned = part.pivot_table(index=row_key, columns=col_key, values="learned",
                                   aggfunc="all").reindex(index=rows, columns=cols)
        for (r, c), v in np.ndenumerate(cells.to_numpy(float)):
            if np.isnan(v) and isinstance(statuses.iloc[r, c], str) and numbers:
                ax.text(c, r, statuses.iloc[r, c], ha="center", va="center",
                        fontsize=page.small, color=MUTED)
            if not np.isnan(v) and numbers:
                light = hi > lo and (v - lo) / (hi - lo) < 0.5
                flag = learned.iloc[r, c]
                mark = NOT_LEARNED if pd.notna(flag) and not bool(flag) else ""
                ax.text(c, r, f"{v:.4f}{mark}", ha="center", va="center", fontsize=page.small,
                        color="white" if light else "black")
    fig.colorbar(image, ax=axes, shrink=0.9, label=ctx.metric, pad=0.02)
    return fig


def main_effects_data(results: Results, ctx: FigureContext) -> pd.DataFrame | None:
    """For each compared key and value, the metric's mean over the other keys (stats)."""
    if len(results.varying) < 2:
        return None
    table = main_effects(results, ctx.metric)
    return None if table.empty else table


def draw_main_effects(table: pd.DataFrame, ctx: FigureContext) -> Figure:
    keys = list(dict.fromkeys(table["key"]))
    page = ctx.page
    # Tick labels too long to stand side by side are turned upright (fit_ticks): room for them.
    panel = page.width / min(len(keys), page.columns) - 0.5
    extra = max(upright_room([short_value(v) for v in table.loc[table["key"] == k, "value"]],
                             panel, page) for k in keys)
    fig, axes = grid(len(keys), page, aspect=0.7, extra_height=extra)
    grand = table.loc[table["key"] == keys[0], "mean"].mean()  # the mean of setting means
    for ax, key in zip(axes, keys, strict=True):
        part = table[table["key"] == key].reset_index(drop=True)
        x = np.arange(len(part))
        ax.errorbar(x, part["mean"], yerr=[part["mean"] - part["ci_low"].fillna(part["mean"]),
                                          part["ci_high"].fillna(part["mean"]) - part["mean"]],
                    fmt="-o", color=LINE, capsize=3, markersize=4)
        ax.axhline(grand, color=MUTED, linestyle=":", linewidth=1)
        ax.set_xticks(x, [short_value(v) for v in part["value"]])
        ax.set_xlim(-0.4, len(part) - 0.6)
        ax.set_xlabel(key)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(*_y_range(table["ci_low"].fillna(table["mean"]),
                               table["ci_high"].fillna(table["mean"])))
    axes[0].set_ylabel(f"mean {ctx.metric}")
    return fig


def main_effects_notes(table: pd.DataFrame, ctx: FigureContext) -> list[str]:
    several = table["ci_low"].notna().any()
    low = _y_range(table["ci_low"].fillna(table["mean"]),
                   table["ci_high"].fillna(table["mean"]))[0]
    return [f"mean {ctx.metric} per value of each key, every setting of the other keys "
            "weighted alike; dotted: the overall mean",
            f"whiskers: 95% CI from the noise between {ctx.spread}" if several else
            "one run per setting: no interval", *([f"y {ZOOMED}"] if low > 0 else [])]


def _y_range(lows: pd.Series, highs: pd.Series) -> tuple[float, float]:
    """The value axis of a line of means: the intervals with a margin, never below 0 for a
    metric that is never negative."""
    span = max(float(highs.max() - lows.min()), 1e-3)
    low = float(lows.min()) - 0.08 * span
    return (low if float(lows.min()) < 0 else max(low, 0.0)), float(highs.max()) + 0.08 * span


def _numeric_keys(results: Results, runs: pd.DataFrame) -> list[str]:
    return [k for k in results.varying if pd.to_numeric(runs[k], errors="coerce").notna().all()]


def scatter_data(results: Results, ctx: FigureContext) -> pd.DataFrame | None:
    """Every finished run at its values of the first two numeric keys, with its metric."""
    runs = results.ok.dropna(subset=[ctx.metric])
    numeric = _numeric_keys(results, runs)
    if len(numeric) < 2 or runs.empty:
        return None
    x_key, y_key = numeric[:2]
    best = runs[ctx.metric].idxmax() if is_higher_better(ctx.metric) else \
        runs[ctx.metric].idxmin()
    return pd.DataFrame({"x_key": x_key, "y_key": y_key, "x": pd.to_numeric(runs[x_key]),
                         "y": pd.to_numeric(runs[y_key]), "value": runs[ctx.metric],
                         "best": runs.index == best, "run": runs["run"]})


def _log_if_wide(values: pd.Series) -> bool:
    return bool((values > 0).all() and values.max() / values.min() > 100)


def draw_scatter(table: pd.DataFrame, ctx: FigureContext) -> Figure:
    page = ctx.page
    fig = page.figure(page.width * 0.7 if page.width < 5 else page.width * 0.55)
    ax = fig.subplots()
    points = ax.scatter(table["x"], table["y"], c=table["value"], cmap="viridis", s=18,
                        edgecolors="k", linewidths=0.3)
    for values, setter in ((table["x"], ax.set_xscale), (table["y"], ax.set_yscale)):
        if _log_if_wide(values):
            setter("log")
    ax.set_xlabel(table["x_key"].iloc[0])
    ax.set_ylabel(table["y_key"].iloc[0])
    fig.colorbar(points, ax=ax, label=ctx.metric, pad=0.02)
    best = table[table["best"]]
    star = ax.scatter(best["x"], best["y"], marker="*", s=160, facecolors="none",
                      edgecolors=HIGHLIGHT, linewidths=1.2)
    figure_legend(fig, [star], [f"best {ctx.metric}"], page)
    return fig


def parallel_data(results: Results, ctx: FigureContext) -> pd.DataFrame | None:
    """Every finished run's numeric swept values and metric, each axis scaled to [0, 1] (log
    where the values span more than a factor 100)."""
    runs = results.ok.dropna(subset=[ctx.metric])
    numeric = _numeric_keys(results, runs)
    if not numeric or len(runs) < 2:
        return None
    rows = []
    for key in [*numeric, ctx.metric]:
        values = pd.to_numeric(runs[key])
        log = _log_if_wide(values)
        scaled = np.log10(values) if log else values
        low, high = float(scaled.min()), float(scaled.max())
        position = (scaled - low) / (high - low) if high > low else scaled * 0 + 0.5
        rows.append(pd.DataFrame({"run": runs["run"], "axis": key, "value": values,
                                  "position": position, "log": log,
                                  "metric": runs[ctx.metric]}))
    return pd.concat(rows, ignore_index=True)


def draw_parallel(table: pd.DataFrame, ctx: FigureContext) -> Figure:
    axes_names = list(dict.fromkeys(table["axis"]))
    wide = table.pivot(index="run", columns="axis", values="position")[axes_names]
    colour_by = table.drop_duplicates("run").set_index("run")["metric"].reindex(wide.index)
    page = ctx.page
    fig = page.figure(page.width * (0.62 if page.width < 5 else 0.45))
    ax = fig.subplots()
    norm = Normalize(float(colour_by.min()), float(colour_by.max()))
    order = np.argsort(colour_by.to_numpy())  # the best drawn last, on top
    x = np.arange(len(axes_names))
    for i in order:
        ax.plot(x, wide.iloc[i].to_numpy(), color=colormaps["viridis"](norm(colour_by.iloc[i])),
                alpha=0.7, linewidth=1)
    for xi, name in zip(x, axes_names, strict=True):
        part = table[table["axis"] == name]
        ax.axvline(xi, color=NEUTRAL, linewidth=0.8)
        low, high = part["value"].min(), part["value"].max()
        ax.text(xi, -0.06, short_value(float(low)), ha="center", va="top", fontsize=page.small)
        ax.text(xi, 1.04, short_value(float(high)), ha="center", va="bottom",
                fontsize=page.small)
    chars = chars_in(page.width * 0.8 / len(axes_names), page.small)
    names = [wrapped(f"{n} (log)" if table.loc[table["axis"] == n, "log"].iloc[0] else n, chars)
             for n in axes_names]
    ax.set_xticks(x, names)
    ax.set_xlim(-0.5, len(axes_names) - 0.5)
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.12)
    ax.set_frame_on(False)
    fig.colorbar(ScalarMappable(norm, "viridis"), ax=ax, label=ctx.metric, pad=0.01)
    return fig
