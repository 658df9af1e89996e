"""Every figure type, drawn for both paper widths from sweeps of 1, 2 and 3 compared keys, 2 to
12 settings, one run or several per setting, checked on what the renderer draws: no text outside
the canvas, no two texts on each other, no legend over a plotted point or line, different
labels for different settings, every colour named, fonts of at least 7 pt, the page's width."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from unittest import mock

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text

from cnnsweep import plots
from cnnsweep.compare_options import CompareOptions
from cnnsweep.figures.style import MIN_FONT, PAGES, drawing, fit_ticks
from cnnsweep.results import gather
from tests.runfolders import base_config, make_run

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def _config(values: dict[str, object], seed: int) -> dict:
    config = base_config(seed=seed)
    for key, value in values.items():
        if key in ("optimizer", "init"):
            config[key] = {**config[key], "name": value}
        elif "." in key:
            group, name = key.split(".")
            config[group] = {**config[group], name: value}
        else:
            config[key] = value
    return config


# name: (the swept values per key, runs per setting)
SHAPES = {
    "1 key, 2 settings, n=1": ({"optimizer": ("sgd", "adam")}, 1),
    "1 key, 6 settings, n=3": ({"optimizer": OPTIMIZERS}, 3),
    "1 numeric key, 12 settings, n=1": (
        {"init.std": tuple(float(f"{v:.3g}") for v in np.logspace(-4, 0, 12))}, 1),
    "2 keys, 4 settings, n=3": ({"optimizer": ("sgd", "adam"), "conv.filter_num": (16, 30)}, 3),
    "2 keys, 12 settings, n=1": ({"optimizer": OPTIMIZERS, "conv.filter_num": (16, 30)}, 1),
    "3 keys, 8 settings, n=2": ({"optimizer": ("sgd", "adam"), "conv.filter_num": (16, 30),
                                 "init": ("he", "xavier")}, 2),
    "3 keys, 12 settings, n=1": ({"optimizer": ("sgd", "momentum", "adam"),
                                  "conv.filter_num": (16, 30), "dropout": (0.0, 0.2)}, 1),
}


def _make_sweep(folder, keys: dict[str, tuple], seeds: int) -> None:
    rng = np.random.default_rng(0)
    names = list(keys)
    for combo in itertools.product(*keys.values()):
        values = dict(zip(names, combo, strict=True))
        base = 0.3 + 0.6 * rng.random()
        for seed in range(seeds):
            overrides = [f"{k}={v}" for k, v in values.items()] + \
                ([f"seed={seed}"] if seeds > 1 else [])
            make_run(folder, overrides, _config(values, seed), test_acc=base + 0.01 * seed,
                     loss_scale=1 - base, filters=True)


def _make_search(folder) -> None:
    rng = np.random.default_rng(1)
    for i in range(12):
        lr, wd = 10 ** rng.uniform(-6, -2), 10 ** rng.uniform(-8, -4)
        make_run(folder, [f"optimizer.lr={lr:.6g}", f"trainer.weight_decay={wd:.6g}"],
                 base_config(optimizer={"name": "sgd", "lr": lr}, trainer={"weight_decay": wd}),
                 test_acc=0.3 + 0.05 * (i % 7))


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    gathered = {}
    for i, (name, (keys, seeds)) in enumerate(SHAPES.items()):
        _make_sweep(root / f"s{i}", keys, seeds)
        gathered[name] = gather([root / f"s{i}"])
    _make_search(root / "search")
    gathered["search, 12 runs"] = gather([root / "search"])
    return gathered


def drawn_texts(fig: Figure) -> tuple[list[Text], object]:
    """The text artists the renderer actually draws (a tick outside the view is not)."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    seen: dict[int, Text] = {}
    draw = Text.draw

    def record(text: Text, renderer_) -> None:
        if text.get_visible() and text.get_text().strip():
            seen[id(text)] = text
        draw(text, renderer_)

    with mock.patch.object(Text, "draw", record):
        fig.draw(renderer)
    return list(seen.values()), renderer


def _overlap(a, b, slack: float = 1.0) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > slack and min(a.y1, b.y1) - max(a.y0, b.y0) > slack


def _data_points(fig: Figure) -> np.ndarray:
    """Display coordinates of every plotted line vertex and scatter point."""
    points = [np.empty((0, 2))]
    for ax in fig.axes:
        for line in ax.lines:
            xy = ax.transData.transform(line.get_xydata())
            if len(xy) > 1:  # along each segment too, not only at its ends
                steps = np.linspace(0, 1, 20)[:, None, None]
                xy = (xy[:-1] + steps * (xy[1:] - xy[:-1])).reshape(-1, 2)
            points.append(xy[np.isfinite(xy).all(axis=1)])
        for collection in ax.collections:
            if isinstance(collection, PathCollection) and len(collection.get_offsets()):
                points.append(collection.get_offset_transform().transform(
                    collection.get_offsets()))
    return np.concatenate(points)


