"""A wheel built from the checkout, installed (not editable) into a fresh virtual environment,
runs a sweep from any directory with the configs and sweeps it carries."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a venv holding only the wheel; its dependencies come from this environment's
    site-packages (a .pth file), so that nothing is downloaded."""
    root = tmp_path_factory.mktemp("install")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(root / "dist"), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next((root / "dist").glob("cnnsweep-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "cnnsweep/conf/config.yaml" in names and "cnnsweep/builtin/sweep/example.yaml" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    # the halving sweeper: its plugin class where Hydra scans, and its config group
    assert "hydra_plugins/cnnsweep_halving/halving_sweeper.py" in names
    assert "cnnsweep/conf/hydra/sweeper/halving.yaml" in names
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=300)
    purelib = subprocess.run([str(root / "venv" / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "_test_dependencies.pth").write_text("\n".join(site.getsitepackages()))
    subprocess.run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True, timeout=300)
    return root / "venv" / "bin"


def test_the_installed_package_runs_a_sweep_from_any_directory(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(installed / "cnnsweep"), "run", "-m", "optimizer=sgd,adam", "conv.filter_num=4,8",
         "dataset.train_size=200", "dataset.test_size=50", "trainer.epochs=1",
         "trainer.eval_sample=50", "hydra.sweep.dir=s"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("*/summary.json")]
    assert len(runs) == 4 and all(r["status"] == "ok" for r in runs)
    assert (tmp_path / "s" / "report.html").is_file()
    report = (tmp_path / "s" / "report.md").read_text()  # add seeds the way it was started
    assert "\ncnnsweep run -m optimizer=adam,sgd conv.filter_num=4,8 " in report
    where = subprocess.run([str(installed / "python"), "-c", "import cnnsweep; "
                            "print(cnnsweep.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True).stdout
    assert str(REPO) not in where  # the installed copy, not the checkout
    single = subprocess.run([str(installed / "python"), "-m", "cnnsweep", "+sweep=example",
                             "--cfg", "job"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert single.returncode == 0 and "epochs: 2" in single.stdout, single.stderr


def test_the_checkouts_run_py_runs_the_checkouts_code_beside_an_installed_copy(installed,
                                                                              tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(installed / "python"), str(REPO / "run.py"), "trainer.epochs=1",
                           "dataset.train_size=200", "hydra.run.dir=one"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert summary["versions"]["commit"]  # git describe of the checkout: its code ran
