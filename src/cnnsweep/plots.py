"""Comparison figures from the results DataFrames only, in the style of the book's figures.

Every function draws one figure, saves it as PNG and SVG in `out_dir`, and returns the PNG
path. Repeats (runs differing only by seed) are drawn as their mean with a ±1 std band.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, safe in worker processes
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cnnsweep.results import Results, aggregate, setting_labels
from cnnsweep.runfolder import FIRST_LAYER, PARAMS, PARAMS_INIT, Status

MARKERS = ("o", "s", "D", "^", "v", "x", "*", "P")


@dataclass(frozen=True)
class FigureOptions:
    metric: str = "test_acc"  # what ranks runs and settings
    smooth: int = 11  # loss smoothing window (1: none)
    loss_ylim: tuple[float, float] | None = None
    panels: str | None = None  # key splitting curves into panels (default: the last key)
    top: int = 20  # top_curves: number of best runs


def smooth(y: np.ndarray, window: int = 11) -> np.ndarray:
    """The book's `smooth_curve`: a Kaiser-window moving average with mirrored ends."""
    y = np.asarray(y, dtype=float)
    if window < 3 or len(y) < window:
        return y
    half = window // 2
    padded = np.r_[y[half:0:-1], y, y[-2 : -half - 2 : -1]]
    w = np.kaiser(window, 2)
    return np.convolve(padded, w / w.sum(), mode="valid")