def layout_problems(fig: Figure, page) -> list[str]:
    texts, renderer = drawn_texts(fig)
    canvas = fig.bbox
    problems = []
    width = fig.get_size_inches()[0]
    if abs(width - page.width) > 1e-6:
        problems.append(f"width {width} in, not the {page.name}'s {page.width}")
    boxes = {id(t): t.get_window_extent(renderer) for t in texts}
    for t in texts:
        box = boxes[id(t)]
        if box.x0 < canvas.x0 - 1 or box.x1 > canvas.x1 + 1 or box.y0 < canvas.y0 - 1 or \
                box.y1 > canvas.y1 + 1:
            problems.append(f"text {t.get_text()!r} outside the canvas")
        if t.get_fontsize() < MIN_FONT:
            problems.append(f"text {t.get_text()!r} at {t.get_fontsize()} pt")
    for a, b in itertools.combinations(texts, 2):
        if _overlap(boxes[id(a)], boxes[id(b)]):
            problems.append(f"texts {a.get_text()!r} and {b.get_text()!r} overlap")
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    points = _data_points(fig)
    for legend in legends:
        box = legend.get_window_extent(renderer)
        inside = (points[:, 0] > box.x0) & (points[:, 0] < box.x1) & \
            (points[:, 1] > box.y0) & (points[:, 1] < box.y1)
        if inside.any():
            problems.append(f"legend {[t.get_text() for t in legend.get_texts()]} covers "
                            f"{int(inside.sum())} plotted points")
        names = [t.get_text() for t in legend.get_texts()]
        if len(set(names)) != len(names):
            problems.append(f"legend repeats a name: {names}")
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t.get_text() for t in axis.get_ticklabels() if id(t) in boxes]
            if len(set(labels)) != len(labels):
                problems.append(f"tick labels repeat: {labels}")
    problems += unnamed_colours(fig, legends)
    return problems


def unnamed_colours(fig: Figure, legends: list[Legend]) -> list[str]:
    """Settings' colours (lines tagged with their setting) that no legend entry shows, in a
    figure of two or more settings without a colour bar."""
    colours = {matplotlib.colors.to_hex(line.get_color()) for ax in fig.axes
               for line in ax.lines if line.get_gid() and not line.get_gid().startswith("ci:")}
    if len(colours) < 2 or any(isinstance(getattr(ax, "_colorbar", None), Colorbar)
                               for ax in fig.axes):
        return []
    named = {matplotlib.colors.to_hex(h.get_color()) for legend in legends
             for h in legend.legend_handles if hasattr(h, "get_color")}
    # A dot plot names each setting's dot by its row's tick label.
    dots = [line for ax in fig.axes for line in ax.lines
            if line.get_gid() and not line.get_gid().startswith("ci:")]
    tick_named = all(len(line.get_xydata()) == 1 for line in dots) and any(
        len({t.get_text() for t in ax.get_yticklabels()}) >= len(dots) for ax in fig.axes)
    missing = colours - named
    return [] if not missing or tick_named else [f"colours without a name: {sorted(missing)}"]


@pytest.mark.parametrize("size", list(PAGES))
@pytest.mark.parametrize("figure", list(plots.FIGURES))
@pytest.mark.parametrize("shape", [*SHAPES, "search, 12 runs"])
def test_every_figure_fits_names_and_reads_at_paper_width(sweeps, shape, figure, size):
    results = sweeps[shape]
    # top_curves: 6 panels hold every layout case of 20 (rows, the last row short) in a third
    # of the time.
    ctx = plots.figure_context(results, CompareOptions(size=size, top=6))
    kind = plots.FIGURES[figure]
    data = kind.data(results, ctx)
    if data is None or data.empty:
        pytest.skip(f"{figure} has nothing to show for {shape}")
    with drawing(ctx.page):
        fig = kind.draw(data, ctx)
        fit_ticks(fig)
        assert layout_problems(fig, ctx.page) == []


def test_the_layout_check_finds_each_kind_of_fault():
    page = PAGES["column"]
    with drawing(page):
        fig = page.figure(2.5)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], color="#0072B2", gid="optimizer=sgd")
        ax.plot([0, 1], [1, 0], color="#D55E00", gid="optimizer=adam")
        ax.legend(["sgd"], loc="center")  # over both lines, and adam's colour unnamed
        ax.set_yticks([0, 1], ["same", "same"])
        ax.text(0.5, 0.9, "one text", fontsize=6)
        ax.text(0.5, 0.9, "on another")
        ax.text(1.5, 0.5, "off the canvas", transform=ax.transAxes)
        problems = " | ".join(layout_problems(fig, page))
    for fault in ("covers", "tick labels repeat", "at 6", "overlap", "outside the canvas",
                  "colours without a name"):
        assert fault in problems


@pytest.mark.parametrize("size", list(PAGES))
def test_pdf_figures_embed_their_fonts_as_truetype(sweeps, tmp_path, size):
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts not found (Debian: apt-get install poppler-utils)")
    results = sweeps["2 keys, 4 settings, n=3"]
    drawn = plots.draw_figure("accuracy", results, plots.figure_context(
        results, CompareOptions(size=size)), tmp_path)
    listing = subprocess.run(["pdffonts", str(drawn.files["pdf"])], capture_output=True,
                             text=True, check=True).stdout.splitlines()[2:]
    assert listing, "no fonts in the PDF"
    for line in listing:  # name, type, encoding, emb, sub, uni, object ID
        assert "TrueType" in line and " yes " in line, line
