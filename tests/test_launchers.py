"""The same sweep under Ray and submitit_local gives the run folders joblib gives.

Needs the optional launcher plugins (`pip install -e '.[ray,slurm]'`, which .ci/run installs);
deselect with `-m "not launchers"`."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_run import TINY, histories, run_py, summaries

pytestmark = [pytest.mark.launchers, pytest.mark.slow]

SWEEP = ["-m", "optimizer=sgd,adam", *TINY]
LAUNCHERS = {
    "ray": ("hydra_plugins.hydra_ray_launcher",
            ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"]),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", ["hydra/launcher=submitit_local"]),
}


@pytest.fixture(scope="module")
def joblib_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("joblib")
    proc = run_py(*SWEEP, "hydra.sweep.dir=s", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "s"


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_same_sweep_same_run_folders_as_joblib(tmp_path, joblib_reference, launcher):
    module, overrides = LAUNCHERS[launcher]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: pip install -e '.[ray,slurm]'")
    proc = run_py(*SWEEP, *overrides, "hydra.sweep.dir=s", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = summaries(tmp_path / "s")
    assert sorted(runs) == sorted(summaries(joblib_reference))
    assert all(s["status"] == "ok" for s in runs.values())
    assert histories(tmp_path / "s") == histories(joblib_reference)  # identical numbers
    assert (tmp_path / "s" / "report.html").is_file()  # the comparison ran at the end
    # Resume works the same way: a second invocation skips every finished run.
    again = run_py(*SWEEP, *overrides, "hydra.sweep.dir=s", cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = summaries(tmp_path / "s")
    assert {k: s["finished_at"] for k, s in after.items()} == \
        {k: s["finished_at"] for k, s in runs.items()}


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A single-node SLURM on this machine, started for these tests and stopped after."""
    from tests.slurm_cluster import missing, slurm_cluster

    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("hydra-submitit-launcher is not installed: pip install -e '.[slurm]'")
    if missing():
        pytest.skip(missing())
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as env:
        yield env


def test_a_sweep_runs_on_a_real_slurm_as_under_joblib(tmp_path, slurm, joblib_reference):
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), *SWEEP, "hydra/launcher=slurm",
                           "hydra.sweep.dir=s"], cwd=tmp_path, env=slurm, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = summaries(tmp_path / "s")
    assert sorted(runs) == sorted(summaries(joblib_reference))
    assert histories(tmp_path / "s") == histories(joblib_reference)
    scripts = list((tmp_path / "s" / ".submitit").glob("*/*_submission.sh"))
    assert scripts  # ran as SLURM jobs, each asking for trainer.threads CPUs
    assert all("#SBATCH --cpus-per-task=1" in p.read_text() for p in scripts)


def _running_job(env: dict[str, str], run: Path, seconds: float = 180) -> str:
    """The id of the SLURM job training `run`, once the run has saved a checkpoint."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        jobs = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i"], env=env,
                              capture_output=True, text=True).stdout.split()
        if jobs and (run / "checkpoint.npz").is_file():
            return jobs[0]
        time.sleep(0.05)
    raise AssertionError(f"no running job with a checkpoint in {run}")


def _start_when_requeued(env: dict[str, str], job: str, seconds: float = 120) -> None:
    """SLURM holds a requeued job for two minutes or so (its begin time); a test need not."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=env,
                               capture_output=True, text=True).stdout.strip()
        if state == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=env,
                           capture_output=True, timeout=60)
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job} was not requeued")


# Training lasts well beyond SLURM's kill delay (KillWait=2 in tests/slurm_cluster.py), so the
# kill comes before the run's end.
REQUEUED = ["-m", "optimizer=adam", "dropout=0.2", "dataset.train_size=1000",
            "dataset.test_size=100", "trainer.epochs=200", "trainer.batch_size=20",
            "trainer.eval_sample=100", "conv.filter_num=4", "hidden_size=16",
            "compare.enabled=false"]


@pytest.fixture(scope="module")
def requeue_reference(tmp_path_factory):
    """The run both requeue tests stop, trained once without a stop."""
    folder = tmp_path_factory.mktemp("requeue")
    reference = run_py(*REQUEUED, "hydra.sweep.dir=reference", cwd=folder)
    assert reference.returncode == 0, reference.stderr[-3000:]
    return folder / "reference"


@pytest.mark.parametrize("stop", ["timeout signal", "scontrol requeue"])
def test_a_slurm_job_stopped_and_requeued_continues_to_the_same_bytes(tmp_path, slurm, stop,
                                                                      requeue_reference):
    """submitit's time-limit signal (SIGUSR2, what SLURM sends signal_delay_s before the
    limit: submitit checkpoints and requeues the job) or the scheduler's own requeue (SIGTERM,
    then the kill) mid-run: the requeued job continues from the run's checkpoint."""
    from tests.test_continuation import outputs

    args = REQUEUED
    sweep = tmp_path / "s"
    run = sweep / next(iter(summaries(requeue_reference)))
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), *args,
                             "hydra/launcher=slurm", "hydra.sweep.dir=s"], cwd=tmp_path,
                            env=slurm, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    job = _running_job(slurm, run)
    command = ["scancel", "--signal=USR2", job] if stop == "timeout signal" else \
        ["scontrol", "requeue", job]
    subprocess.run(command, env=slurm, check=True, capture_output=True, timeout=60)
    _start_when_requeued(slurm, job)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    summary = summaries(sweep)[run.name]
    assert summary["status"] == "ok" and summary["continued_from"][-1]["run"] == run.name
    assert 0 < summary["continued_from"][-1]["iteration"] < 10000
    assert outputs(sweep) == outputs(requeue_reference)
    assert "continued from epoch" in out


