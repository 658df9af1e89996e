"""Figure types: their data on known numbers, and the drawn artists (colours, order, sizes)."""

import matplotlib
import numpy as np
import pytest

from cnnsweep import plots
from cnnsweep.compare_options import CompareOptions
from cnnsweep.figures.style import OKABE_ITO, OPTION_STYLES, PAGES, drawing, smooth
from cnnsweep.results import gather
from cnnsweep.runfolder import FIRST_LAYER, PARAMS
from tests.runfolders import base_config, make_run

ACC = {("sgd", 16): 0.50, ("sgd", 30): 0.60, ("adam", 16): 0.80, ("adam", 30): 0.90,
       ("momentum", 16): 0.70, ("momentum", 30): 0.75}


@pytest.fixture
def grid_sweep(tmp_path):
    """3 optimizers × 2 filter counts × 2 seeds."""
    folder = tmp_path / "grid"
    for (opt, fn), acc in ACC.items():
        for seed in (0, 1):
            make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}", f"seed={seed}"],
                     base_config(optimizer={"name": opt}, conv={"filter_num": fn}, seed=seed),
                     test_acc=acc + 0.01 * seed, loss_scale=1 - acc,
                     filters=(opt, fn, seed) == ("adam", 30, 1))
    return folder


def context(results, **options):
    return plots.figure_context(results, CompareOptions(**options))


def drawn(name, results, ctx):
    data = plots.FIGURES[name].data(results, ctx)
    with drawing():
        return data, plots.FIGURES[name].draw(data, ctx)


def colours_by_setting(fig):
    """{setting: colour} from the artists a figure tagged with their setting (gid)."""
    found = {}
    for ax in fig.axes:
        for line in ax.lines:
            gid = line.get_gid()
            if gid and not gid.startswith("ci:"):
                found.setdefault(gid, set()).add(matplotlib.colors.to_hex(line.get_color()))
    return found


def test_one_colour_per_setting_in_every_figure(tmp_path):
    folder = tmp_path / "one"
    for i, opt in enumerate(("sgd", "momentum", "adagrad", "adam")):
        for seed in (0, 1):
            make_run(folder, [f"optimizer={opt}", f"seed={seed}"],
                     base_config(optimizer={"name": opt}, seed=seed), test_acc=0.5 + i / 10)
    results = gather([folder])
    ctx = context(results)
    seen = [colours_by_setting(drawn(name, results, ctx)[1])
            for name in ("loss", "accuracy", "metric")]
    assert seen[0] == seen[1] == seen[2]
    assert all(len(colours) == 1 for colours in seen[0].values())
    # Each optimizer its own colour, the same in every report (OPTION_STYLES).
    for opt in ("adagrad", "adam", "momentum", "sgd"):
        assert seen[0][f"optimizer={opt}"] == {OKABE_ITO[OPTION_STYLES["optimizer"][opt]].lower()}
    # The same colours in a later comparison of the same folders.
    assert colours_by_setting(drawn("loss", gather([folder]), context(gather([folder])))[1]) \
        == seen[0]


def test_curves_are_means_over_seeds_per_panel(grid_sweep):
    results = gather([grid_sweep])
    ctx = context(results, smooth=1)
    loss, _ = drawn("loss", results, ctx)
    assert ctx.panel == "conv.filter_num" and ctx.palette.keys == ("optimizer",)
    first = loss[(loss["panel"] == 30) & (loss["label"] == "optimizer=adam")].iloc[0]
    expected = np.mean([0.1 * 2.3 * np.exp(-1 / 10) + 0.1] * 2)
    assert first["iteration"] == 1 and first["n"] == 2
    assert first["mean"] == pytest.approx(expected) and first["smoothed"] == first["mean"]
    acc, _ = drawn("accuracy", results, ctx)
    last = acc[(acc["split"] == "test") & (acc["panel"] == 16) &
               (acc["label"] == "optimizer=sgd") & (acc["epoch"] == 3)].iloc[0]
    assert last["mean"] == pytest.approx(0.505) and last["sample"] == 100


def test_panels_follow_one_order_in_curves_and_heat_map(grid_sweep):
    results = gather([grid_sweep])
    ctx = context(results)
    _, loss = drawn("loss", results, ctx)
    titles = [ax.get_title() for ax in loss.axes if ax.get_title()]
    assert titles == ["conv.filter_num=16", "conv.filter_num=30"]
    _, heat = drawn("metric", results, ctx)
    ax = heat.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "30"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["adam", "momentum", "sgd"]
    assert heat.get_size_inches()[0] == PAGES["page"].width


