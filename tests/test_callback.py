"""The end of a multirun: a table, the report, and an exit code that names failed runs."""

import pytest
from omegaconf import OmegaConf

from cnnsweep.callback import CompareOnMultirunEnd, sweep_table
from cnnsweep.results import gather
from tests.runfolders import base_config, make_run


@pytest.fixture
def sweep(tmp_path):
    folder = tmp_path / "sweep"
    make_run(folder, ["optimizer=adam"], base_config(), test_acc=0.91)
    make_run(folder, ["optimizer=sgd"], base_config(), test_acc=0.52)
    return folder


def end_of(sweep_dir, compare=False):
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}},
                               "compare": {"enabled": compare}})
    CompareOnMultirunEnd().on_multirun_end(config)


def test_the_table_lists_every_run_with_its_status_and_metric(sweep):
    lines = sweep_table(gather([sweep]).runs).splitlines()
    assert lines[0].split() == ["run", "status", "test_acc", "seconds"]
    assert lines[1].split() == ["optimizer=adam", "ok", "0.9100", "1.5"]
    assert lines[2].split() == ["optimizer=sgd", "ok", "0.5200", "1.5"]


def test_a_sweep_that_went_well_ends_without_exit_and_writes_the_report(sweep, capsys):
    end_of(sweep, compare=True)
    out = capsys.readouterr().out
    assert f"sweep folder: {sweep}" in out and "report:" in out
    assert (sweep / "report.html").is_file()


def test_failed_and_unfinished_runs_are_named_and_exit_non_zero(sweep, capsys):
    make_run(sweep, ["optimizer=rmsprop"], base_config(), status="failed")
    make_run(sweep, ["optimizer=nesterov"], base_config(), status=None)
    with pytest.raises(SystemExit) as exit_:
        end_of(sweep)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "2 run(s) failed or did not finish: optimizer=nesterov, optimizer=rmsprop" in err


def test_diverged_runs_are_listed_but_do_not_fail_the_sweep(sweep, capsys):
    make_run(sweep, ["optimizer.lr=1e30"], base_config(), status="diverged")
    end_of(sweep)
    assert "1 run(s) diverged (loss NaN/inf; history kept): optimizer.lr=1e30" in \
        capsys.readouterr().out
