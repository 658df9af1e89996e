"""Exact continuation end to end: sweeps killed (SIGKILL), interrupted (SIGTERM) or extended,
then run again, leave the run folders an uninterrupted sweep leaves, to the byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnsweep import runfolder
from cnnsweep.launch.finish import shortened
from tests.conftest import REPO
from tests.test_run import run_py, summaries

pytestmark = pytest.mark.slow

# 3 epochs of 6 steps; batch norm and dropout; one run per optimizer
SMALL = ["dataset.train_size=300", "dataset.test_size=100", "trainer.epochs=3",
         "trainer.batch_size=50", "trainer.eval_sample=100", "conv.filter_num=4",
         "hidden_size=16", "compare.enabled=false"]
OPTIMIZERS = "optimizer=sgd,momentum,nesterov,adagrad,rmsprop,adam"
SWEEPS = {
    "batch norm and dropout": ["-m", OPTIMIZERS, "batchnorm=true", "dropout=0.2", *SMALL],
    "dropout, batch split over 2 threads": ["-m", "optimizer=momentum,adam", "dropout=0.3",
                                             "trainer.threads=2", *SMALL],
}
# Numbers a run computes; wall times and provenance are not among them.
METRICS = ("test_acc", "train_acc", "val_acc", "best_test_acc", "final_train_loss",
           "iterations", "epochs", "train_size", "param_count", "config_hash")


def outputs(sweep: Path) -> dict[str, dict[str, object]]:
    """Every run's computed outputs: history.csv, epochs.csv less its wall-time column,
    params.npz and params_init.npz as bytes, the summary's metrics."""
    found = {}
    for run in sorted(p.parent for p in sweep.glob("*/summary.json")):
        epochs = [line.split(",") for line in (run / "epochs.csv").read_text().splitlines()]
        seconds = epochs[0].index("seconds")
        summary = json.loads((run / "summary.json").read_text())
        found[run.name] = {
            "history.csv": (run / "history.csv").read_bytes(),
            "epochs.csv": [row[:seconds] + row[seconds + 1:] for row in epochs],
            "params.npz": (run / "params.npz").read_bytes(),
            "params_init.npz": (run / "params_init.npz").read_bytes(),
            "summary": {k: summary.get(k) for k in METRICS}, "status": summary["status"]}
    return found


