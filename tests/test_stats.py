"""Seed statistics against independent computations (scipy.stats, statsmodels, hand-worked
cases, simulation); the verdict's wording and commands."""

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests

from cnnsweep import entrypoint
from cnnsweep.results import gather
from cnnsweep.stats import (
    FAR_SEEDS,
    MAX_SEEDS,
    add_seeds_command,
    holm,
    main_effects,
    power,
    seeds_needed,
    settings_table,
    verdict,
)
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
    raw = [sp.ttest_ind(adam, np.array(ACCS[o]), equal_var=False).pvalue
           for o in ("momentum", "sgd")]
    adjusted = multipletests(raw, method="holm")[1]
    assert table["p_vs_best_holm"].tolist()[1:] == pytest.approx(adjusted)
    assert table["distinguishable"].tolist()[1:] == [a < 0.05 for a in adjusted]
    assert table["cells"].tolist() == [1, 1, 1] and table["dof"].tolist() == [4, 4, 4]


def adds_seeds(results):
    return lambda seeds, settings: add_seeds_command(results, seeds, settings)


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
    v = verdict(table, "test_acc", "seeds", adds_seeds(results))
    assert v.text.startswith("Best: optimizer=adam, test_acc 0.9710 (1 run); runner-up: "
                             "optimizer=sgd, 0.9690 (1 run)")
    assert "no estimate of the seed noise: the difference of 0.0020 cannot be judged" in v.text
    assert v.command == f"python run.py -m optimizer=adam,sgd seed=1,2 hydra.sweep.dir={folder}"


def test_verdict_with_two_seeds_says_too_few(tmp_path):
    results = sweep_of(tmp_path / "s", {"adam": [0.95, 0.96], "sgd": [0.60, 0.62]})
    v = verdict(settings_table(results, "test_acc"), "test_acc", "seeds", adds_seeds(results))
    assert "beyond the noise between seeds" in v.text
    assert ("optimizer=adam is ahead beyond the noise, but 2 seeds per setting are too few to "
            "tell.") in v.text
    assert v.command.endswith(f"optimizer=adam,sgd seed=2 hydra.sweep.dir={tmp_path / 's'}")


def test_verdict_with_five_seeds_decides(tmp_path):
    results = sweep_of(tmp_path / "s", ACCS)
    v = verdict(settings_table(results, "test_acc"), "test_acc", "seeds", adds_seeds(results))
    assert "Best: optimizer=adam, test_acc 0.9300 ± 0.0196 (5 runs)" in v.text
    assert "is beyond the noise between seeds (Welch's t-test, Holm-adjusted p = 0.0" in v.text
    assert "optimizer=adam is the best beyond noise (family-wise 95%)" in v.text
    assert v.command is None
    close = sweep_of(tmp_path / "t", {"a": [0.90, 0.92, 0.91, 0.93, 0.89],
                                      "b": [0.91, 0.90, 0.92, 0.89, 0.91]})
    v = verdict(settings_table(close, "test_acc"), "test_acc", "seeds", adds_seeds(close))
    assert "within the noise between seeds" in v.text
    assert "2 settings cannot be told apart from the best at 95% confidence" in v.text
    # a difference of 0.004 at stds of 0.016 and 0.011 takes far more than 20 seeds
    a, b = np.array([0.90, 0.92, 0.91, 0.93, 0.89]), np.array([0.91, 0.90, 0.92, 0.89, 0.91])
    diff, std_a, std_b = a.mean() - b.mean(), a.std(ddof=1), b.std(ddof=1)
    far = seeds_needed(diff, std_a, std_b, limit=FAR_SEEDS)
    assert power(diff, std_a, std_b, far - 1) < 0.8 <= power(diff, std_a, std_b, far)
    assert ("The difference is too small to resolve cheaply: at this noise it takes "
            f"{far:,} seeds per setting") in v.text and 100 < far < 1000
    assert f"adds seeds up to {MAX_SEEDS} per setting" in v.text
    assert v.command.endswith(f"optimizer=a,b seed={','.join(map(str, range(5, 20)))} "
                              f"hydra.sweep.dir={tmp_path / 't'}")
    assert f"more than the {MAX_SEEDS} this asks for." in v.text
    # without a command to add seeds (a search's report) the sentence names none
    plain = verdict(settings_table(close, "test_acc"), "test_acc", "seeds", None)
    assert plain.command is None and "this asks for" not in plain.text
    assert plain.text.endswith("noncentral t).")


BEST = np.array([0.950, 0.956, 0.944, 0.953, 0.947])
# b and c are below the best at raw p = 0.037 and 0.029, but not after Holm's correction over
# the four comparisons (0.086 each); d is within the noise; e is far below.
CONSTRUCTED = {"a": BEST, "b": BEST - 0.0075, "c": BEST[::-1] - 0.008, "d": BEST - 0.004,
               "e": BEST - 0.03}


