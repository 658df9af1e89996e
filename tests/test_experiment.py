"""One run in-process: the run folder it leaves, resume, stale files, recorded failures."""

import json
import os

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from cnnsweep import runfolder
from cnnsweep.experiment import run_experiment
from cnnsweep.runfolder import Status
from cnnsweep.schema import register_configs
from tests.conftest import REPO

TINY = ["dataset.train_size=200", "dataset.test_size=50", "trainer.epochs=1",
        "trainer.batch_size=50", "trainer.eval_sample=50", "conv.filter_num=3", "hidden_size=8"]


@pytest.fixture(scope="module")
def config():
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        yield lambda *overrides: compose("config", [*TINY, *overrides])
    GlobalHydra.instance().clear()


def test_a_run_leaves_the_contracted_files(config, tmp_path):
    summary = run_experiment(config(), tmp_path)
    assert summary.status == Status.OK
    names = {p.name for p in tmp_path.iterdir()}
    assert {runfolder.HISTORY, runfolder.EPOCHS, runfolder.PARAMS, runfolder.PARAMS_INIT,
            runfolder.SUMMARY} <= names
    written = json.loads((tmp_path / runfolder.SUMMARY).read_text())
    assert written["iterations"] == 4 and written["train_size"] == 200
    assert written["config_hash"] == summary.config_hash
    assert (tmp_path / runfolder.HISTORY).read_text().count("\n") == 1 + 4


def test_an_ok_run_of_the_same_config_is_skipped_and_a_changed_one_retrained(config, tmp_path):
    first = run_experiment(config(), tmp_path)
    again = run_experiment(config("compare.metric=train_acc"), tmp_path)  # presentation only
    assert again.skipped and again.finished_at == first.finished_at
    changed = run_experiment(config("seed=1"), tmp_path)
    assert not changed.skipped and changed.config_hash != first.config_hash


def test_stale_files_of_an_earlier_attempt_are_removed(config, tmp_path):
    (tmp_path / runfolder.PARAMS).write_text("stale")
    summary = run_experiment(config("trainer.save_params=false"), tmp_path)
    assert summary.status == Status.OK
    assert not (tmp_path / runfolder.PARAMS).exists()


def test_a_failure_is_recorded_with_its_traceback_and_nothing_is_raised(config, tmp_path):
    summary = run_experiment(config("dataset.train_size=999999"), tmp_path)
    assert summary.status == Status.FAILED
    assert "train_size=999999 must be between 1 and 5000" in summary.error
    on_disk = runfolder.read_summary(tmp_path)
    assert on_disk.status == Status.FAILED and "Traceback" in on_disk.traceback


def test_a_config_error_fails_before_any_file_is_written(config, tmp_path):
    summary = run_experiment(config("optimizer.lr=-1"), tmp_path)
    assert summary.error == "ConfigError: optimizer.lr=-1.0 must be a positive number"
    assert sorted(p.name for p in tmp_path.iterdir()) == [runfolder.LOCK, runfolder.SUMMARY]


def test_a_diverging_run_is_a_result(config, tmp_path):
    summary = run_experiment(config("optimizer=sgd", "optimizer.lr=1e30"), tmp_path)
    assert summary.status == Status.DIVERGED and "loss became" in summary.message