def test_dot_plot_ranks_settings_without_whiskers_for_single_runs(tmp_path):
    folder = tmp_path / "s"
    for opt, acc in (("sgd", 0.6), ("adam", 0.95), ("momentum", 0.9)):
        make_run(folder, [f"optimizer={opt}"], base_config(optimizer={"name": opt}),
                 test_acc=acc)
    results = gather([folder])
    table, fig = drawn("metric", results, context(results))
    ax = fig.axes[0]
    top_down = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()],
                          strict=True), reverse=True)
    assert [label for _, label in top_down] == ["adam", "momentum", "sgd"]  # best on top
    assert ax.get_ylabel() == "optimizer"  # ticks without the "optimizer=" prefix
    assert not [line for line in ax.lines if (line.get_gid() or "").startswith("ci:")]
    assert "not from 0" in ax.get_xlabel() and ax.get_xlim()[0] > 0
    assert table["rank"].tolist() == [1, 2, 3]


def test_main_effects_need_two_keys(grid_sweep, tmp_path):
    results = gather([grid_sweep])
    effects, fig = drawn("main_effects", results, context(results))
    assert set(effects["key"]) == {"optimizer", "conv.filter_num"}
    assert len(fig.axes) == 2
    make_run(tmp_path / "one", ["optimizer=sgd"], base_config())
    make_run(tmp_path / "one", ["optimizer=adam"], base_config())
    single = gather([tmp_path / "one"])
    assert plots.FIGURES["main_effects"].data(single, context(single)) is None


def test_filters_are_the_best_runs_saved_weights(grid_sweep):
    results = gather([grid_sweep])
    data, fig = drawn("filters", results, context(results))
    run = data["run"].iloc[0]
    assert run == "conv.filter_num=30,optimizer=adam,seed=1"
    with np.load(grid_sweep / run / PARAMS) as z:
        saved = z[FIRST_LAYER]
    trained = data[data["stage"] == "trained"].sort_values(["filter", "channel", "row", "col"])
    np.testing.assert_allclose(trained["value"].to_numpy(), saved.reshape(-1), rtol=1e-6)
    # 30 filters of 5×5 in rows of 10, one-pixel gaps; each filter scaled to [0, 1] alone.
    image = fig.axes[1].get_images()[0].get_array()
    assert image.shape == (3 * 6 - 1, 10 * 6 - 1)
    first = saved[0, 0]
    np.testing.assert_allclose(image[:5, :5], (first - first.min()) / np.ptp(first), rtol=1e-5)
    assert np.ma.getmaskarray(image)[5, :].all()  # the gap row


def test_three_channel_filters_are_drawn_in_colour(tmp_path):
    run = make_run(tmp_path / "s", ["seed=0"], base_config(), filters=True)
    rng = np.random.default_rng(0)
    np.savez(run / PARAMS, **{FIRST_LAYER: rng.standard_normal((4, 3, 5, 5))})
    (run / "params_init.npz").unlink()
    results = gather([tmp_path / "s"])
    _, fig = drawn("filters", results, context(results))
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 1 and images[0].get_array().shape == (5, 4 * 6 - 1, 3)


def test_search_figures_scale_axes_and_mark_the_best(tmp_path):
    folder = tmp_path / "search"
    rng = np.random.default_rng(0)
    for i in range(12):
        lr, wd = 10 ** rng.uniform(-6, -2), 10 ** rng.uniform(-8, -4)
        make_run(folder, [f"optimizer.lr={lr:.6g}", f"trainer.weight_decay={wd:.6g}"],
                 base_config(optimizer={"name": "sgd", "lr": lr}, trainer={"weight_decay": wd}),
                 test_acc=0.3 + 0.05 * (i % 7))
    results = gather([folder])
    ctx = context(results)
    parallel, _ = drawn("parallel_coordinates", results, ctx)
    assert parallel["position"].between(0, 1).all()
    assert parallel.groupby("axis")["log"].first().to_dict() == {
        "optimizer.lr": True, "test_acc": False, "trainer.weight_decay": True}
    scatter, fig = drawn("scatter", results, ctx)
    assert scatter["best"].sum() == 1
    assert scatter.loc[scatter["best"], "value"].iloc[0] == scatter["value"].max()
    assert fig.axes[0].get_xscale() == "log"


def test_smooth_keeps_length_and_flattens_noise():
    y = np.r_[np.ones(50), np.zeros(50)] + np.random.default_rng(0).normal(0, 0.3, 100)
    s = smooth(y, 11)
    assert s.shape == y.shape
    assert np.std(np.diff(s)) < np.std(np.diff(y)) / 3


def _loss_colours(results, **options):
    return colours_by_setting(drawn("loss", results, context(results, **options))[1])


def test_an_option_keeps_its_colour_in_every_comparison(grid_sweep, tmp_path):
    """Two comparisons of the same runs, and a sweep of other options, paint Adam alike; a
    numeric key's value keeps its colour whatever the panels."""
    adam = OKABE_ITO[OPTION_STYLES["optimizer"]["adam"]].lower()
    full = gather([grid_sweep])
    by_optimizer = full.by(["optimizer"])
    assert _loss_colours(full)["optimizer=adam"] == {adam}
    assert _loss_colours(by_optimizer)["optimizer=adam"] == {adam}
    other = tmp_path / "other"
    for opt in ("adam", "rmsprop"):
        for init in ("he", "xavier"):
            make_run(other, [f"optimizer={opt}", f"init={init}"],
                     base_config(optimizer={"name": opt}, init={"name": init}))
    assert _loss_colours(gather([other]))["optimizer=adam"] == {adam}  # panels: init
    by_filters = _loss_colours(full.by(["conv.filter_num"]))
    panels_optimizer = _loss_colours(full, panels="optimizer")
    assert by_filters == panels_optimizer
    assert by_filters["conv.filter_num=16"] != by_filters["conv.filter_num=30"]