def test_a_ray_worker_killed_mid_run_is_retried_and_continues_to_the_same_bytes(tmp_path):
    """A lost Ray worker (SIGKILL): Ray retries its task, which continues from the run's
    checkpoint; the sweep ends as an uninterrupted one."""
    if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None:
        pytest.skip("hydra-ray-launcher is not installed: pip install -e '.[ray]'")
    from cnnsweep.runlock import running_elsewhere
    from tests.test_continuation import outputs

    args = ["-m", "optimizer=adam", "dropout=0.2", "dataset.train_size=1000",
            "dataset.test_size=100", "trainer.epochs=60", "trainer.batch_size=20",
            "trainer.eval_sample=100", "conv.filter_num=4", "hidden_size=16",
            "compare.enabled=false"]
    reference = run_py(*args, "hydra.sweep.dir=reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    run = tmp_path / "s" / next(iter(summaries(tmp_path / "reference")))
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), *args, "hydra/launcher=ray",
                             "+hydra.launcher.ray.init.num_cpus=2", "hydra.sweep.dir=s"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    deadline = time.time() + 180
    while time.time() < deadline and not (run / "checkpoint.npz").is_file():
        time.sleep(0.05)
    holder = running_elsewhere(run)
    assert holder is not None, "no worker holds the run"
    os.kill(holder.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    summary = summaries(tmp_path / "s")[run.name]
    assert summary["status"] == "ok" and summary["continued_from"][-1]["run"] == run.name
    assert outputs(tmp_path / "s") == outputs(tmp_path / "reference")


def test_without_slurm_the_launcher_fails_in_one_line(tmp_path):
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("hydra-submitit-launcher is not installed: pip install -e '.[slurm]'")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}  # no sbatch on this PATH
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), *SWEEP, "hydra/launcher=slurm",
                           "hydra.sweep.dir=s"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("SLURM is not available here")
    assert "Traceback" not in proc.stderr


def test_slurm_launcher_config_composes_with_overrides(tmp_path):
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("hydra-submitit-launcher is not installed: pip install -e '.[slurm]'")
    proc = run_py("hydra/launcher=slurm", "hydra.launcher.partition=cpu",
                  "hydra.launcher.timeout_min=30", "trainer.threads=2", "--cfg", "all",
                  "--resolve", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "SlurmLauncher" in proc.stdout
    for line in ("partition: cpu", "timeout_min: 30", "cpus_per_task: 2", "mem_gb: 4"):
        assert line in proc.stdout, line


def test_ray_tasks_claim_the_runs_threads_as_cpus(tmp_path):
    if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None:
        pytest.skip("hydra-ray-launcher is not installed: pip install -e '.[ray]'")
    proc = run_py("hydra/launcher=ray", "trainer.threads=2", "--cfg", "all", "--resolve",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "RayLauncher" in proc.stdout and "num_cpus: 2" in proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    """A Ray cluster started by `ray start --head` in its own folder, stopped after."""
    if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None:
        pytest.skip("hydra-ray-launcher is not installed: pip install -e '.[ray]'")
    ray = shutil.which("ray", path=os.path.dirname(sys.executable))
    head = tmp_path / "head"
    head.mkdir()
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
                   cwd=head, env=env, check=True, capture_output=True, timeout=120)
    try:
        yield head, f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_a_sweep_joins_an_existing_ray_cluster_from_another_folder(tmp_path, ray_head,
                                                                   joblib_reference):
    head, address = ray_head
    driver = tmp_path / "driver"
    driver.mkdir()
    proc = run_py(*SWEEP, "hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}",
                  "hydra.sweep.dir=s", cwd=driver, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = summaries(driver / "s")  # in the driver's folder, not where `ray start` ran
    assert sorted(runs) == sorted(summaries(joblib_reference))
    assert histories(driver / "s") == histories(joblib_reference)
    assert not list(head.rglob("summary.json"))
    assert proc.stdout.rstrip().splitlines()[-1].startswith("report:")  # no Ray lines after


def test_a_launcher_that_loses_a_run_fails_the_sweep_naming_it(tmp_path):
    plugins = f"{REPO / 'tests' / 'plugins'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    proc = subprocess.run(
        [sys.executable, str(REPO / "run.py"), *SWEEP, "hydra/launcher=basic",
         "hydra.launcher._target_=hydra_plugins.cnnsweep_dropping_launcher.DroppingLauncher",
         "hydra.sweep.dir=s", "compare.enabled=false"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": plugins}, capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 1
    assert f"1 run(s) were launched but never arrived in {tmp_path / 's'}: " in proc.stderr
    missing = proc.stderr.split("never arrived in")[1].split(". A worker")[0]
    assert "optimizer=adam" in missing and "optimizer=sgd" not in missing  # the last job
    assert len(summaries(tmp_path / "s")) == 1
