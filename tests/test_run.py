"""End-to-end: `run.py` and `run.py -m` in a subprocess, checked through the run folders."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnsweep.runfolder import run_name as folder_name
from tests.conftest import REPO

pytestmark = pytest.mark.slow

# A few hundred embedded images, one epoch, a small network: each run takes well under a second.
TINY = ["dataset.train_size=300", "dataset.test_size=100", "trainer.epochs=1",
        "trainer.batch_size=50", "trainer.eval_sample=100", "conv.filter_num=4", "hidden_size=16"]


def run_py(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, str(REPO / "run.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_name(*overrides: str) -> str:
    """The run folder Hydra's sorted override_dirname gives these overrides."""
    return folder_name(overrides)


def summaries(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")}


def histories(sweep_dir: Path) -> dict[str, str]:
    return {p.parent.name: p.read_text() for p in sweep_dir.glob("*/history.csv")}


def test_single_run_prints_a_summary_and_fills_the_run_folder(tmp_path):
    proc = run_py(*TINY, "hydra.run.dir=one", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "images/s" in proc.stdout
    assert "run folder:" in proc.stdout
    folder = tmp_path / "one"
    for name in ("history.csv", "epochs.csv", "summary.json", "params.npz", "params_init.npz",
                 ".hydra/config.yaml", ".hydra/overrides.yaml"):
        assert (folder / name).is_file(), name
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["train_size"] == 300
    assert summary["param_count"] > 0 and summary["versions"]["numpy"]
    history = (folder / "history.csv").read_text().splitlines()
    assert history[0] == "iteration,epoch,train_loss" and len(history) == 1 + 6
    assert (folder / "epochs.csv").read_text().splitlines()[0].startswith("epoch,iteration,")


def test_sweep_parallel_serial_repeat_and_skip(tmp_path):
    sweep = ["-m", "optimizer=sgd,adam", "conv.filter_num=2,4", *TINY[:-2], "hidden_size=16"]
    parallel = run_py(*sweep, "hydra.sweep.dir=par", "hydra.launcher.n_jobs=2", cwd=tmp_path)
    assert parallel.returncode == 0, parallel.stderr
    runs = summaries(tmp_path / "par")
    expected = {run_name(f"conv.filter_num={f}", f"optimizer={o}", *TINY[:-2], "hidden_size=16")
                for f in (2, 4) for o in ("adam", "sgd")}
    assert set(runs) == expected  # named readably from the overrides
    assert len(runs) == 4 and all(s["status"] == "ok" for s in runs.values())
    assert "sweep folder:" in parallel.stdout and "status" in parallel.stdout
    # The callback compared the runs when the multirun ended.
    assert "report:" in parallel.stdout
    report = (tmp_path / "par" / "report.md").read_text()
    assert "Compared keys: optimizer, conv.filter_num" in report
    assert (tmp_path / "par" / "loss.png").is_file()
    # one run per setting: the add-seeds command starts as this sweep was started
    assert f"\npython {REPO / 'run.py'} hydra.launcher.n_jobs=2 -m " in report
    assert f" seed=1,2 hydra.sweep.dir={tmp_path / 'par'}\n" in report

    serial = run_py(*sweep, "hydra.sweep.dir=ser", "hydra.launcher.n_jobs=1",
                    "compare.enabled=false", cwd=tmp_path)
    assert serial.returncode == 0, serial.stderr
    assert histories(tmp_path / "par") == histories(tmp_path / "ser")  # any n_jobs, same numbers
    assert not (tmp_path / "ser" / "report.html").exists()

    before = {k: s["finished_at"] for k, s in summaries(tmp_path / "par").items()}
    again = run_py(*sweep, "hydra.sweep.dir=par", "hydra.launcher.n_jobs=2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped") + again.stderr.count("skipped") >= 4
    assert {k: s["finished_at"] for k, s in summaries(tmp_path / "par").items()} == before


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    # train_size=999999 passes the schema but cannot be served by a 5,000-image dataset.
    proc = run_py("-m", "dataset.train_size=300,999999", *TINY[1:], "hydra.sweep.dir=s",
                  cwd=tmp_path)
    assert proc.returncode != 0
    runs = summaries(tmp_path / "s")
    assert runs[run_name("dataset.train_size=300", *TINY[1:])]["status"] == "ok"
    failed = [s for s in runs.values() if s["status"] == "failed"]
    assert len(failed) == 1
    assert "train_size=999999 must be between 1 and 5000" in failed[0]["error"]
    assert "Traceback" in failed[0]["traceback"]
    assert "dataset.train_size=999999" in proc.stderr  # the failed run is named


def test_a_killed_sweep_resumes_without_redoing_finished_runs(tmp_path):
    args = [str(REPO / "run.py"), "-m", "seed=1,2,3,4", *TINY, "trainer.epochs=3",
            "hydra.sweep.dir=s", "hydra.launcher.n_jobs=1"]
    proc = subprocess.Popen([sys.executable, *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not summaries(tmp_path / "s"):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = summaries(tmp_path / "s")
    assert 1 <= len(done) < 4, "the kill should land mid-sweep"
    resumed = run_py(*args[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    after = summaries(tmp_path / "s")
    assert len(after) == 4 and all(s["status"] == "ok" for s in after.values())
    for name, summary in done.items():
        assert after[name]["finished_at"] == summary["finished_at"], f"{name} was redone"


@pytest.mark.parametrize(("override", "message"), [
    ("trainer.epoch=3", "Could not override 'trainer.epoch'"),
    ("trainer.epochs=many", "trainer.epochs"),
    ("conv.filter_size=6 conv.stride=4",
     "conv: (28 + 2*0 - 6) / 4 + 1 = 6.5 is not a whole number"),
    ("optimizer=adamw", "Could not find 'optimizer/adamw'"),
    ("optimizer.lr=-0.1", "optimizer.lr=-0.1 must be a positive number"),
])
def test_bad_overrides_fail_before_training_and_name_the_value(tmp_path, override, message):
    proc = run_py(*override.split(), *TINY, "hydra.run.dir=bad", cwd=tmp_path)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert message in output, output
    assert not (tmp_path / "bad" / "history.csv").exists()  # no training happened


def test_a_diverging_run_stops_early_keeps_its_history_and_is_not_an_error(tmp_path):
    proc = run_py("-m", "optimizer=sgd", "optimizer.lr=1e30,0.01", *TINY, "hydra.sweep.dir=s",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 run(s) diverged" in proc.stdout
    runs = summaries(tmp_path / "s")
    diverged = runs[run_name("optimizer=sgd", "optimizer.lr=1e+30", *TINY)]  # as Hydra writes it
    assert diverged["status"] == "diverged" and "loss became nan" in diverged["message"]
    folder = tmp_path / "s" / diverged["run"]
    history = (folder / "history.csv").read_text().splitlines()
    assert 2 <= len(history) < 1 + 6 and history[-1].endswith("nan")  # stopped early
    assert sum(s["status"] == "ok" for s in runs.values()) == 1


UNKNOWN_KEYS = [
    ("+trainer.epoch=3", "trainer.epoch is not a config key: did you mean trainer.epochs?"),
    ("+conv.filter_nm=16", "conv.filter_nm is not a config key: did you mean conv.filter_num?"),
    ("+optimizer.momentum=0.5", "optimizer.momentum is a setting of optimizer=momentum, "
                                "nesterov, not of optimizer=adam"),
    ("+foo=1", "foo is not a config key: the keys are"),
]


@pytest.mark.parametrize(("override", "message"), UNKNOWN_KEYS)
def test_an_unknown_key_fails_before_training_with_a_suggestion(tmp_path, override, message):
    proc = run_py(override, *TINY, "hydra.run.dir=bad", cwd=tmp_path)
    assert proc.returncode == 1
    assert f"ConfigError: {message}" in proc.stderr, proc.stderr
    assert not (tmp_path / "bad" / "history.csv").exists()


PLAIN_UNKNOWN_KEYS = [
    (["trainer.epoch=3"], "trainer.epoch is not a config key: did you mean trainer.epochs?"),
    (["-m", "trainer.epoch=3,4"], "trainer.epoch is not a config key: did you mean "
                                  "trainer.epochs?"),
    (["dataset.data_dir=/x"], "dataset.data_dir is a setting of dataset=mnist, not of the "
                              "selected option; select dataset=mnist, or leave dataset.data_dir "
                              "out"),
    (["optimizer.momentum=0.5"], "optimizer.momentum is a setting of optimizer=momentum, "
                                 "nesterov, not of the selected option"),
    (["-m", "hydra/sweeper=halving", "hydra.sweeper.max_bugdet=9"],
     "hydra.sweeper.max_bugdet is not a config key: did you mean hydra.sweeper.max_budget?"),
    (["-m", "hydra.sweeper.max_budget=9"], "hydra.sweeper.max_budget is a setting of the "
                                           "halving sweeper, not of the one selected; add "
                                           "hydra/sweeper=halving"),
]


@pytest.mark.parametrize(("args", "message"), PLAIN_UNKNOWN_KEYS)
def test_a_plain_override_of_an_unknown_key_gets_the_same_hint_as_its_plus_form(
        tmp_path, args, message):
    # Hydra's own advice for these is "To append to your config use +trainer.epoch=3".
    proc = run_py(*args, *TINY, "hydra.run.dir=bad", "hydra.sweep.dir=bad", cwd=tmp_path)
    assert proc.returncode == 1
    key = args[-1].split("=")[0]
    assert proc.stderr.startswith(f"Could not override '{key}': {message}"), proc.stderr
    assert "To append" not in proc.stderr
    assert not list(tmp_path.rglob("summary.json"))  # no run started


@pytest.mark.parametrize("args", [["arch=mlp", "+conv.filter_num=3"],
                                  ["-m", "arch=mlp,simple_convnet", "pool.size=3"]])
def test_a_key_of_an_architecture_not_selected_names_the_one_that_has_it(tmp_path, args):
    # Under arch=mlp, conv and pool are null: OmegaConf cannot set a key inside them.
    proc = run_py(*args, *TINY, "hydra.run.dir=bad", "hydra.sweep.dir=bad", cwd=tmp_path)
    assert proc.returncode == 1
    key = args[-1].lstrip("+").split("=")[0]
    parent = key.split(".")[0]
    assert proc.stderr.strip().splitlines() == [
        f"Could not apply the override '{args[-1]}': {parent} is null in this config, because "
        f"the selected options have no {parent} settings; select arch=simple_convnet, or leave "
        "it out"]
    assert not list(tmp_path.rglob("summary.json"))  # no run started


@pytest.mark.parametrize(("override", "message"), [
    ("compare.by=[optimizr]", "compare.by: optimizr is not a config key (did you mean "
                              "optimizer?)"),
    ("compare.metric=tst_acc", "compare.metric=tst_acc: no run records it (did you mean "
                               "test_acc?)"),
    ("compare.figures=[los]", "compare: unknown figure type los (did you mean loss?)"),
    ("compare.size=colum", "compare.size=colum: not a paper width (did you mean column?)"),
])
def test_a_bad_compare_setting_fails_before_any_run_trains(tmp_path, override, message):
    proc = run_py("-m", override, "optimizer=sgd,adam", *TINY, "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(message), proc.stderr
    assert not list(tmp_path.rglob("summary.json"))


def test_a_sweep_where_no_run_finished_prints_each_error(tmp_path):
    proc = run_py("-m", "+trainer.epoch=3", "seed=1,2", *TINY, "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no report: no run finished" in proc.stderr
    for seed in (1, 2):
        assert f"  {run_name('+trainer.epoch=3', f'seed={seed}', *TINY)}: ConfigError: " \
               "trainer.epoch is not a config key" in proc.stderr, proc.stderr


def test_a_comparison_that_fails_at_the_end_says_so_and_keeps_the_runs(tmp_path, monkeypatch):
    # A report problem found only after training (here the report writer raises, as a full
    # disk would) is printed on the terminal and fails the sweep; the runs stay.
    sitecustomize = tmp_path / "site" / "sitecustomize.py"
    sitecustomize.parent.mkdir()
    sitecustomize.write_text("import cnnsweep.report as r\n"
                             "def broken(*a, **k):\n    raise RuntimeError('disk full')\n"
                             "r.compare = broken\n")
    monkeypatch.setenv("PYTHONPATH", str(sitecustomize.parent))
    proc = run_py("-m", "seed=1,2", *TINY, "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "no report: the comparison failed: RuntimeError: disk full. The runs are kept" \
        in proc.stderr
    assert sum(s["status"] == "ok" for s in summaries(tmp_path / "s").values()) == 2


def test_an_unknown_key_in_a_sweep_is_recorded_as_failed(tmp_path):
    proc = run_py("-m", "+trainer.epoch=3", "seed=1,2", *TINY, "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 1
    runs = summaries(tmp_path / "s")
    assert len(runs) == 2 and all(s["status"] == "failed" for s in runs.values())
    assert all("did you mean trainer.epochs?" in s["error"] for s in runs.values())


def test_two_identical_sweeps_at_once_train_each_run_once_and_both_finish(tmp_path):
    args = [sys.executable, str(REPO / "run.py"), "-m", "seed=1,2,3,4", "dataset.train_size=1000",
            "dataset.test_size=100", "trainer.epochs=2", "trainer.eval_sample=100",
            "hydra.launcher.n_jobs=2", "hydra.sweep.dir=s", "compare.enabled=false"]
    launches = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in launches]
    codes = sorted(p.returncode for p in launches)
    # 0: every run ended; 75: some were still being trained by the other launch at the end.
    assert codes in ([0, 0], [0, 75]), outputs
    runs = summaries(tmp_path / "s")
    assert len(runs) == 4 and all(s["status"] == "ok" for s in runs.values())
    for name, summary in runs.items():
        rows = (tmp_path / "s" / name / "history.csv").read_text().splitlines()
        assert len(rows) == 1 + summary["iterations"] == 1 + 20  # one training, not two
    if codes == [0, 75]:
        late = next(err for (_, err), p in zip(outputs, launches, strict=True)
                    if p.returncode == 75)
        assert "being trained by another launch" in late


def with_a_worker_killed(args: list[str], cwd: Path, sweep_dir: Path,
                         ) -> tuple[str, str, subprocess.Popen]:
    """Start a joblib sweep, SIGKILL one of its worker processes once a run has finished (as
    the out-of-memory killer would), and let the sweep end: its stdout, stderr and process."""
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    workers: list[str] = []
    deadline = time.time() + 120
    while time.time() < deadline and not (workers and summaries(sweep_dir)):
        time.sleep(0.1)
        listing = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(proc.pid)],
                                 capture_output=True, text=True).stdout
        workers = [line.split()[0] for line in listing.splitlines() if "LokyProcess" in line]
    os.kill(int(workers[0]), signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    return out, err, proc


def test_a_crashed_worker_ends_the_sweep_with_its_table_and_the_resume_command(tmp_path):
    args = [sys.executable, str(REPO / "run.py"), "-m", "seed=1,2,3,4,5,6",
            "dataset.train_size=1500", "dataset.test_size=100", "trainer.epochs=4",
            "trainer.eval_sample=100", "hydra.launcher.n_jobs=2", "hydra.sweep.dir=s",
            "compare.enabled=false"]
    out, err, proc = with_a_worker_killed(args, tmp_path, tmp_path / "s")
    assert proc.returncode == 1
    assert "The launcher failed: TerminatedWorkerError" in err
    assert "sweep folder:" in out and "ok" in out  # the table of what finished
    assert "Resume (finished runs are skipped): python " in err
    assert "Traceback" not in out + err


def test_the_printed_add_seeds_command_starts_as_the_sweep_did_and_settles_it(tmp_path):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    first = subprocess.run([sys.executable, "-m", "cnnsweep", "-m", "optimizer=sgd,adam",
                            "seed=0,1", *TINY, "hydra.sweep.dir=s"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    report = (tmp_path / "s" / "report.md").read_text()
    wanted = int(re.search(r"This adds seeds up to (\d+) per setting", report).group(1))
    command = next(line for line in report.splitlines() if line.startswith("python -m cnnsweep"))
    new_seeds = ",".join(map(str, range(2, wanted)))
    assert command.endswith(f"seed={new_seeds} hydra.sweep.dir={tmp_path / 's'}")
    settings = re.search(r" optimizer=(\S+) ", command).group(1).split(",")
    words = shlex.split(command)
    again = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    runs = summaries(tmp_path / "s")
    assert len(runs) == 4 + (wanted - 2) * len(settings)
    assert all(r["status"] == "ok" for r in runs.values())
    assert f"({wanted} runs)" in (tmp_path / "s" / "report.md").read_text()
