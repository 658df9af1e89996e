"""The run-folder contract: names, hashes, statuses, the writer and the reader."""

import json

import numpy as np
import pandas as pd
import pytest

from cnnsweep import runfolder
from cnnsweep.runfolder import NoRunsError, RunWriter, Status


def test_run_name_sorts_overrides_and_leaves_out_presentation_keys():
    name = runfolder.run_name(["optimizer=sgd", "+sweep=example", "conv.filter_num=16",
                               "compare.figures=[loss]", "++compare.metric=train_acc"])
    assert name == "conv.filter_num=16,optimizer=sgd"
    assert runfolder.run_name([]) == "defaults"
    assert runfolder.run_name(["dataset.data_dir=/a/b"]) == "dataset.data_dir=_a_b"


def test_long_run_names_stay_unique_and_under_the_file_name_limit():
    a = runfolder.run_name([f"k{i}=" + "v" * 20 for i in range(12)])
    b = runfolder.run_name([f"k{i}=" + "v" * 20 for i in range(11)] + ["k11=" + "w" * 20])
    assert len(a.encode()) <= 200 and a != b and "~" in a


def test_config_hash_ignores_presentation_and_sees_everything_else():
    config = {"optimizer": {"lr": 0.1}, "compare": {"metric": "test_acc"}}
    same = {"optimizer": {"lr": 0.1}, "compare": {"metric": "train_acc", "figures": ["loss"]}}
    other = {"optimizer": {"lr": 0.2}, "compare": {"metric": "test_acc"}}
    assert runfolder.config_hash(config) == runfolder.config_hash(same)
    assert runfolder.config_hash(config) != runfolder.config_hash(other)


def test_status_is_written_as_its_plain_value():
    assert json.dumps({"status": Status.DIVERGED}) == '{"status": "diverged"}'
    assert Status("interrupted") is Status.INTERRUPTED
    assert str(Status.OK) == "ok" and Status.OK == "ok"


def test_writer_and_reader_agree_on_the_files(tmp_path):
    with RunWriter(tmp_path) as writer:
        writer.write_epoch(0, 0, 0.1, 0.12, float("nan"), 0.0, 1000, 500)
        writer.write_step(1, 1, 2.302585)
        writer.write_epoch(1, 1, 0.5, 0.45, float("nan"), 1.25, 1000, 500)
    history = pd.read_csv(tmp_path / runfolder.HISTORY)
    epochs = pd.read_csv(tmp_path / runfolder.EPOCHS)
    assert tuple(history.columns) == runfolder.HISTORY_COLUMNS
    assert tuple(epochs.columns) == runfolder.EPOCH_COLUMNS
    assert history["train_loss"].tolist() == [2.302585]
    assert epochs["test_acc"].tolist() == [0.12, 0.45] and epochs["val_acc"].isna().all()
    runfolder.write_summary(tmp_path, runfolder.Summary(Status.OK, "run", test_acc=0.45))
    record = runfolder.read_run(tmp_path)
    assert record.status is Status.OK and record.summary.test_acc == 0.45
    assert record.config == {} and record.overrides == []


def test_saved_arrays_load_without_pickle(tmp_path):
    runfolder.save_arrays(tmp_path / runfolder.PARAMS, {runfolder.FIRST_LAYER: np.ones((2, 1))})
    with np.load(tmp_path / runfolder.PARAMS, allow_pickle=False) as z:
        assert z.files == [runfolder.FIRST_LAYER]


@pytest.mark.parametrize(("content", "status"), [
    (None, Status.UNFINISHED), ("{not json", Status.UNFINISHED), ('"a string"', Status.UNFINISHED),
    ('{"status": "exploded"}', Status.UNFINISHED), ('{"status": "failed"}', Status.FAILED),
])
def test_status_of_missing_or_unreadable_summaries(tmp_path, content, status):
    if content is not None:
        (tmp_path / runfolder.SUMMARY).write_text(content)
    assert runfolder.status_of(runfolder.read_summary(tmp_path)) is status


def test_clearing_removes_training_files_only(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / runfolder.CONFIG).write_text("seed: 0\n")
    for name in runfolder.TRAINING_FILES:
        (tmp_path / name).write_text("stale")
    runfolder.clear_training_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hydra"]


def test_find_run_dirs_in_sweeps_and_trees(tmp_path):
    for sweep, run in (("a", "x=1"), ("a", "x=2"), ("b/deep", "x=1")):
        (tmp_path / sweep / run / ".hydra").mkdir(parents=True)
        (tmp_path / sweep / run / runfolder.CONFIG).write_text("{}")
    assert len(runfolder.find_run_dirs([tmp_path])) == 3
    assert len(runfolder.find_run_dirs([tmp_path / "a", tmp_path / "a" / "x=1"])) == 2
    with pytest.raises(NoRunsError, match="does not exist"):
        runfolder.find_run_dirs([tmp_path / "nope"])
    with pytest.raises(NoRunsError, match="no run folders"):
        runfolder.find_run_dirs([tmp_path / "b" / "deep" / "x=1" / ".hydra"])


def test_a_summary_without_the_config_falls_back_to_hydras_files(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / runfolder.CONFIG).write_text("seed: 3\n")
    (tmp_path / runfolder.OVERRIDES).write_text("- seed=3\n")
    (tmp_path / runfolder.SUMMARY).write_text('{"status": "ok"}')  # as before 0.2
    record = runfolder.read_run(tmp_path)
    assert record.config == {"seed": 3} and record.overrides == ["seed=3"]
    runfolder.write_summary(tmp_path, runfolder.Summary(Status.OK, "run", config={"seed": 4},
                                                        overrides=["seed=4"]))
    record = runfolder.read_run(tmp_path)
    assert record.config == {"seed": 4} and record.overrides == ["seed=4"]
    assert record.summary.config is None


def test_started_runs_are_the_sweeps_own_folders_with_a_config(tmp_path):
    from tests.runfolders import base_config, make_run

    make_run(tmp_path, ["seed=2"], base_config(seed=2))
    make_run(tmp_path, ["seed=1"], base_config(seed=1), status=None)
    (tmp_path / "compare").mkdir()  # a comparison's folder is not a run
    make_run(tmp_path / "nested", ["seed=3"], base_config(seed=3))  # another sweep, deeper
    assert [p.name for p in runfolder.started_runs(tmp_path)] == ["seed=1", "seed=2"]
    assert runfolder.started_runs(tmp_path / "missing") == []
