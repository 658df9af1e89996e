"""`cnnsweep compare`: bad input is one clear line, exit 2, and nothing written."""

import pytest

from cnnsweep.cli import main as cli
from tests.runfolders import base_config, make_run


@pytest.fixture
def sweep(tmp_path):
    folder = tmp_path / "sweep"
    for opt, acc in (("sgd", 0.6), ("adam", 0.95)):
        make_run(folder, [f"optimizer={opt}"], base_config(optimizer={"name": opt}),
                 test_acc=acc)
    return folder


def written(folder):
    return sorted(p.name for p in folder.iterdir() if p.is_file())


@pytest.mark.parametrize(("args", "message"), [
    (["--metric", "f1"], "metric 'f1' was not recorded by any run; the metrics are test_acc"),
    (["--by", "colour"], "--by colour: no such key; the keys that vary are optimizer, and any "
                           "config key of these runs: "),
    (["--by", "optimzer"], "--by optimzer: no such key (did you mean optimizer?)"),
    (["--figures", "pie"], "unknown figure type pie; the types are loss, accuracy"),
])
def test_bad_options_say_what_exists_and_write_nothing(sweep, capsys, args, message):
    assert cli(["compare", str(sweep), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert written(sweep) == []


def test_a_folder_without_runs(tmp_path, capsys):
    assert cli(["compare", str(tmp_path)]) == 2
    assert "no run folders" in capsys.readouterr().err


def test_the_report_paths_are_printed(sweep, capsys):
    assert cli(["compare", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert f"report: {sweep / 'report.html'}" in out
    assert f"markdown: {sweep / 'report.md'}" in out
