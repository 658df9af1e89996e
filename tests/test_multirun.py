"""The launch package: the runs a sweep will launch, the checks before its first job, its end."""

from pathlib import Path

import pytest

from cnnsweep import runfolder
from cnnsweep.launch import finish as the_end
from cnnsweep.launch.finish import finish, sweep_table
from cnnsweep.launch.preflight import check_launcher, expected_runs
from cnnsweep.launch.stopping import mark_interrupted
from cnnsweep.results import gather
from cnnsweep.runlock import RunLock
from tests.runfolders import base_config, make_run

BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def test_expected_runs_are_the_folders_the_basic_sweeper_makes():
    sweeper = {"_target_": BASIC, "params": {"optimizer": "sgd,adam", "conv.filter_num": "16,30"}}
    names = expected_runs(sweeper, ["trainer.epochs=1", "+sweep=x"])
    assert sorted(names) == sorted(f"conv.filter_num={f},optimizer={o},trainer.epochs=1"
                                   for f in (16, 30) for o in ("sgd", "adam"))
    assert len(expected_runs(sweeper, ["optimizer=sgd"])) == 2  # the command line wins a key
    assert len(expected_runs({"_target_": BASIC}, ["seed=range(0,5)", "trainer.epochs=1,2"])) == 10
    assert expected_runs({"n_trials": 100}, []) == 100
    assert expected_runs({"_target_": "some.OtherSweeper"}, ["a=1,2"]) is None


def test_runs_that_never_arrived_are_named_and_fail_the_sweep(tmp_path, capsys):
    make_run(tmp_path, ["seed=1"], base_config(seed=1))
    code = finish(tmp_path, compare=False, expected=["seed=1", "seed=2"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"1 run(s) were launched but never arrived in {tmp_path}: seed=2" in err
    assert finish(tmp_path, compare=False, expected=["seed=1"]) == 0


def test_a_sweep_whose_runs_all_failed_says_so_instead_of_failing_to_compare(tmp_path, capsys):
    for seed in (1, 2):
        make_run(tmp_path, [f"seed={seed}"], base_config(seed=seed), status="failed")
    assert finish(tmp_path, expected=["seed=1", "seed=2"]) == 1
    err = capsys.readouterr().err
    assert "no report: no run finished" in err
    assert "2 run(s) failed or did not finish: seed=1, seed=2" in err
    assert not (tmp_path / "report.md").exists()


def test_the_end_table_ranks_by_the_sweeps_metric(tmp_path):
    for opt, acc in (("sgd", 0.5), ("adam", 0.9), ("momentum", 0.7)):
        make_run(tmp_path, [f"optimizer={opt}"], base_config(), test_acc=acc)
    lines = sweep_table(gather([tmp_path]).runs, "train_acc").splitlines()
    assert lines[0].split() == ["run", "status", "train_acc", "seconds"]
    assert [line.split()[0] for line in lines[1:]] == ["optimizer=adam", "optimizer=momentum",
                                                        "optimizer=sgd"]


def test_launchers_that_cannot_work_here_fail_in_one_line(capsys, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SystemExit) as exit_:
        check_launcher({"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher."
                                    "SlurmLauncher"})
    assert exit_.value.code == 2
    assert "SLURM is not available here (no sbatch on PATH)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        check_launcher({"_target_": "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher",
                        "ray": {"init": {"address": "127.0.0.1:1"}}})
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err


def _run_that_ends_when_looked_at(tmp_path, monkeypatch, owner: object, name: str) -> Path:
    """A run trained elsewhere (its lock held, no summary) that ends, summary written and lock
    released, at the moment `owner.name` is first called: the worst moment to look."""
    run = make_run(tmp_path, ["seed=1"], base_config(seed=1))
    summary = run / runfolder.SUMMARY
    kept = summary.read_bytes()
    summary.unlink()
    holder = RunLock(run)
    assert holder.acquire() is None
    real = getattr(owner, name)
    ended: list[bool] = []

    def end_then(*args, **kwargs):
        if not ended:
            summary.write_bytes(kept)
            holder.release()
            ended.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, end_then)
    return run


def test_a_run_that_ends_while_the_sweep_ends_counts_as_finished(tmp_path, monkeypatch, capsys):
    _run_that_ends_when_looked_at(tmp_path, monkeypatch, the_end, "running_elsewhere")
    assert finish(tmp_path, compare=False, expected=["seed=1"]) == 0
    assert "failed or did not finish" not in capsys.readouterr().err


def test_an_interrupt_keeps_the_summary_of_a_run_that_ends_meanwhile(tmp_path, monkeypatch):
    run = _run_that_ends_when_looked_at(tmp_path, monkeypatch, RunLock, "acquire")
    assert mark_interrupted(tmp_path, "SIGINT") == (1, 0)
    assert runfolder.read_summary(run).status == runfolder.Status.OK


def test_the_end_table_says_once_what_every_run_shares():
    import pandas as pd

    long = "dataset.train_size=600,optimizer.lr=0.01,seed=0,trainer.epochs=3"
    runs = pd.DataFrame({
        "run": ["dataset.train_size=600,optimizer.lr=0.01,seed=0,trainer.epochs=1", long,
                "dataset.train_size=600,optimizer.lr=0.1,seed=0,trainer.epochs=1"],
        "status": ["ok", "ok (continued from epoch 1 of dataset.train_size=600,optimizer.lr="
                   "0.01,seed=0,trainer.epochs=1)", "ok"],
        "test_acc": [0.8, 0.9, 0.5], "wall_seconds": [1.0, 2.0, 1.0]})
    lines = sweep_table(runs, "test_acc").splitlines()
    assert [line.split()[0] for line in lines[1:4]] == [
        "optimizer.lr=0.01,trainer.epochs=3", "optimizer.lr=0.01,trainer.epochs=1",
        "optimizer.lr=0.1,trainer.epochs=1"]
    assert "ok (continued from epoch 1 of optimizer.lr=0.01,trainer.epochs=1)" in lines[1]
    assert lines[-1] == "(every run also has dataset.train_size=600,seed=0)"
