import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cnnsweep.results import NoRunsError, load_results
from cnnsweep.stats import settings_table
from tests.runfolders import base_config, make_run


@pytest.fixture
def sweep(tmp_path):
    """2 optimizers × 2 filter counts, 2 seeds each, plus one failed and one unfinished run."""
    folder = tmp_path / "sweep"
    accs = {("sgd", 16): 0.5, ("sgd", 30): 0.6, ("adam", 16): 0.8, ("adam", 30): 0.9}
    for (opt, fn), acc in accs.items():
        for seed in (1, 2):
            config = base_config(optimizer={"name": opt, "lr": 0.01},
                                 conv={"filter_num": fn, "filter_size": 5}, seed=seed)
            make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}", f"seed={seed}",
                              "+sweep=demo"], config, test_acc=acc + 0.02 * seed)
    make_run(folder, ["optimizer=sgd", "conv.filter_num=99", "seed=1"],
             base_config(conv={"filter_num": 99}, seed=1), status="failed")
    make_run(folder, ["optimizer=adam", "conv.filter_num=99", "seed=1"],
             base_config(conv={"filter_num": 99}, seed=1), status=None)
    return folder


def test_one_row_per_run_with_flattened_config_and_status(sweep):
    r = load_results([sweep])
    assert len(r.runs) == 10
    assert {"optimizer", "conv.filter_num", "optimizer.lr", "trainer.epochs", "status",
            "test_acc", "seed"} <= set(r.runs.columns)
    assert sorted(r.runs["status"].value_counts().items()) == [("failed", 1), ("ok", 8),
                                                               ("unfinished", 1)]
    failed = r.runs[r.runs["status"] == "failed"].iloc[0]
    assert "something broke" in failed["error"]


def test_varying_keys_are_the_swept_ones_without_seed_or_sweep_file(sweep):
    assert load_results([sweep]).varying == ["optimizer", "conv.filter_num"]
    assert load_results([sweep], by=["optimizer"]).varying == ["optimizer"]
    with pytest.raises(KeyError, match=r"--by colour: no such key; the keys that vary are "
                                       r"optimizer, conv\.filter_num, and any") as caught:
        load_results([sweep], by=["colour"])
    offered = caught.value.args[0].split("these runs: ")[1].split(", ")
    assert "optimizer.lr" in offered and "sweep" in offered
    assert not {"run_id", "path", "error", "status", "test_acc", "setting"} & set(offered)
    with pytest.raises(KeyError, match=r"--by optimzer: no such key \(did you mean optimizer"):
        load_results([sweep], by=["optimzer"])


def test_steps_and_epochs_are_tidy_and_joined_with_the_swept_values(sweep):
    r = load_results([sweep])
    assert len(r.steps) == 8 * 30 + 1  # the unfinished run's partial history is kept
    assert {"run_id", "iteration", "epoch", "train_loss", "optimizer", "conv.filter_num",
            "seed", "setting"} <= set(r.steps.columns)
    assert len(r.epochs) == 8 * 4 + 1  # and the unfinished run's evaluation before training
    one = r.epochs[(r.epochs["optimizer"] == "adam") & (r.epochs["conv.filter_num"] == 30)]
    assert sorted(one["seed"].unique()) == [1, 2]


def test_repeats_aggregate_to_mean_std_and_count(sweep):
    r = load_results([sweep])
    table = settings_table(r, "test_acc")
    best = table.iloc[0]
    assert (best["optimizer"], best["conv.filter_num"]) == ("adam", 30)
    assert best["mean"] == pytest.approx(np.mean([0.92, 0.94]))
    assert best["std"] == pytest.approx(np.std([0.92, 0.94], ddof=1))
    assert best["n"] == 2
    assert len(table) == 4  # the failed and unfinished runs have no metric to aggregate