def test_holm_matches_statsmodels_and_a_hand_worked_case():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.2, np.nan, 0.01])  # NaN is not part of the family: m = 2
    assert np.isnan(adjusted[1]) and adjusted[[0, 2]] == pytest.approx([0.2, 0.02])
    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 30):
        p = rng.uniform(0, 0.2, m) ** 2
        assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_the_candidates_for_best_are_the_settings_holm_cannot_separate(tmp_path):
    results = sweep_of(tmp_path / "s", {k: list(v) for k, v in CONSTRUCTED.items()})
    table = settings_table(results, "test_acc").set_index("optimizer")
    raw = {k: sp.ttest_ind(BEST, v, equal_var=False).pvalue for k, v in CONSTRUCTED.items()
           if k != "a"}
    assert table.loc[list(raw), "p_vs_best"].tolist() == pytest.approx(list(raw.values()))
    assert raw["b"] < 0.05 and raw["c"] < 0.05  # uncorrected, they would be "beyond noise"
    assert table["could_be_best"].to_dict() == {"a": True, "c": True, "b": True, "d": True,
                                                "e": False}
    assert table["distinguishable"].tolist()[1:] == [False, False, False, True]
    v = verdict(table.reset_index(), "test_acc", "seeds", adds_seeds(results))
    assert ("4 settings cannot be told apart from the best at 95% confidence (family-wise) and "
            "could be the best: optimizer=a; optimizer=d; optimizer=b; optimizer=c.") in v.text
    assert v.settings == ("optimizer=a", "optimizer=d", "optimizer=b", "optimizer=c")
    assert "optimizer=a,b,c,d seed=" in v.command and "optimizer=e" not in v.command


def simulated_power(diff, std_a, std_b, seeds, draws=4000):
    """How often Welch's test separates draws from two normals at two-sided 5%."""
    rng = np.random.default_rng(seeds)
    a = rng.normal(0.0, std_a, (draws, seeds))
    b = rng.normal(diff, std_b, (draws, seeds))
    return float((sp.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05).mean())


@pytest.mark.parametrize(("diff", "std_a", "std_b"), [(0.01, 0.008, 0.012), (0.003, 0.002,
                                                                               0.002)])
def test_seeds_needed_gives_80_percent_power_in_a_simulation(diff, std_a, std_b):
    needed = seeds_needed(diff, std_a, std_b)
    assert needed is not None and 3 <= needed <= 20
    assert power(diff, std_a, std_b, needed) >= 0.8 > power(diff, std_a, std_b, needed - 1)
    # 4,000 draws: the simulated power is within ±0.02 of the true one (3 standard errors)
    assert simulated_power(diff, std_a, std_b, needed) > 0.78
    assert simulated_power(diff, std_a, std_b, needed - 1) < 0.82
    for seeds in (needed - 1, needed, needed + 3):
        assert power(diff, std_a, std_b, seeds) == pytest.approx(
            simulated_power(diff, std_a, std_b, seeds), abs=0.025)
    assert seeds_needed(diff / 10, std_a, std_b) is None  # beyond the cap of 20


def test_the_verdict_asks_for_the_seeds_that_settle_best_and_runner_up(tmp_path):
    best = np.array([0.950, 0.960, 0.940])
    results = sweep_of(tmp_path / "s", {"adam": list(best), "sgd": list(best - 0.012)})
    table = settings_table(results, "test_acc")
    v = verdict(table, "test_acc", "seeds", adds_seeds(results))
    needed = seeds_needed(0.012, 0.01, 0.01)
    assert needed == v.seeds and 3 < needed <= MAX_SEEDS
    assert (f"a difference this size at this noise needs {needed} seeds per setting; they have "
            "3.") in v.text
    new = ",".join(map(str, range(3, needed)))
    assert v.command == (f"python run.py -m optimizer=adam,sgd seed={new} "
                         f"hydra.sweep.dir={tmp_path / 's'}")


def test_commands_start_as_the_sweep_was_started(tmp_path):
    folder = tmp_path / "s"
    results = sweep_of(folder, {"adam": [0.971], "sgd": [0.969]})
    entrypoint.record(folder, ["cnnsweep run", "-m", "--config-dir", "mine",
                               "hydra/launcher=slurm", "optimizer=adam,sgd", "seed=0",
                               f"hydra.sweep.dir={folder}"])
    assert add_seeds_command(results, 3) == (
        f"cnnsweep run --config-dir mine hydra/launcher=slurm -m optimizer=adam,sgd seed=1,2 "
        f"hydra.sweep.dir={folder}")
    entrypoint.record(folder, ["python -m cnnsweep", "-m", "optimizer=adam,sgd"])
    assert add_seeds_command(results, 3).startswith("python -m cnnsweep -m optimizer=adam,sgd")
    entrypoint.record(folder, ["/home/me/run.py", "-m"])
    assert add_seeds_command(results, 3).startswith("python /home/me/run.py -m optimizer")