def killed(args: list[str], cwd: Path, **kill: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", **{k: str(v) for k, v in kill.items()}}
    return subprocess.run([sys.executable, str(REPO / "tests" / "killed_run.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("sweep", sorted(SWEEPS))
def test_sweeps_killed_at_random_points_continue_to_the_same_bytes(tmp_path, sweep):
    args = SWEEPS[sweep]
    reference = run_py(*args, "hydra.sweep.dir=reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = outputs(tmp_path / "reference")
    assert len(expected) == args[1].count(",") + 1

    # In one process (basic launcher), each attempt killed somewhere: before a random step
    # (losing the steps since the last checkpoint), or right after a checkpoint at an epoch's
    # end or within one; checkpoints once per epoch or after every step.
    rng = np.random.default_rng(24)
    points = [{"KILL_AT_STEP": int(rng.integers(2, 18))}, {"KILL_AFTER_SAVE": 1},
              {"KILL_AT_STEP": int(rng.integers(2, 18))},
              {"KILL_AFTER_SAVE": int(rng.integers(2, 6))},
              {"KILL_AT_STEP": int(rng.integers(2, 12))}, {"KILL_AFTER_SAVE": 1}]
    if len(expected) < 3:  # a short sweep: a random step, after a step's and an epoch's save
        points = [points[0], points[1], points[-1]]
    for i, point in enumerate(points):
        every = ["trainer.checkpoint_seconds=0.001"] if i % 2 and i < len(points) - 1 else []
        proc = killed([*args, *every, "hydra/launcher=basic", "hydra.sweep.dir=s"], tmp_path,
                      **point)
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr[-3000:])
    before = {p.parent.name for p in (tmp_path / "s").glob("*/checkpoint.npz")}
    unfinished = before - set(summaries(tmp_path / "s"))
    assert unfinished  # a run was cut off with a checkpoint to continue from

    again = run_py(*args, "hydra.sweep.dir=s", cwd=tmp_path)  # joblib, as a user reruns
    assert again.returncode == 0, again.stderr[-3000:]
    assert outputs(tmp_path / "s") == expected
    runs = summaries(tmp_path / "s")
    shown, _ = shortened(sorted(runs))  # the end table leaves out what every run shares
    for name in unfinished:
        chain = runs[name]["continued_from"]
        assert chain[-1]["run"] == name and 0 < chain[-1]["iteration"] <= 18
        note = f"continued from epoch {chain[-1]['epoch']}"
        row = next(line for line in again.stdout.splitlines()
                   if line.startswith(f"{shown[name]} "))
        assert f" ok ({note}" in row  # the end table
        assert f"{name}: ok, " in again.stderr and note in again.stderr  # the progress lines


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_run_stopped_by_a_signal_saves_where_it_is_and_continues(tmp_path, signum):
    """Ctrl-C or SIGTERM is acted on at the next step boundary, after a checkpoint: the rerun
    continues from the very step the run had reached, to the same bytes."""
    args = ["optimizer=adam", "dropout=0.2", *SMALL, "trainer.epochs=40",
            "dataset.train_size=1000", "trainer.batch_size=20"]
    reference = run_py(*args, "hydra.run.dir=reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    run = tmp_path / "one"
    # A process started in the background by a script ignores SIGINT; a terminal's would not.
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), *args, "hydra.run.dir=one"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "checkpoint.npz").is_file():
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err[-3000:]
    summary = runfolder.read_summary(run)
    assert summary.status == runfolder.Status.INTERRUPTED
    from cnnsweep import checkpoint

    saved = checkpoint.load(run / "checkpoint.npz")
    # the step the run had reached (a signal during an evaluation lands at an epoch's end)
    assert saved.iteration == len(summary_steps(run)) > 0
    again = run_py(*args, "hydra.run.dir=one", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    it = saved.iteration
    where = f"epoch {it // 50}" + (f" (iteration {it})" if it % 50 else "")
    assert f"continued from {where}" in again.stdout
    assert outputs_of(run) == outputs_of(tmp_path / "reference")


def summary_steps(run: Path) -> list[str]:
    """The steps history.csv holds: the interrupted run flushed them on its way out."""
    return (run / "history.csv").read_text().splitlines()[1:]


def outputs_of(run: Path) -> dict[str, object]:
    return next(iter(outputs_one(run).values()))


def outputs_one(run: Path) -> dict[str, dict[str, object]]:
    import shutil

    holder = run.parent / f"{run.name}-only"
    holder.mkdir()
    shutil.copytree(run, holder / run.name)
    return outputs(holder)


def test_a_finished_run_extended_from_3_to_6_epochs_equals_6_from_scratch(tmp_path):
    args = ["-m", "optimizer=momentum", "dropout=0.2", *SMALL]
    six = run_py(*args, "trainer.epochs=6", "hydra.sweep.dir=scratch", cwd=tmp_path)
    assert six.returncode == 0, six.stderr[-3000:]
    three = run_py(*args, "trainer.epochs=3", "hydra.sweep.dir=s", cwd=tmp_path)
    assert three.returncode == 0, three.stderr[-3000:]
    extended = run_py(*args, "trainer.epochs=6", "hydra.sweep.dir=s", cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr[-3000:]
    runs = summaries(tmp_path / "s")
    shorter, longer = sorted(runs, key=lambda name: runs[name]["iterations"])
    assert runs[longer]["continued_from"] == [
        {"run": shorter, "iteration": 18, "epoch": 3, "mid_epoch": False}]
    assert f"continued from epoch 3 of {shorter}" in extended.stdout
    assert outputs(tmp_path / "s")[longer] == next(iter(outputs(tmp_path / "scratch").values()))
    # the shorter run is untouched and keeps its final checkpoint for further extensions
    assert (tmp_path / "s" / shorter / "checkpoint.npz").is_file()


def test_a_corrupt_checkpoint_is_named_and_the_run_trained_from_scratch(tmp_path):
    args = ["-m", "optimizer=adam", *SMALL]
    reference = run_py(*args, "hydra.sweep.dir=reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    proc = killed([*args, "hydra/launcher=basic", "hydra.sweep.dir=s"], tmp_path,
                  KILL_AT_STEP=14)
    assert proc.returncode == -signal.SIGKILL
    path = next((tmp_path / "s").glob("*/checkpoint.npz"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    again = run_py(*args, "hydra.sweep.dir=s", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    warning = next(line for line in (path.parent / "run.log").read_text().splitlines()
                   if "[WARNING]" in line)
    assert f"ignored a checkpoint: {path} cannot be read" in warning
    summary = runfolder.read_summary(path.parent)
    assert not summary.continued_from and "truncated or corrupt" in \
        summary.checkpoints_ignored[0]
    assert outputs(tmp_path / "s") == outputs(tmp_path / "reference")
