"""docs/extending.md followed literally: its code blocks applied to a copy of the checkout, then
the new optimizer, dataset, architecture and figure used through run.py and `cnnsweep compare`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

BLOCK = re.compile(r"^```\w+ (\S+)( \(add\))?\n(.*?)^```", re.MULTILINE | re.DOTALL)
TINY = ["dataset.train_size=200", "dataset.test_size=50", "trainer.epochs=1",
        "trainer.batch_size=50", "trainer.eval_sample=50"]


def blocks() -> list[tuple[str, bool, str]]:
    text = (REPO / "docs" / "extending.md").read_text()
    return [(m.group(1), bool(m.group(2)), m.group(3)) for m in BLOCK.finditer(text)]


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    """A copy of the checkout with every block of docs/extending.md applied."""
    root = tmp_path_factory.mktemp("extended")
    for name in ("src", "conf", "sweeps", "tests", "docs"):
        shutil.copytree(REPO / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("run.py", "pyproject.toml"):
        shutil.copy(REPO / name, root / name)
    applied = []
    for path, add, code in blocks():
        target = root / path
        assert add == target.exists(), f"{path}: '(add)' must name an existing file"
        with open(target, "a" if add else "w") as f:
            f.write(code)
        applied.append(path)
    assert len(applied) >= 8, applied
    return root


def run(root: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_the_new_optimizer_and_architecture_run_and_the_optimizers_test_passes(extended,
                                                                                tmp_path):
    proc = run(extended, str(extended / "run.py"), "optimizer=sign_sgd", "arch=two_convnet",
               "channels=[4,8]", *TINY, f"hydra.run.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = summary(tmp_path / "one")
    assert s["status"] == "ok"
    assert s["config"]["optimizer"] == {"name": "sign_sgd", "lr": 0.001}
    assert s["config"]["network"] == "two_convnet" and s["config"]["channels"] == [4, 8]
    tests = run(extended, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                str(extended / "tests" / "nn" / "test_optimizers.py"), "-k", "sign_sgd",
                cwd=extended)
    assert tests.returncode == 0 and "1 passed" in tests.stdout, tests.stdout + tests.stderr


def test_the_new_dataset_and_figure_type_work_through_a_sweep(extended, tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "mine.npz"
    np.savez(data, x_train=rng.integers(0, 256, (120, 12, 12), dtype=np.uint8),
             t_train=rng.integers(0, 3, 120), x_test=rng.integers(0, 256, (40, 12, 12),
                                                                   dtype=np.uint8),
             t_test=rng.integers(0, 3, 40))
    proc = run(extended, str(extended / "run.py"), "-m", "dataset=npz", f"dataset.path={data}",
               "optimizer=sgd,sign_sgd", "conv.filter_num=4", "hidden_size=8",
               "trainer.epochs=1", "trainer.batch_size=40", "trainer.eval_sample=40",
               "compare.figures=[speed,metric]", "hydra.sweep.dir=s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [summary(p.parent) for p in (tmp_path / "s").glob("*/summary.json")]
    assert len(runs) == 2 and all(r["status"] == "ok" for r in runs)
    assert all(r["param_count"] == 4 * 25 + 4 + 4 * 4 * 4 * 8 + 8 + 8 * 3 + 3 for r in runs)
    assert (tmp_path / "s" / "speed.png").is_file()
    assert "Training speed per setting" in (tmp_path / "s" / "report.md").read_text()
    again = run(extended, "-m", "cnnsweep.cli", "compare", "s", "--figures", "speed",
                cwd=tmp_path)
    assert again.returncode == 0, again.stderr