def test_settings_of_several_keys_are_families_of_their_options_colour(tmp_path):
    folder = tmp_path / "three"
    for opt in ("sgd", "adam"):
        for fn in (16, 30):
            for dropout in (0.0, 0.2):
                make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}",
                                  f"dropout={dropout}"],
                         base_config(optimizer={"name": opt}, conv={"filter_num": fn},
                                     dropout=dropout))
    ctx = context(gather([folder]))
    assert ctx.panel == "dropout" and ctx.palette.keys == ("optimizer", "conv.filter_num")
    colours, markers = ctx.palette.colours, ctx.palette.markers
    adam = OKABE_ITO[OPTION_STYLES["optimizer"]["adam"]].lower()
    assert colours["optimizer=adam, conv.filter_num=16"] == adam
    lighter = colours["optimizer=adam, conv.filter_num=30"]
    assert lighter != adam and sum(matplotlib.colors.to_rgb(lighter)) > \
        sum(matplotlib.colors.to_rgb(adam))  # the same hue, lighter
    adam_16, adam_30 = "optimizer=adam, conv.filter_num=16", "optimizer=adam, conv.filter_num=30"
    assert markers[adam_30] == markers[adam_16] != markers["optimizer=sgd, conv.filter_num=16"]


def test_each_figure_is_drawn_for_the_papers_width(grid_sweep):
    results = gather([grid_sweep])
    for size in PAGES:
        ctx = context(results, size=size)
        for name in ("loss", "metric", "main_effects", "filters"):
            _, fig = drawn(name, results, ctx)
            assert fig.get_size_inches()[0] == PAGES[size].width, (name, size)


def test_a_panel_key_alone_still_names_the_metric_rows(tmp_path):
    """overfit_dropout: one key, also the panel key; its rows were both "all runs"."""
    folder = tmp_path / "dropout"
    for dropout, acc in ((0.0, 0.74), (0.2, 0.51)):
        make_run(folder, [f"dropout={dropout}"], base_config(dropout=dropout), test_acc=acc)
    results = gather([folder])
    _, fig = drawn("metric", results, context(results, panels="dropout"))
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["0.0", "0.2"]
    assert ax.get_ylabel() == "dropout"


@pytest.mark.parametrize(("filter_nums", "numbers"), [((16, 30), True),
                                                      (tuple(range(4, 52, 4)), False)])
def test_the_heat_maps_caption_claims_numbers_only_where_the_cells_show_them(
        tmp_path, filter_nums, numbers):
    folder = tmp_path / "grid"
    for opt in ("sgd", "adam"):
        for fn in filter_nums:
            make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}"],
                     base_config(optimizer={"name": opt}, conv={"filter_num": fn}),
                     test_acc=0.5 + fn / 200)
    results = gather([folder])
    ctx = context(results)
    data, heat = drawn("metric", results, ctx)
    cells = [t.get_text() for t in heat.axes[0].texts]
    assert bool(cells) == numbers
    if numbers:  # every cell's mean, to four decimals
        assert sorted(cells) == sorted(f"{v:.4f}" for v in data["mean"])
    caption = plots.FIGURES["metric"].notes(data, ctx)[0]
    assert caption.startswith("colour and number:" if numbers else
                              "colour (the numbers: the settings table):")


@pytest.mark.parametrize("validation", [False, True])
def test_the_held_out_curve_is_solid_as_the_accuracy_figures_title_says(tmp_path, validation):
    folder = tmp_path / "sweep"
    for opt, acc in (("sgd", 0.6), ("adam", 0.9)):
        make_run(folder, [f"optimizer={opt}"], base_config(optimizer={"name": opt}),
                 test_acc=acc, validation=validation)
    results = gather([folder])
    ctx = context(results)
    data, fig = drawn("accuracy", results, ctx)
    held = "val" if validation else "test"
    assert plots.FIGURES["accuracy"].caption.startswith("Accuracy per epoch: held-out (solid)")
    assert plots.FIGURES["accuracy"].notes(data, ctx)[0] == f"{held} solid; train dashed"
    styles = {}
    for line in fig.axes[0].lines:
        y = line.get_ydata()
        if line.get_gid() and len(y) == 4:  # a setting's mean curve over epochs 0..3
            # make_run: train = held-out test + 0.01, val = test - 0.02
            split = "train" if any(np.isclose(y[-1], [0.61, 0.91])) else held
            styles.setdefault(split, set()).add(line.get_linestyle())
    assert styles == {held: {"-"}, "train": {"--"}}