def grid_with_filter_counts(folder, cells):
    for (opt, fn), values in cells.items():
        for seed, acc in enumerate(values):
            make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}", f"seed={seed}"],
                     base_config(optimizer={"name": opt}, conv={"filter_num": fn}, seed=seed),
                     test_acc=acc)
    return gather([folder])


def test_a_left_out_key_is_a_block_not_noise(tmp_path):
    # The filter count moves accuracy by 0.10; the seeds by about 0.01.
    cells = {("sgd", 16): [0.80, 0.81, 0.79], ("sgd", 30): [0.90, 0.92, 0.91],
             ("adam", 16): [0.83, 0.82, 0.84], ("adam", 30): [0.93, 0.94, 0.92]}
    results = grid_with_filter_counts(tmp_path / "s", cells).by(["optimizer"])
    assert results.pooled == ["conv.filter_num"]
    table = settings_table(results, "test_acc").set_index("optimizer")
    adam16, adam30 = np.array(cells[("adam", 16)]), np.array(cells[("adam", 30)])
    sgd16, sgd30 = np.array(cells[("sgd", 16)]), np.array(cells[("sgd", 30)])
    row = table.loc["adam"]
    assert row["mean"] == pytest.approx((adam16.mean() + adam30.mean()) / 2)
    assert (row["n"], row["cells"], row["dof"]) == (6, 2, 4)
    # the seed noise within each filter count, pooled: not the spread between filter counts
    within = np.sqrt((adam16.var(ddof=1) * 2 + adam30.var(ddof=1) * 2) / 4)
    assert row["std"] == pytest.approx(within)
    se = within * np.sqrt(1 / 3 + 1 / 3) / 2
    assert row["ci_high"] - row["mean"] == pytest.approx(sp.t.ppf(0.975, 4) * se)
    assert row["ci_high"] - row["mean"] < 0.02  # pooled as repeats it would be ±0.06
    # the difference of the blocked means against its seed noise (Welch–Satterthwaite)
    sgd_se = np.sqrt((sgd16.var(ddof=1) * 2 + sgd30.var(ddof=1) * 2) / 4) * np.sqrt(2 / 3) / 2
    t = (row["mean"] - table.loc["sgd", "mean"]) / np.hypot(se, sgd_se)
    dof = (se**2 + sgd_se**2) ** 2 / (se**4 / 4 + sgd_se**4 / 4)
    assert table.loc["sgd", "p_vs_best"] == pytest.approx(2 * sp.t.sf(t, dof))
    assert table.loc["sgd", "distinguishable"]
    # pooled as repeats, the filter counts' spread would hide the difference (p = 0.47)
    assert sp.ttest_ind(np.r_[adam16, adam30], np.r_[sgd16, sgd30], equal_var=False).pvalue > 0.4


def test_one_run_per_cell_of_a_left_out_key_has_no_noise_estimate(tmp_path):
    cells = {("sgd", 16): [0.80], ("sgd", 30): [0.90], ("adam", 16): [0.83], ("adam", 30): [0.93]}
    results = grid_with_filter_counts(tmp_path / "s", cells).by(["optimizer"])
    table = settings_table(results, "test_acc")
    assert table["n"].tolist() == [2, 2] and table["dof"].tolist() == [0, 0]
    assert table[["ci_low", "ci_high", "p_vs_best"]].isna().all().all()
    v = verdict(table, "test_acc", "seeds", None, "conv.filter_num")
    assert ("With one run per setting and value of conv.filter_num there is no estimate of the "
            "seed noise") in v.text


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


def test_main_effects_average_over_a_left_out_key_as_a_block(tmp_path):
    folder = tmp_path / "s"
    level = {("sgd", 16): 0.5, ("sgd", 30): 0.6, ("adam", 16): 0.8, ("adam", 30): 0.9}
    for (opt, fn), acc in level.items():
        for init, shift in (("std", 0.0), ("he", 0.1)):
            for seed in (0, 1):
                make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}", f"init={init}",
                                  f"seed={seed}"],
                         base_config(optimizer={"name": opt}, conv={"filter_num": fn},
                                     init={"name": init}, seed=seed),
                         test_acc=acc + shift + seed / 100)
    results = gather([folder]).by(["optimizer", "conv.filter_num"])
    assert results.pooled == ["init"]
    effects = main_effects(results, "test_acc").set_index(["key", "value"])
    row = effects.loc[("optimizer", "adam")]
    assert row["mean"] == pytest.approx((0.8 + 0.9) / 2 + 0.05 + 0.005)
    assert row["settings"] == 4  # cells: two filter counts × two inits
    # every cell's seeds differ by 0.01 (variance 0.00005): the init's 0.1 is not noise
    share = np.full(4, 0.00005 / 2 / 16)
    half = sp.t.ppf(0.975, share.sum() ** 2 / (share**2).sum()) * np.sqrt(share.sum())
    assert row["ci_high"] - row["mean"] == pytest.approx(half)
