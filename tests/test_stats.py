"""Seed statistics against scipy.stats on known numbers; the verdict's wording."""

import numpy as np
import pytest
from scipy import stats as sp

from cnnsweep.results import gather
from cnnsweep.stats import add_seeds_command, main_effects, settings_table, verdict
from tests.runfolders import base_config, make_run

ACCS = {"adam": [0.91, 0.93, 0.92, 0.95, 0.94], "momentum": [0.90, 0.92, 0.89, 0.91, 0.90],
        "sgd": [0.60, 0.62, 0.61, 0.59, 0.63]}


def sweep_of(folder, accs, seeds=None):
    for opt, values in accs.items():
        for seed, acc in enumerate(values):
            overrides = [f"optimizer={opt}"] + ([f"seed={seed}"] if seeds or len(values) > 1
                                                else [])
            make_run(folder, overrides, base_config(optimizer={"name": opt}, seed=seed),
                     test_acc=acc)
    return gather([folder])


def test_the_settings_table_matches_scipy(tmp_path):
    table = settings_table(sweep_of(tmp_path / "s", ACCS), "test_acc")
    assert table["optimizer"].tolist() == ["adam", "momentum", "sgd"]
    assert table["rank"].tolist() == [1, 2, 3] and table["n"].tolist() == [5, 5, 5]
    for _, row in table.iterrows():
        values = np.array(ACCS[row["optimizer"]])
        low, high = sp.t.interval(0.95, 4, loc=values.mean(), scale=sp.sem(values))
        assert row["mean"] == pytest.approx(values.mean())
        assert row["std"] == pytest.approx(values.std(ddof=1))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    adam, momentum = np.array(ACCS["adam"]), np.array(ACCS["momentum"])
    p = sp.ttest_ind(adam, momentum, equal_var=False).pvalue
    assert table.loc[1, "p_vs_best"] == pytest.approx(p)
    assert np.isnan(table.loc[0, "p_vs_best"])
    assert table["distinguishable"].tolist()[1:] == [p < 0.05, True]


def test_a_loss_metric_ranks_the_smallest_first(tmp_path):
    results = sweep_of(tmp_path / "s", {"adam": [0.9], "sgd": [0.6]})
    table = settings_table(results, "final_train_loss") if "final_train_loss" in \
        results.metrics() else None
    assert table is None  # the fixture records no loss: nothing to rank
    runs = results.runs.assign(final_train_loss=[0.2, 0.1])
    results.runs = runs
    assert settings_table(results, "final_train_loss")["optimizer"].tolist() == ["sgd", "adam"]


def test_verdict_with_one_run_per_setting_says_it_cannot_judge_and_how_to_fix(tmp_path):
    folder = tmp_path / "s"
    results = sweep_of(folder, {"adam": [0.971], "sgd": [0.969]})
    table = settings_table(results, "test_acc")
    command = add_seeds_command(results, str(folder))
    v = verdict(table, "test_acc", "seeds", command)
    assert v.text.startswith("Best: optimizer=adam, test_acc 0.9710 (1 run); runner-up: "
                             "optimizer=sgd, 0.9690 (1 run)")
    assert "no estimate of the seed noise: the difference of 0.0020 cannot be judged" in v.text
    assert v.command == f"python run.py -m optimizer=adam,sgd seed=1,2 hydra.sweep.dir={folder}"


def test_verdict_with_two_seeds_says_too_few(tmp_path):
    results = sweep_of(tmp_path / "s", {"adam": [0.95, 0.96], "sgd": [0.60, 0.62]})
    v = verdict(settings_table(results, "test_acc"), "test_acc", "seeds",
                add_seeds_command(results, str(tmp_path / "s")))
    assert "beyond the noise between seeds" in v.text
    assert "but 2 seeds per setting are too few to tell" in v.text
    assert v.command.endswith(f"seed=2 hydra.sweep.dir={tmp_path / 's'}")


def test_verdict_with_five_seeds_decides(tmp_path):
    results = sweep_of(tmp_path / "s", ACCS)
    v = verdict(settings_table(results, "test_acc"), "test_acc", "seeds", "unused")
    assert "Best: optimizer=adam, test_acc 0.9300 ± 0.0196 (5 runs)" in v.text
    assert "is beyond the noise between seeds (Welch's t-test, p = 0.0" in v.text
    assert v.command is None
    close = sweep_of(tmp_path / "t", {"a": [0.90, 0.92, 0.91, 0.93, 0.89],
                                      "b": [0.91, 0.90, 0.92, 0.89, 0.91]})
    v = verdict(settings_table(close, "test_acc"), "test_acc", "seeds")
    assert "within the noise between seeds" in v.text
    assert "with 5 seeds each they cannot be told apart" in v.text


def test_main_effects_average_setting_means_with_seed_noise_intervals(tmp_path):
    folder = tmp_path / "s"
    cells = {("sgd", 16): [0.50, 0.52], ("sgd", 30): [0.60, 0.64], ("adam", 16): [0.80, 0.81],
             ("adam", 30): [0.90, 0.94]}
    for (opt, fn), values in cells.items():
        for seed, acc in enumerate(values):
            make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}", f"seed={seed}"],
                     base_config(optimizer={"name": opt}, conv={"filter_num": fn}, seed=seed),
                     test_acc=acc)
    effects = main_effects(gather([folder]), "test_acc").set_index(["key", "value"])
    assert effects.loc[("optimizer", "adam"), "mean"] == pytest.approx((0.805 + 0.92) / 2)
    assert effects.loc[("conv.filter_num", 16), "mean"] == pytest.approx((0.51 + 0.805) / 2)
    assert effects.loc[("conv.filter_num", 30), "n"] == 4
    # Half-width: t(df) · sqrt(Σ var/n) / m over the two settings with adam.
    var = [np.var([0.80, 0.81], ddof=1), np.var([0.90, 0.94], ddof=1)]
    share = np.array(var) / 2 / 4
    df = share.sum() ** 2 / (share**2).sum()
    half = sp.t.ppf(0.975, df) * np.sqrt(share.sum())
    row = effects.loc[("optimizer", "adam")]
    assert row["ci_high"] - row["mean"] == pytest.approx(half)
