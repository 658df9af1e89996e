"""A comparison's files and what they say: tables, figures, verdict, pooling, output folders."""

import json
import re
import shutil

import pandas as pd
import pytest

from cnnsweep import runfolder
from cnnsweep.cli import main as cli
from cnnsweep.report import compare
from cnnsweep.results import load_results
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


@pytest.fixture
def grid(tmp_path):
    folder = tmp_path / "grid"
    for opt in ("sgd", "adam"):
        for fn in (16, 30):
            make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}"],
                     base_config(optimizer={"name": opt}, conv={"filter_num": fn}),
                     test_acc=0.5 + fn / 100 + (0.3 if opt == "adam" else 0))
    return folder


def test_a_report_holds_tables_figures_and_the_verdict(sweep):
    report = compare([sweep])
    assert report == sweep / "report.html"
    for name in ("loss", "accuracy", "metric", "filters"):
        assert (sweep / f"{name}.png").read_bytes().startswith(PNG_MAGIC), name
        assert (sweep / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        assert not (sweep / f"{name}.svg").exists()  # svg only when asked for
    runs = pd.read_csv(sweep / "runs.csv")
    assert len(runs) == 7 and not [c for c in runs.columns if c.startswith("_")]
    settings = pd.read_csv(sweep / "settings.csv")
    assert settings["optimizer"].tolist() == ["adam", "momentum", "sgd"]
    assert settings["n"].tolist() == [2, 2, 2] and settings["mean"].iloc[0] == pytest.approx(0.945)
    tex = (sweep / "settings.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "adam" in tex
    md = (sweep / "report.md").read_text()
    assert md.splitlines()[2].startswith("Best: optimizer=adam, test_acc 0.9450 ± ")
    assert "is ahead beyond the noise, but 2 seeds per setting are too few to tell" in md
    assert "7 runs: 6 ok, 1 failed." in md and "differ by seed only" in md
    assert "adjusted by Holm's step-down method over the 2 comparisons" in md
    assert "## Runs that did not finish ok" in md and "something broke" in md
    html = report.read_text()
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 4
    assert html.count('class="dataframe sortable"') == 2 and "<script>" in html
    for run in sorted(p.name for p in sweep.iterdir() if (p / ".hydra").is_dir()):
        assert run in md and run in html


def test_captions_claim_no_confidence_interval_for_one_run_per_setting(grid):
    compare([grid])
    md = (grid / "report.md").read_text()
    captions = [line for line in md.splitlines() if line.startswith("### ")]
    assert "### Final test_acc per setting" in captions
    assert not [c for c in captions if "CI" in c or "seeds" in c]


def test_another_comparison_never_overwrites_the_sweeps_own_report(grid, capsys):
    compare([grid])
    own = (grid / "report.html").read_bytes()
    assert cli(["compare", str(grid), "--by", "optimizer", "--metric", "train_acc"]) == 0
    out = grid / "compare" / "by-optimizer_train_acc"
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    assert (out / "report.html").is_file() and (out / "metric.png").is_file()
    assert cli(["compare", str(grid), "--figures", "metric"]) == 0
    assert (grid / "compare" / "by-optimizer+conv.filter_num_test_acc_figures-metric"
            / "report.html").is_file()
    assert (grid / "report.html").read_bytes() == own
    before = (grid / "report.md").read_text()
    assert cli(["compare", str(grid)]) == 0  # the sweep's own options: its own report again
    assert f"report: {grid / 'report.html'}" in capsys.readouterr().out
    assert (grid / "report.md").read_text().split("Generated")[0] == before.split("Generated")[0]
    assert sorted(p.name for p in (grid / "compare").iterdir()) == [
        "by-optimizer+conv.filter_num_test_acc_figures-metric", "by-optimizer_train_acc"]


def test_left_out_keys_are_averaged_over_aloud(grid, capsys):
    report = compare([grid], by=["optimizer"], out=grid / "pooled")
    err = capsys.readouterr().err
    assert "averaging over conv.filter_num (2 values), which vary but are not compared" in err
    md = report.with_suffix(".md").read_text()
    assert "Each setting's mean is the mean of its means per value of conv.filter_num" in md
    assert ("With one run per setting and value of conv.filter_num there is no estimate of the "
            "seed noise") in md
    assert "differ by runs" not in md and "over seeds" not in md


def test_a_left_out_key_with_seeds_gives_seed_noise_intervals(tmp_path, capsys):
    folder = tmp_path / "grid"
    for opt, shift in (("sgd", 0.0), ("adam", 0.03)):
        for fn in (16, 30):
            for seed in (0, 1, 2):
                make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}", f"seed={seed}"],
                         base_config(optimizer={"name": opt}, conv={"filter_num": fn},
                                     seed=seed), test_acc=0.6 + fn / 100 + shift + seed / 500)
    report = compare([folder], by=["optimizer"], out=folder / "pooled")
    md = report.with_suffix(".md").read_text()
    # within each filter count the seeds give 0, 0.002, 0.004 above its level: std 0.002 with
    # 4 degrees of freedom, ± t(4) · 0.002 · sqrt(1/3 + 1/3) / 2 = ± 0.0023
    assert md.splitlines()[2].startswith(
        "Best: optimizer=adam, test_acc 0.8620 ± 0.0023 (6 runs); runner-up: optimizer=sgd, "
        "0.8320 ± 0.0023 (6 runs) (mean over the values of conv.filter_num, ± 95% CI from the "
        "seed noise within each)")
    assert "is the best beyond noise" in md
    assert ("Its interval and tests use only the spread between seeds within each value, not "
            "the differences between the values of conv.filter_num.") in md
    settings = pd.read_csv(report.parent / "settings.csv")
    assert settings["cells"].tolist() == [2, 2] and settings["dof"].tolist() == [4, 4]


