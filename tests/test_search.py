"""The halving sweeper end to end, through `run.py -m` in a subprocess: rungs under the joblib and
the basic launcher, promotions that continue from checkpoints to the bytes of a run trained from
scratch, the same decisions in two fresh folders, a worker killed mid-rung and the rerun that
finishes it, and the refusals before training."""

from __future__ import annotations

import json
import re
import shlex
import signal
import sys
from pathlib import Path

import pytest

from cnnsweep import halving
from tests.conftest import REPO
from tests.test_continuation import killed, outputs
from tests.test_run import run_py, summaries, with_a_worker_killed

SPACE = ["hydra/sweeper=halving", "hydra.sweeper.min_budget=1", "hydra.sweeper.max_budget=3",
         "optimizer.lr=0.01,0.001,0.0001", "conv.filter_num=4,8", "seed=0,1"]
DATA = ["dataset.train_size=500", "dataset.validation_fraction=0.2", "dataset.test_size=100",
        "trainer.eval_sample=100", "compare.metric=val_acc"]
ARGS = ["-m", *SPACE, *DATA]


def decisions(sweep_dir: Path) -> list:
    """Every rung's configurations, values and decisions, from the sweeper's record."""
    record = json.loads((sweep_dir / halving.RECORD).read_text())
    return [[rung["budget"], rung["standings"]] for bracket in record["brackets"]
            for rung in bracket["rungs"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The search under the default (joblib) launcher."""
    cwd = tmp_path_factory.mktemp("search")
    proc = run_py(*ARGS, "hydra.sweep.dir=reference", cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd / "reference"


@pytest.mark.slow
def test_a_search_promotes_the_best_third_and_continues_them_from_their_checkpoints(reference):
    (rung1, first), (rung3, final) = decisions(reference)
    assert (rung1, rung3) == (1, 3) and len(first) == 6
    promoted = [s["config"] for s in first if s["kept"]]
    # the rule on the recorded values: top 6 // 3 = 2 by mean, plus overlaps with the cut
    assert [s.config for s in halving.promote(
        {s["config"]: s["values"] for s in first}, 3) if s.kept] == promoted
    assert len(promoted) >= 2 and sorted(s["config"] for s in final) == sorted(promoted)
    record = json.loads((reference / halving.RECORD).read_text())
    assert halving.replay(record["brackets"], 3, 2, keep_overlaps=True).kept == \
        ((len(promoted),),)  # the rule replayed on its record makes the search's decisions
    assert "The noise rule kept" in (reference / "report.md").read_text()
    runs = summaries(reference)
    assert len(runs) == 2 * (6 + len(promoted)) and all(s["status"] == "ok"
                                                         for s in runs.values())
    longer = [s for s in runs.values() if s["epochs"] == 3]
    for summary in longer:  # each continued the 1-epoch run of its config and seed
        shorter = summary["run"].replace("trainer.epochs=3", "trainer.epochs=1")
        assert summary["continued_from"] == [
            {"run": shorter, "iteration": 4, "epoch": 1, "mid_epoch": False}]
    for standing in first:  # the values promotion read are the runs' epoch-1 val_acc
        names = [n for n in runs if runs[n]["epochs"] == 1 and all(
            part.replace(" ", "") in n for part in standing["config"].split(", "))]
        assert sorted(runs[n]["val_acc"] for n in names) == sorted(standing["values"])


@pytest.mark.slow
def test_a_promoted_run_ends_with_the_bytes_of_a_run_trained_to_its_budget_from_scratch(
        reference, tmp_path):
    promoted = next(s for s in runfolders(reference) if s.endswith("trainer.epochs=3") or
                    "trainer.epochs=3," in s)
    overrides = promoted.split(",")
    proc = run_py("-m", *overrides, "compare.metric=val_acc", "hydra/launcher=basic",
                  "hydra.sweep.dir=scratch", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scratch = outputs(tmp_path / "scratch")
    assert outputs(reference)[promoted] == scratch[promoted]
    assert "continued_from" not in summaries(tmp_path / "scratch")[promoted]


def runfolders(sweep_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in sweep_dir.glob("*/summary.json"))


@pytest.mark.slow
def test_the_basic_launcher_in_a_fresh_folder_makes_the_same_promotions(reference, tmp_path):
    proc = run_py(*ARGS, "hydra/launcher=basic", "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert decisions(tmp_path / "s") == decisions(reference)
    assert outputs(tmp_path / "s") == outputs(reference)
    report = (tmp_path / "s" / "report.md").read_text()
    assert "![rungs](rungs.png)" in report


def finished_as_the_reference(rerun, sweep_dir: Path, before: dict, reference: Path) -> dict:
    """A rerun of a stopped search: it succeeded, skipped the runs that had finished, and
    reached the reference's decisions and bytes. Its summaries."""
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    after = summaries(sweep_dir)
    for name, summary in before.items():  # finished runs were skipped, not trained again
        assert after[name]["started_at"] == summary["started_at"]
    assert decisions(sweep_dir) == decisions(reference)
    assert outputs(sweep_dir) == outputs(reference)
    return after


@pytest.mark.slow
def test_a_worker_killed_mid_rung_loses_only_its_run_and_the_rerun_finishes_the_search(
        reference, tmp_path):
    args = [*ARGS, "hydra/launcher=basic", "hydra.sweep.dir=s"]
    # 4 steps per run at rung 1: the 14th step is in the fourth run of the first rung
    proc = killed(args, tmp_path, KILL_AT_STEP=14)
    assert proc.returncode == -signal.SIGKILL
    before = summaries(tmp_path / "s")
    assert len(before) == 3 and all(s["epochs"] == 1 for s in before.values())
    again = run_py(*args, cwd=tmp_path)
    after = finished_as_the_reference(again, tmp_path / "s", before, reference)
    # the same command once more: everything is done, nothing trains
    third = run_py(*args, cwd=tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    assert {n: s["started_at"] for n, s in summaries(tmp_path / "s").items()} == \
        {n: s["started_at"] for n, s in after.items()}


@pytest.mark.slow
def test_a_joblib_worker_killed_mid_search_ends_it_with_a_resume_command_that_finishes_it(
        reference, tmp_path):
    out, err, proc = with_a_worker_killed(
        [sys.executable, str(REPO / "run.py"), *ARGS, "hydra.sweep.dir=s"], tmp_path,
        tmp_path / "s")
    assert proc.returncode == 1, err[-3000:]
    assert "The launcher failed: TerminatedWorkerError" in err and "Traceback" not in out + err
    before = summaries(tmp_path / "s")
    assert 0 < len(before) < 12 + 4  # the sweep ended early, keeping what finished
    resume = next(line for line in err.splitlines()
                  if line.startswith("Resume (finished runs are skipped): "))
    words = shlex.split(resume.split(": ", 1)[1])
    again = run_py(*words[2:], cwd=tmp_path, timeout=600)
    finished_as_the_reference(again, tmp_path / "s", before, reference)


@pytest.mark.parametrize(("extra", "message"), [
    (["hydra.sweeper.metric=test_acc"], "must not choose by the test set"),
    (["compare.metric=test_acc"], "compare.metric=test_acc: a search's report ranks by what"),
    (["dataset.validation_fraction=0"], "metric=val_acc needs a validation set"),
    (["trainer.epochs=2"], "trainer.epochs=2 is the search's budget"),
    (["hydra.sweeper.brackets=5"], "brackets=5: between 1"),
    (["optimizer.lr=interval(0.001,0.1)"], "set hydra.sweeper.n_trials"),
])
def test_a_search_that_cannot_be_meaningful_is_refused_before_training(tmp_path, extra, message):
    proc = run_py(*ARGS, *extra, "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert message in proc.stderr and "Nothing was trained" in proc.stderr
    assert not list((tmp_path / "s").glob("*/summary.json"))


@pytest.mark.slow
def test_hyperband_splits_the_grid_between_brackets_that_start_at_larger_budgets(tmp_path):
    proc = run_py(*ARGS, "seed=0", "hydra.sweeper.brackets=2", "hydra/launcher=basic",
                  "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "s" / halving.RECORD).read_text())
    assert [b["budgets"] for b in record["brackets"]] == [[1, 3], [3]]
    first = [s["config"] for s in record["brackets"][0]["rungs"][0]["standings"]]
    second = [s["config"] for s in record["brackets"][1]["rungs"][0]["standings"]]
    assert (len(first), len(second)) == (4, 2) and not set(first) & set(second)
    runs = summaries(tmp_path / "s")
    for config in second:  # trained to 3 epochs from scratch: nothing shorter to continue
        name = next(n for n in runs if all(p.replace(" ", "") in n for p in config.split(", ")))
        assert runs[name]["epochs"] == 3 and "continued_from" not in runs[name]
    report = (tmp_path / "s" / "report.md").read_text()
    assert "Hyperband (2 brackets)" in report and "![rungs](rungs.png)" in report


@pytest.mark.slow
@pytest.mark.launchers
@pytest.mark.parametrize(("plugin", "launcher"), [
    ("hydra_plugins.hydra_submitit_launcher", ["hydra/launcher=submitit_local"]),
    ("hydra_plugins.hydra_ray_launcher", ["hydra/launcher=ray",
                                          "+hydra.launcher.ray.init.num_cpus=2"]),
])
def test_rungs_through_submitit_and_ray_make_the_same_promotions(reference, tmp_path, plugin,
                                                                 launcher):
    import importlib.util

    if importlib.util.find_spec(plugin) is None:
        pytest.skip(f"{plugin} is not installed: pip install -e '.[slurm,ray]'")
    proc = run_py(*ARGS, *launcher, "hydra.sweep.dir=s", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert decisions(tmp_path / "s") == decisions(reference)
    assert outputs(tmp_path / "s") == outputs(reference)


@pytest.mark.slow
def test_a_one_rung_search_takes_its_budget_from_the_command_line(tmp_path):
    """`trainer.epochs=N` given to a plain search (min_budget == max_budget) is its budget, as
    it would be for the basic sweeper; a search with rungs refuses it (above). Without
    compare.metric (test_acc by default) the search's own report and table still rank by its
    validation metric."""
    data = [d for d in DATA if not d.startswith("compare.metric=")]
    proc = run_py("-m", "hydra/sweeper=halving", "hydra.sweeper.min_budget=3",
                  "hydra.sweeper.max_budget=3", "optimizer.lr=0.01,0.001", *data,
                  "trainer.epochs=1", "hydra/launcher=basic", "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "## Settings by val_acc" in (tmp_path / "s" / "report.md").read_text()
    assert re.search(r"^run\s+status\s+val_acc\s+seconds$", proc.stdout, re.M)  # the table
    record = json.loads((tmp_path / "s" / halving.RECORD).read_text())
    assert (record["settings"]["min_budget"], record["settings"]["max_budget"]) == (1, 1)
    assert sorted(s["epochs"] for s in summaries(tmp_path / "s").values()) == [1, 1]
