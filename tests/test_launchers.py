"""The same sweep under Ray and submitit_local gives the run folders joblib gives.

Needs the optional launcher plugins (`pip install -e '.[ray,slurm]'`, which .ci/run installs);
deselect with `-m "not launchers"`."""

from __future__ import annotations

import importlib.util

import pytest

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


def test_slurm_launcher_config_composes_with_overrides(tmp_path):
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("hydra-submitit-launcher is not installed: pip install -e '.[slurm]'")
    proc = run_py("hydra/launcher=slurm", "hydra.launcher.partition=cpu",
                  "hydra.launcher.timeout_min=30", "--cfg", "hydra", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "SlurmLauncher" in proc.stdout
    for line in ("partition: cpu", "timeout_min: 30", "cpus_per_task: 1", "mem_gb: 4"):
        assert line in proc.stdout, line