def test_several_sweeps_and_single_run_folders(sweep, tmp_path):
    other = tmp_path / "other"
    run = make_run(other, ["optimizer=sgd"], base_config())
    assert len(load_results([sweep, other]).runs) == 11
    assert len(load_results([run]).runs) == 1
    assert len(load_results([tmp_path]).runs) == 11  # a tree of sweeps


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(NoRunsError, match="no run folders"):
        load_results([tmp_path])
    with pytest.raises(NoRunsError, match="does not exist"):
        load_results([tmp_path / "nope"])


def test_a_sweep_over_seeds_alone_compares_one_setting_with_repeats(tmp_path):
    for seed in (0, 1, 2):
        make_run(tmp_path / "s", [f"seed={seed}"], base_config(seed=seed),
                 test_acc=0.9 + seed / 100)
    r = load_results([tmp_path / "s"])
    assert r.varying == []
    table = settings_table(r, "test_acc")
    assert len(table) == 1 and table.iloc[0]["n"] == 3
    assert table.iloc[0]["mean"] == pytest.approx(0.91)


def test_runs_without_recorded_overrides_compare_the_config_values_that_differ(tmp_path):
    for lr in (0.1, 0.01):
        make_run(tmp_path / "s", [f"optimizer.lr={lr}"], base_config(optimizer={"lr": lr}))
    for run in (tmp_path / "s").iterdir():  # no overrides anywhere, as Hydra's compose API
        (run / ".hydra" / "overrides.yaml").write_text("[]\n")
        summary = json.loads((run / "summary.json").read_text())
        summary["overrides"] = []
        (run / "summary.json").write_text(json.dumps(summary))
    assert load_results([tmp_path / "s"]).varying == ["optimizer.lr"]


def test_a_folder_and_its_copy_count_each_run_once(sweep, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sweep, copy)
    one, both = load_results([sweep]), load_results([sweep, copy])
    assert len(both.runs) == len(one.runs) == 10 and both.conflicts.empty
    assert len(both.duplicates) == 10
    assert {str(copy)} == {str(p.parent) for p in map(Path, both.duplicates["path"])}
    assert set(both.runs["path"]) == set(one.runs["path"])
    assert both.varying == one.varying  # the sweep is no key: the folders hold one sweep's runs
    assert settings_table(both, "test_acc").equals(settings_table(one, "test_acc"))


def test_a_copy_that_extends_a_sweep_adds_its_new_seeds_as_repeats(sweep, tmp_path):
    extended = tmp_path / "extended"
    shutil.copytree(sweep, extended)
    config = base_config(optimizer={"name": "adam", "lr": 0.01},
                         conv={"filter_num": 30, "filter_size": 5}, seed=3)
    make_run(extended, ["optimizer=adam", "conv.filter_num=30", "seed=3", "+sweep=demo"],
             config, test_acc=0.95)
    both = load_results([sweep, extended])
    assert both.varying == ["optimizer", "conv.filter_num"]
    best = settings_table(both, "test_acc").iloc[0]
    assert best["n"] == 3 and best["mean"] == pytest.approx(np.mean([0.92, 0.94, 0.95]))


def test_runs_of_one_identity_that_disagree_are_separate_settings(sweep, tmp_path):
    other = tmp_path / "other-machine"
    shutil.copytree(sweep, other)
    for summary_file in other.glob("*/summary.json"):
        summary = json.loads(summary_file.read_text())
        if summary["status"] == "ok":
            summary["test_acc"] += 0.001
            summary["versions"] = {"commit": "abc1234", "cpu": "Intel Xeon"}
            summary_file.write_text(json.dumps(summary))
    both = load_results([sweep, other])
    assert len(both.conflicts) == 16 and both.conflicts["config_hash"].nunique() == 8
    assert len(both.duplicates) == 2  # the failed and the unfinished run are copies
    assert "sweep" in both.varying
    table = settings_table(both, "test_acc")
    assert len(table) == 8 and table["n"].tolist() == [2] * 8
    pooled = load_results([sweep, other], by=["optimizer", "conv.filter_num"])
    assert pooled.pooled == ["sweep"]
    assert settings_table(pooled, "test_acc")["cells"].tolist() == [2] * 4
