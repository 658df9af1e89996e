"""The callback around a multirun, called as Hydra calls it: start, then end."""

import pytest
from omegaconf import OmegaConf

from cnnsweep.launch.callback import CompareOnMultirunEnd
from cnnsweep.launch.state import current
from tests.runfolders import base_config, make_run

BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


@pytest.fixture
def sweep(tmp_path):
    folder = tmp_path / "sweep"
    make_run(folder, ["optimizer=adam"], base_config(), test_acc=0.91)
    make_run(folder, ["optimizer=sgd"], base_config(), test_acc=0.52)
    return folder


def multirun(sweep_dir, task=("optimizer=adam,sgd",), compare=False, **hydra):
    """A multirun's config, as Hydra hands it to callbacks, run from start to end."""
    config = OmegaConf.create({
        "hydra": {"sweep": {"dir": str(sweep_dir)}, "overrides": {"task": list(task),
                                                                   "hydra": []},
                  "launcher": {"_target_": "hydra_plugins.hydra_joblib_launcher."
                                           "joblib_launcher.JoblibLauncher"},
                  "sweeper": {"_target_": BASIC, "params": None}, **hydra},
        "compare": {"enabled": compare, "metric": "test_acc"}})
    callback = CompareOnMultirunEnd()
    callback.on_multirun_start(config)
    try:
        callback.on_multirun_end(config)
    finally:
        current().stop()
    return config


def test_a_relative_sweep_folder_is_made_absolute_for_every_job(sweep, monkeypatch):
    monkeypatch.chdir(sweep.parent)
    config = multirun("sweep")
    assert config.hydra.sweep.dir == str(sweep)
    assert config.hydra.overrides.hydra[-1] == f"hydra.sweep.dir='{sweep}'"


def test_a_sweep_that_went_well_ends_without_exit_and_writes_the_report(sweep, capsys):
    multirun(sweep, compare=True)
    out = capsys.readouterr().out
    assert f"sweep folder: {sweep}" in out and "report:" in out
    assert (sweep / "report.html").is_file()


def test_failed_and_unfinished_runs_are_named_and_exit_non_zero(sweep, capsys):
    make_run(sweep, ["optimizer=rmsprop"], base_config(), status="failed")
    make_run(sweep, ["optimizer=nesterov"], base_config(), status=None)
    with pytest.raises(SystemExit) as exit_:
        multirun(sweep, task=("optimizer=adam,sgd,rmsprop,nesterov",))
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "2 run(s) failed or did not finish: optimizer=nesterov, optimizer=rmsprop" in err


def test_diverged_runs_are_listed_but_do_not_fail_the_sweep(sweep, capsys):
    make_run(sweep, ["optimizer.lr=1e30"], base_config(), status="diverged")
    multirun(sweep)  # an extra folder (run by hand, say) is not a lost one
    assert "1 run(s) diverged (loss NaN/inf; history kept): optimizer.lr=1e30" in \
        capsys.readouterr().out