def test_a_full_disk_names_the_folder_and_leaves_no_half_written_summary(config, tmp_path,
                                                                          monkeypatch):
    import errno

    from cnnsweep import atomic

    def half_then_full(path, text):
        def write(f):
            f.write(text[: len(text) // 2].encode())
            raise OSError(errno.ENOSPC, "No space left on device")

        atomic.atomic_write(path, write)

    monkeypatch.setattr(runfolder, "atomic_write_text", half_then_full)
    summary = run_experiment(config(), tmp_path)
    assert summary.status == Status.FAILED
    assert f"could not write summary.json in {tmp_path}: No space left on device" in \
        summary.error
    assert not (tmp_path / runfolder.SUMMARY).exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_run_held_by_another_process_is_skipped_untouched(config, tmp_path):
    from cnnsweep.runfolder import Status
    from cnnsweep.runlock import RunLock

    lock = RunLock(tmp_path)
    assert lock.acquire() is None
    try:
        summary = run_experiment(config(), tmp_path)
    finally:
        lock.release()
    assert summary.status == Status.RUNNING_ELSEWHERE and str(os.getpid()) in summary.holder
    assert sorted(p.name for p in tmp_path.iterdir()) == [runfolder.LOCK]


def test_a_foreign_checkpoint_is_named_ignored_and_removed(config, tmp_path):
    first = run_experiment(config("trainer.epochs=2"), tmp_path / "a")
    assert first.status == Status.OK and (tmp_path / "a" / runfolder.CHECKPOINT).is_file()
    reference = run_experiment(config("trainer.epochs=2", "seed=1"), tmp_path / "ref")
    (tmp_path / "b").mkdir()
    foreign = tmp_path / "b" / runfolder.CHECKPOINT
    foreign.write_bytes((tmp_path / "a" / runfolder.CHECKPOINT).read_bytes())
    summary = run_experiment(config("trainer.epochs=2", "seed=1"), tmp_path / "b")
    assert summary.status == Status.OK and not summary.continued_from
    assert summary.checkpoints_ignored == [
        f"{foreign} belongs to another config (hash {first.config_hash}, run a)"]
    assert summary.test_acc == reference.test_acc
    assert (tmp_path / "b" / runfolder.HISTORY).read_text() == \
        (tmp_path / "ref" / runfolder.HISTORY).read_text()


def test_a_full_disk_while_checkpointing_keeps_the_last_good_one_and_training_goes_on(
        config, tmp_path, monkeypatch, caplog):
    import errno

    import numpy as np

    from cnnsweep import checkpoint

    saves = []
    real = np.savez

    def full_after_first(f, **arrays):
        if "meta" not in arrays:  # not a checkpoint
            return real(f, **arrays)
        saves.append(int(json.loads(arrays["meta"].tobytes())["iteration"]))
        if len(saves) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", full_after_first)
    summary = run_experiment(config("trainer.epochs=3"), tmp_path)
    assert summary.status == Status.OK and saves == [4, 8, 12]
    assert checkpoint.load(tmp_path / runfolder.CHECKPOINT).iteration == 4
    assert f"could not write {tmp_path / runfolder.CHECKPOINT} (No space left on device)" \
        in caplog.text
    assert not list(tmp_path.glob(".*.tmp"))


def test_checkpoints_can_be_turned_off_and_do_not_change_the_run(config, tmp_path):
    on = run_experiment(config(), tmp_path / "on")
    off = run_experiment(config("trainer.checkpoint=false", "trainer.checkpoint_seconds=1"),
                         tmp_path / "off")
    assert not (tmp_path / "off" / runfolder.CHECKPOINT).exists()
    assert off.config_hash == on.config_hash and off.test_acc == on.test_acc


def test_the_recorded_blas_is_numpys_whatever_order_the_libraries_were_loaded(monkeypatch):
    from cnnsweep import experiment

    scipy_blas = {"user_api": "blas", "internal_api": "openblas", "version": "0.3.30",
                  "filepath": "/venv/site-packages/scipy.libs/libscipy_openblas-6cdc.so"}
    numpy_blas = {"user_api": "blas", "internal_api": "openblas", "version": "0.3.31",
                  "filepath": "/venv/site-packages/numpy.libs/libscipy_openblas64_-32a4.so"}
    monkeypatch.setattr(experiment, "threadpool_info", lambda: [scipy_blas, numpy_blas])
    assert experiment.numpy_blas() == "openblas 0.3.31"
    monkeypatch.setattr(experiment, "threadpool_info", lambda: [numpy_blas, scipy_blas])
    assert experiment.numpy_blas() == "openblas 0.3.31"
    system = {**scipy_blas, "filepath": "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"}
    monkeypatch.setattr(experiment, "threadpool_info", lambda: [system])
    assert experiment.numpy_blas() == "openblas 0.3.30"  # none is numpy's own: the one there is
