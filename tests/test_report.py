import re

import pytest

from cnnsweep.cli import main as cli
from cnnsweep.plots import smooth
from tests.runfolders import base_config, make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep(tmp_path):
    folder = tmp_path / "sweep"
    for opt, acc in (("sgd", 0.6), ("adam", 0.95), ("momentum", 0.9)):
        for seed in (0, 1):
            make_run(folder, [f"optimizer={opt}", f"seed={seed}"],
                     base_config(optimizer={"name": opt}, seed=seed), test_acc=acc - 0.01 * seed,
                     loss_scale=1 - acc, filters=opt == "adam" and seed == 0)
    make_run(folder, ["optimizer=rmsprop", "seed=0"], base_config(), status="failed")
    return folder


def test_compare_writes_table_figures_and_reports(sweep, capsys):
    assert cli(["compare", str(sweep)]) == 0
    assert "report.html" in capsys.readouterr().out
    runs = sorted(p.name for p in sweep.iterdir() if (p / ".hydra").is_dir())
    for name in ("loss", "accuracy", "metric", "filters"):
        png = (sweep / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 5000, name
        assert (sweep / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    csv = (sweep / "runs.csv").read_text()
    assert csv.count("\n") == 1 + 7
    md = (sweep / "report.md").read_text()
    html = (sweep / "report.html").read_text()
    for run in runs:
        assert run in md and run in html
    for name in ("loss", "accuracy", "metric", "filters"):
        assert f"({name}.png)" in md
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 4
    assert "7 runs: 6 ok, 1 failed" in md
    assert "## Runs that did not finish ok" in md and "something broke" in md
    # Best setting first, aggregated over its two seeds.
    table = md.split("## Settings by test_acc")[1]
    first = table.strip().splitlines()[2]
    assert "| 1 | adam | 0.945 | 0.007071 | 2 |" in first


def test_compare_into_another_folder_with_explicit_keys(sweep, tmp_path):
    out = tmp_path / "report"
    assert cli(["compare", str(sweep), "--by", "optimizer", "--metric", "train_acc",
                "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "metric.png").is_file()
    assert "Settings by train_acc" in (out / "report.md").read_text()


def test_unknown_metric_lists_the_recorded_ones(sweep, capsys):
    assert cli(["compare", str(sweep), "--metric", "f1"]) == 2
    err = capsys.readouterr().err
    assert "metric 'f1' was not recorded by any run; the metrics are test_acc, train_acc" in err


def test_folder_without_runs(tmp_path, capsys):
    assert cli(["compare", str(tmp_path)]) == 2
    assert "no run folders" in capsys.readouterr().err


def test_two_keys_give_a_heat_map_and_panels(tmp_path):
    folder = tmp_path / "grid"
    for opt in ("sgd", "adam"):
        for fn in (8, 16, 30):
            make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}"],
                     base_config(conv={"filter_num": fn}), test_acc=0.5 + fn / 100)
    assert cli(["compare", str(folder)]) == 0
    md = (folder / "report.md").read_text()
    assert "Compared keys: optimizer, conv.filter_num" in md
    assert (folder / "metric.png").stat().st_size > 5000


def test_smooth_keeps_length_and_flattens_noise():
    import numpy as np

    y = np.r_[np.ones(50), np.zeros(50)] + np.random.default_rng(0).normal(0, 0.3, 100)
    s = smooth(y, 11)
    assert s.shape == y.shape
    assert np.std(np.diff(s)) < np.std(np.diff(y)) / 3