def test_two_sweeps_of_the_same_settings_are_compared_side_by_side(tmp_path):
    for name, shift in (("before", 0.0), ("after", 0.05)):
        for opt in ("sgd", "adam"):
            make_run(tmp_path / name, [f"optimizer={opt}"], base_config(optimizer={"name": opt}),
                     test_acc=0.6 + shift + (0.3 if opt == "adam" else 0))
    report = compare([tmp_path / "before", tmp_path / "after"])
    assert report.parent == \
        tmp_path / "before" / "compare" / "by-optimizer+sweep_test_acc_with-after"
    settings = pd.read_csv(report.parent / "settings.csv")
    assert sorted(settings["sweep"]) == ["after", "after", "before", "before"]
    assert settings["n"].tolist() == [1, 1, 1, 1]
    pooled = compare([tmp_path / "before", tmp_path / "after"], pool_sweeps=True)
    assert pd.read_csv(pooled.parent / "settings.csv")["n"].tolist() == [2, 2]
    assert "mean of its means per value of sweep" in pooled.with_suffix(".md").read_text()


def test_a_folder_compared_with_its_copy_gives_one_folders_statistics(sweep, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(sweep, copy)
    alone = pd.read_csv(compare([sweep], out=tmp_path / "alone").parent / "settings.csv")
    capsys.readouterr()
    report = compare([sweep, copy], by=["optimizer"])
    err = capsys.readouterr().err
    assert ("7 duplicate run(s) dropped: the same config, seed and results in copy as in sweep; "
            "each run counts once.") in err
    pd.testing.assert_frame_equal(pd.read_csv(report.parent / "settings.csv"), alone)
    md = report.with_suffix(".md").read_text()
    assert "7 runs: 6 ok, 1 failed. 7 duplicate run(s) dropped" in md
    assert f"hydra.sweep.dir={sweep}" in md  # seeds are added to the folder the runs are in


def test_runs_that_disagree_across_folders_name_their_commits_and_cpus(sweep, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(sweep, other)
    for summary_file in other.glob("*/summary.json"):
        summary = json.loads(summary_file.read_text())
        if summary["status"] == "ok":
            summary["test_acc"] -= 0.002
            summary["versions"] = {"commit": "abc1234", "cpu": "Intel Xeon Gold 6130"}
            summary_file.write_text(json.dumps(summary))
    report = compare([sweep, other], by=["optimizer"])
    sentence = ("6 run(s) have the same config and seed in other and sweep but different "
                "results: they are separate runs, not repeats (each folder's runs are averaged "
                "as a block of their own); the folders differ in commit abc1234 (other) vs "
                "1f3d179 (sweep); CPU Intel Xeon Gold 6130 (other) vs AMD EPYC (sweep).")
    assert sentence in capsys.readouterr().err
    md = report.with_suffix(".md").read_text()
    assert sentence in md and "1 duplicate run(s) dropped" in md  # the failed run
    settings = pd.read_csv(report.parent / "settings.csv")
    assert settings["n"].tolist() == [4, 4, 4] and settings["cells"].tolist() == [2, 2, 2]


def test_files_analysis_cannot_read_are_named_on_the_terminal_and_in_the_report(tmp_path):
    sweep = tmp_path / "sweep"
    runs = [make_run(sweep, [f"optimizer={opt}"], base_config(optimizer={"name": opt}),
                     test_acc=acc)
            for opt, acc in (("sgd", 0.6), ("adam", 0.95), ("momentum", 0.8))]
    (runs[0] / runfolder.EPOCHS).write_bytes(b"\x89PNG garbage\x00\nnot,a,csv\n")
    (runs[2] / runfolder.SUMMARY).write_text('{"status": "ok", "test_ac')  # cut mid-write
    told = []
    html = compare([sweep], out=tmp_path / "out", warn=told.append, figures=["accuracy"])
    skipped = sorted(m for m in told if m.startswith("cnnsweep compare: skipped "))
    assert len(skipped) == 2
    assert f"{runs[2] / runfolder.SUMMARY}: not readable JSON" in skipped[0]
    assert f"{runs[0] / runfolder.EPOCHS}: its header" in skipped[1] and "left out of the " \
        "curves" in skipped[1]
    markdown = html.with_suffix(".md").read_text()
    assert "## Files skipped" in markdown and str(runs[0] / runfolder.EPOCHS) in markdown
    # The garbage file is left out of the curves; the other runs' curves are read.
    results = load_results([sweep])
    with_curves = set(results.runs.set_index("run_id").loc[results.epochs["run_id"], "run"])
    assert with_curves == {"optimizer=adam", "optimizer=momentum"}


def test_a_setting_at_the_chance_loss_is_said_not_to_have_learned(tmp_path):
    """The mission's example: SGD from std 0.01 stays at ln 10 = 2.30; Adam learns."""
    folder = tmp_path / "chance"
    for opt, acc, loss in (("sgd", 0.17, 2.3024), ("adam", 0.91, 0.31)):
        for seed in (0, 1, 2):
            make_run(folder, [f"optimizer={opt}", f"seed={seed}"],
                     base_config(optimizer={"name": opt, "lr": 0.01}, seed=seed),
                     test_acc=acc + 0.01 * seed, final_loss=loss)
    make_run(folder, ["optimizer=adagrad", "seed=0"],  # no loss recorded: accuracy at chance
             base_config(optimizer={"name": "adagrad"}, init={"name": "he"}), test_acc=0.11)
    make_run(folder, ["optimizer=rmsprop", "seed=0"],  # slow, 2% below chance: it learns
             base_config(optimizer={"name": "rmsprop"}), test_acc=0.376, final_loss=2.26)
    report = compare([folder], figures=["metric"])
    lines = report.with_suffix(".md").read_text().splitlines()
    assert lines[2].startswith("Best: optimizer=adam")
    # The paragraph under the verdict (and its add-seeds command), before the run counts.
    verdict = next(line for line in lines[3:] if line.startswith("Did not learn"))
    assert lines.index(verdict) < next(i for i, line in enumerate(lines) if " runs: " in line)
    assert ("Did not learn: optimizer=sgd (loss 2.30, chance 2.30). Likely cause: weights "
            "drawn with std 0.01 and plain SGD") in verdict
    assert "Did not learn: optimizer=adagrad (test_acc 0.110, chance 0.10)." in verdict
    assert "optimizer=adam (" not in verdict and "rmsprop" not in verdict  # they learned
    md = report.with_suffix(".md").read_text().split("## Settings")[1].split("##")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines()
            if line.startswith("|") and set(line) - set("|:- ")]
    header, body = rows[0], rows[1:]
    notes = {row[header.index("optimizer")]: row[header.index("note")] for row in body}
    assert notes == {"adam": "", "rmsprop": "",
                     "adagrad": "did not learn: test_acc 0.110, chance 0.10",
                     "sgd": "did not learn: loss 2.30, chance 2.30"}
    assert "did not learn: loss 2.30, chance 2.30" in (report.parent / "settings.tex").read_text()
    # The metric figure marks them too (a dagger after the value), and its note says so.
    assert "\u2020: did not learn" in report.with_suffix(".md").read_text()


def test_a_tiny_learning_rate_is_named_as_the_cause(tmp_path):
    folder = tmp_path / "lr"
    for lr, loss in ((1e-6, 2.301), (0.01, 0.4)):
        make_run(folder, [f"optimizer.lr={lr}"],
                 base_config(optimizer={"name": "sgd", "lr": lr}, init={"name": "he"}),
                 test_acc=0.5, final_loss=loss)
    verdict = compare([folder], figures=["metric"]).with_suffix(".md").read_text()
    assert "Did not learn: optimizer.lr=1e-06 (loss 2.30, chance 2.30). Likely cause: " \
           "learning rate 1e-06 is too small for plain SGD." in verdict
    assert "weights drawn" not in verdict  # He init: not the cause


def test_size_draws_every_figure_for_a_column_or_a_page(grid, capsys):
    from PIL import Image

    from cnnsweep.figures.style import PAGES

    column = compare([grid], size="column", out=grid / "column").parent
    page = compare([grid], out=grid / "page").parent
    for name in ("loss", "accuracy", "metric", "main_effects"):
        for folder, size in ((column, "column"), (page, "page")):
            with Image.open(folder / f"{name}.png") as png:
                assert png.size[0] == round(PAGES[size].width * PAGES[size].png_dpi), name
    with pytest.raises(ValueError, match="size='a4' is not a paper width; the widths are "
                                         "column, page"):
        compare([grid], size="a4")
    assert cli(["compare", str(grid), "--size", "column", "--figures", "metric"]) == 0
    assert "size-column" in capsys.readouterr().out