def save(fig: plt.Figure, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    fig.savefig(out_dir / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return png


def _panels(keys: Sequence[str], frame: pd.DataFrame, panel: str | None = None) \
        -> tuple[str | None, list]:
    """The key that splits a figure into panels (given, or the last of two or more compared
    keys) and its values in order."""
    if panel is None and len(keys) < 2:
        return None, [None]
    panel = panel or keys[-1]
    if panel not in frame:
        raise KeyError(f"panels={panel!r} is not a key of these runs")
    values = frame[panel].drop_duplicates()
    with contextlib.suppress(ValueError, TypeError):  # numbers: largest first, as the book
        values = values.sort_values(ascending=False, key=pd.to_numeric)
    return panel, [str(v) for v in values]


def _grid(n: int, width: float = 5.0, height: float = 3.8) -> tuple[plt.Figure, list]:
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                             sharey=True, layout="constrained")
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _line_labels(frame: pd.DataFrame, keys: Sequence[str], panel: str | None) -> pd.Series:
    inner = [k for k in keys if k != panel]
    if inner:
        return setting_labels(frame, inner)
    label = setting_labels(frame, [panel]) if panel else pd.Series("all runs", index=frame.index)
    return label


def _mean_band(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    return frame.groupby(x)[y].agg(["mean", "std", "count"]).reset_index()


def loss_curves(results: Results, out_dir: Path, options: FigureOptions = FigureOptions()) \
        -> Path | None:
    """Training loss per iteration, smoothed, one line per setting, panels by a second key."""
    steps = results.steps
    if steps.empty:
        return None
    keys, window, ylim = results.varying, options.smooth, options.loss_ylim
    panel, values = _panels(keys, steps, options.panels)
    fig, axes = _grid(len(values))
    for ax, value in zip(axes, values, strict=True):
        part = steps if panel is None else steps[steps[panel].astype(str) == value]
        labels = _line_labels(part, keys, panel)
        for i, (label, lines) in enumerate(part.groupby(labels, sort=True)):
            band = _mean_band(lines, "iteration", "train_loss")
            mean = smooth(band["mean"].to_numpy(), window)
            ax.plot(band["iteration"], mean, label=label, marker=MARKERS[i % len(MARKERS)],
                    markevery=max(1, len(band) // 10), markersize=4)
            if band["count"].max() > 1:
                sd = smooth(band["std"].fillna(0).to_numpy(), window)
                ax.fill_between(band["iteration"], mean - sd, mean + sd, alpha=0.2)
        ax.set_xlabel("iterations")
        ax.set_title(f"{panel}={value}" if panel else "training loss")
        if ylim:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("loss" + (f" (smoothed, window {window})" if window >= 3 else ""))
    return save(fig, out_dir, "loss")


def accuracy_curves(results: Results, out_dir: Path, options: FigureOptions = FigureOptions(),
                    train_only: bool = False) -> Path | None:
    """Held-out (solid) and train (dashed) accuracy per epoch, one colour per setting; with
    `train_only`, training accuracy alone (the book's batch-norm grid)."""
    epochs = results.epochs
    if epochs.empty:
        return None
    keys = results.varying
    panel, values = _panels(keys, epochs, options.panels)
    fig, axes = _grid(len(values))
    has_val = "val_acc" in epochs and epochs["val_acc"].notna().any()
    held_col, held_name = ("val_acc", "val") if has_val else ("test_acc", "test")
    for ax, value in zip(axes, values, strict=True):
        part = epochs if panel is None else epochs[epochs[panel].astype(str) == value]
        labels = _line_labels(part, keys, panel)
        for i, (label, lines) in enumerate(part.groupby(labels, sort=True)):
            color = f"C{i % 10}"
            pairs = (("train_acc", "-"),) if train_only else ((held_col, "-"), ("train_acc", "--"))
            for column, style in pairs:
                band = _mean_band(lines, "epoch", column)
                ax.plot(band["epoch"], band["mean"], style, color=color,
                        marker=MARKERS[i % len(MARKERS)], markersize=4,
                        markevery=max(1, len(band) // 12),
                        label=label if style == "-" else None)
                if band["count"].max() > 1:
                    sd = band["std"].fillna(0)
                    ax.fill_between(band["epoch"], band["mean"] - sd, band["mean"] + sd,
                                    color=color, alpha=0.15)
        if not train_only:  # one entry per setting (its colour), plus what the styles mean
            ax.plot([], [], "-", color="0.3", label=held_name)
            ax.plot([], [], "--", color="0.3", label="train")
        ax.set_xlabel("epochs")
        ax.set_ylim(0, 1.0)
        ax.set_title(f"{panel}={value}" if panel else "accuracy", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[0].set_ylabel("train accuracy" if train_only else "accuracy")
    return save(fig, out_dir, "train_accuracy" if train_only else "accuracy")


def metric_by_setting(results: Results, out_dir: Path, options: FigureOptions = FigureOptions()) \
        -> Path | None:
    """The final metric per setting: bars for one key, a heat map for two, facets beyond."""
    keys, metric = results.varying, options.metric
    table = aggregate(results.runs, keys, metric)
    if table.empty:
        return None
    if len(keys) >= 2:
        row_key, col_key = keys[0], keys[1]
        if table[row_key].nunique() * table[col_key].nunique() > 400:
            return None  # continuous values (a random search): the scatter figure shows them
        facet_keys = list(keys[2:])
        facets = setting_labels(table, facet_keys) if facet_keys else \
            pd.Series("", index=table.index)
        names = list(pd.unique(facets))
        fig, axes = _grid(len(names), width=1.2 + 1.1 * table[col_key].nunique(),
                          height=1.0 + 0.7 * table[row_key].nunique())
        for ax, name in zip(axes, names, strict=True):
            grid = table[facets == name].pivot_table(index=row_key, columns=col_key,
                                                     values="mean", aggfunc="mean")
            image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
            ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
            ax.set_yticks(range(grid.shape[0]), [str(r) for r in grid.index])
            ax.set_xlabel(col_key)
            ax.set_ylabel(row_key)
            ax.set_title(f"{metric} {name}".strip())
            lo, hi = np.nanmin(grid.to_numpy(float)), np.nanmax(grid.to_numpy(float))
            for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
                if not np.isnan(v):
                    light = hi > lo and (v - lo) / (hi - lo) < 0.5
                    ax.text(c, r, f"{v:.4f}", ha="center", va="center", fontsize=8,
                            color="white" if light else "black")
            fig.colorbar(image, ax=ax, shrink=0.8)
        return save(fig, out_dir, "metric")
    labels = setting_labels(table, keys) if keys else pd.Series(["all runs"])
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(table) + 2), 3.8))
    ax.bar(range(len(table)), table["mean"], yerr=table["std"].fillna(0), capsize=4,
           color=[f"C{i % 10}" for i in range(len(table))])
    ax.set_xticks(range(len(table)), labels, rotation=30 if len(table) > 4 else 0, ha="right"
                  if len(table) > 4 else "center")
    for i, v in enumerate(table["mean"]):
        ax.text(i, v, f"{v:.4f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per setting" + (" (mean ± std over seeds)"
                                            if table["count"].max() > 1 else ""))
    lo = float(np.nanmin(table["mean"] - table["std"].fillna(0)))
    ax.set_ylim(max(0.0, lo - 0.05) if metric.endswith("acc") else None,
                1.0 if metric.endswith("acc") else None)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, out_dir, "metric")


def _filter_grid(ax_grid: Sequence, weights: np.ndarray) -> None:
    for ax in ax_grid:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, w in zip(ax_grid, weights, strict=False):
        ax.imshow(w[0], cmap=plt.cm.gray_r, interpolation="nearest")


def best_run(results: Results, metric: str) -> pd.Series | None:
    ok = results.runs[results.runs["status"] == Status.OK].dropna(subset=[metric])
    return None if ok.empty else ok.sort_values(metric, ascending=False).iloc[0]


def first_layer_filters(results: Results, out_dir: Path,
                        options: FigureOptions = FigureOptions()) -> Path | None:
    """The best run's first-layer filters before and after training (the book's fig. 7-24)."""
    best = best_run(results, options.metric)
    return None if best is None else filters_of_run(Path(best["path"]), out_dir)


def filters_of_run(run_dir: Path, out_dir: Path, columns: int = 10) -> Path | None:
    """The first convolution's filters of one run, initial and trained, as grey images."""
    final_path, init_path = run_dir / PARAMS, run_dir / PARAMS_INIT
    if not final_path.is_file():
        return None
    with np.load(final_path, allow_pickle=False) as z:
        final = z[FIRST_LAYER] if FIRST_LAYER in z.files else None
    if final is None or final.ndim != 4:
        return None  # not a convolutional first layer
    initial = None
    if init_path.is_file():
        with np.load(init_path, allow_pickle=False) as z:
            initial = z[FIRST_LAYER] if FIRST_LAYER in z.files else None
    blocks = [("initial weights", initial), ("after training", final)]
    blocks = [(title, w) for title, w in blocks if w is not None]
    rows_each = math.ceil(len(final) / columns)
    fig = plt.figure(figsize=(columns * 0.8, (rows_each * len(blocks)) * 0.8 + 0.6 * len(blocks)))
    subfigs = fig.subfigures(len(blocks), 1, squeeze=False)[:, 0]
    for sub, (title, weights) in zip(subfigs, blocks, strict=True):
        axes = sub.subplots(rows_each, columns, squeeze=False)
        _filter_grid(list(axes.flat), weights)
        sub.suptitle(f"{title} ({run_dir.name})", fontsize=9)
    return save(fig, out_dir, "filters")


def top_curves(results: Results, out_dir: Path, options: FigureOptions = FigureOptions()) \
        -> Path | None:
    """The best `top` runs by the metric, one panel each: held-out accuracy (solid) and train
    accuracy (dashed) per epoch, titled with their values (the book's random-search figure)."""
    ok = results.runs[results.runs["status"] == Status.OK].dropna(subset=[options.metric])
    ranked = ok.sort_values(options.metric, ascending=False).head(options.top)
    if ranked.empty or results.epochs.empty:
        return None
    has_val = results.epochs["val_acc"].notna().any()
    held = "val_acc" if has_val else "test_acc"
    fig, axes = _grid(len(ranked), width=2.6, height=2.2)
    for k, (ax, (_, run)) in enumerate(zip(axes, ranked.iterrows(), strict=True), start=1):
        curve = results.epochs[results.epochs["run_id"] == run["run_id"]]
        ax.plot(curve["epoch"], curve[held], "-", color="C0")
        ax.plot(curve["epoch"], curve["train_acc"], "--", color="C1")
        ax.set_ylim(0, 1.0)
        values = ", ".join(f"{key.split('.')[-1]}={_short(run[key])}" for key in results.varying)
        ax.set_title(f"Best-{k}\n{values}", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].plot([], [], "-", color="C0", label=held.replace("_acc", ""))
    axes[0].plot([], [], "--", color="C1", label="train")
    axes[0].legend(fontsize=6, loc="lower right")
    return save(fig, out_dir, "top_curves")


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def scatter(results: Results, out_dir: Path, options: FigureOptions = FigureOptions()) \
        -> Path | None:
    """Two numeric keys against each other, each run a dot coloured by the metric (log axes
    where a key spans more than a factor 100), e.g. learning rate × weight decay."""
    runs = results.runs[results.runs["status"] == Status.OK]
    numeric = [k for k in results.varying
               if pd.to_numeric(runs[k], errors="coerce").notna().all()]
    if len(numeric) < 2 or runs.empty:
        return None
    x_key, y_key = numeric[:2]
    x, y = pd.to_numeric(runs[x_key]), pd.to_numeric(runs[y_key])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    points = ax.scatter(x, y, c=runs[options.metric], cmap="viridis", s=30, edgecolors="k",
                        linewidths=0.3)
    for values, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if (values > 0).all() and values.max() / values.min() > 100:
            setter("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key)
    fig.colorbar(points, ax=ax, label=options.metric)
    best = best_run(results, options.metric)
    if best is not None:
        ax.scatter([float(best[x_key])], [float(best[y_key])], marker="*", s=250,
                   facecolors="none", edgecolors="red", label=f"best {options.metric}")
        ax.legend(fontsize=8)
    ax.set_title(f"{options.metric} of every run")
    return save(fig, out_dir, "scatter")


FigureFunction = Callable[[Results, Path, FigureOptions], "Path | None"]
FIGURES: dict[str, FigureFunction] = {
    "loss": loss_curves,
    "accuracy": accuracy_curves,
    "train_accuracy": lambda r, out, o: accuracy_curves(r, out, o, train_only=True),
    "metric": metric_by_setting,
    "filters": first_layer_filters,
    "top_curves": top_curves,
    "scatter": scatter,
}
CAPTIONS = {
    "loss": "Training loss per iteration, one line per setting",
    "accuracy": "Accuracy per epoch: held-out (solid) and training (dashed)",
    "train_accuracy": "Training accuracy per epoch",
    "metric": "Final {metric} per setting",
    "filters": "First-layer filters of the best run, before and after training",
    "top_curves": "The best runs by {metric}: held-out (solid) and training (dashed) accuracy",
    "scatter": "{metric} of every run over the two swept values",
}
