"""Ctrl-C and SIGTERM mid-sweep: exit code, one message with the resume command, interrupted
statuses, no process left, and a rerun that finishes with the finished runs untouched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnsweep.launch.stopping import resume_command
from tests.conftest import REPO
from tests.test_run import run_py, summaries


def test_the_resume_command_pins_the_sweep_folder():
    argv = ["run.py", "-m", "optimizer=sgd,adam", "hydra.sweep.dir=outputs/x", "seed=1"]
    assert resume_command(argv, Path("/abs/x")) == \
        "python run.py -m optimizer=sgd,adam seed=1 hydra.sweep.dir=/abs/x"
    assert resume_command(["/bin/cnnsweep", "run", "-m", "a=b c"], Path("/s")) == \
        "/bin/cnnsweep run -m 'a=b c' hydra.sweep.dir=/s"


def started(sweep: Path) -> list[Path]:
    return [p.parent.parent for p in sweep.glob("*/.hydra/config.yaml")]


def live_processes(group: int) -> list[str]:
    """Processes of the group that still run (zombies are dead, waiting for init to reap)."""
    out = subprocess.run(["ps", "-o", "stat=,pid=,cmd=", "-g", str(group)], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if line.strip() and not line.startswith("Z")]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_sweep_ends_cleanly_and_resumes(tmp_path, signum, code):
    args = [str(REPO / "run.py"), "-m", "seed=1,2,3,4,5,6", "dataset.train_size=1500",
            "dataset.test_size=100", "trainer.epochs=4", "trainer.eval_sample=100",
            "hydra.launcher.n_jobs=2", "hydra.sweep.dir=s", "compare.enabled=false"]
    sweep = tmp_path / "s"
    # A process started in the background by a script ignores SIGINT; a terminal's would not.
    proc = subprocess.Popen([sys.executable, *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (summaries(sweep) and
                                          len(started(sweep)) > len(summaries(sweep))):
        time.sleep(0.05)
    sent = time.time()
    os.killpg(proc.pid, signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert time.time() - sent < 10
    assert "Traceback" not in out + err
    runs = summaries(sweep)
    statuses = sorted(s["status"] for s in runs.values())
    finished = [name for name, s in runs.items() if s["status"] == "ok"]
    assert finished and "interrupted" in statuses and set(statuses) <= {"ok", "interrupted"}
    assert len(runs) == len(started(sweep))  # every run that started has a summary
    message = err.strip().splitlines()
    what = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert f"Interrupted ({what}): {len(finished)} run(s) finished, " \
           f"{statuses.count('interrupted')} interrupted" in err
    resume = next(line for line in message if line.startswith("Resume"))
    assert f"hydra.sweep.dir={sweep}" in resume
    deadline = time.time() + 10
    while live_processes(proc.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert live_processes(proc.pid) == []

    # A run cut off after its first epoch has a checkpoint: the rerun continues it from there.
    saved = [n for n, s in runs.items() if s["status"] == "interrupted" and
             (sweep / n / "checkpoint.npz").is_file()]
    command = resume.split(": ", 1)[1].split()
    assert command[:2] == ["python", str(REPO / "run.py")]
    again = run_py(*command[2:], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    after = summaries(sweep)
    assert len(after) == 6 and all(s["status"] == "ok" for s in after.values())
    for name in finished:
        assert after[name]["finished_at"] == runs[name]["finished_at"], f"{name} was redone"
    for name in saved:
        continued = json.loads((sweep / name / "summary.json").read_text())
        assert continued["status"] == "ok" and continued["continued_from"][-1]["iteration"] > 0
