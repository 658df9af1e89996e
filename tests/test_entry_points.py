"""`cnnsweep`, `python -m cnnsweep` and `python run.py` take the same words (`run` optional,
`compare`), and `--help` is cnnsweep's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.runfolders import base_config, make_run

ENTRY_POINTS = {
    "cnnsweep": [str(Path(sys.executable).with_name("cnnsweep"))],
    "python -m cnnsweep": [sys.executable, "-m", "cnnsweep"],
    "python run.py": [sys.executable, str(REPO / "run.py")],
}


def call(entry: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = ENTRY_POINTS[entry]
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed (pip install -e .)")
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HYDRA_FULL_ERROR": "0"})


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("words", [["run", "--cfg", "job"], ["--cfg", "job"]])
def test_run_is_optional_and_hydra_gets_the_rest(tmp_path, entry, words):
    proc = call(entry, *words, "optimizer=sgd", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "name: sgd" in proc.stdout and "filter_num: 30" in proc.stdout


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_compare_is_the_same_command_everywhere(tmp_path, entry):
    sweep = tmp_path / "sweep"
    for opt, acc in (("sgd", 0.6), ("adam", 0.95)):
        make_run(sweep, [f"optimizer={opt}"], base_config(optimizer={"name": opt}), test_acc=acc)
    proc = call(entry, "compare", str(sweep), "--out", "report", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "report: report/report.html" in proc.stdout
    assert (tmp_path / "report" / "runs.csv").is_file()


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_help_lists_the_groups_and_the_builtin_sweeps_not_the_schema(tmp_path, entry):
    proc = call(entry, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    shown = "cnnsweep run" if entry == "cnnsweep" else entry
    assert text.startswith(f"{entry}: train the book's networks")
    assert f"  {shown} -m +sweep=NAME" in text
    assert "optimizer:       adagrad, adam*, momentum, nesterov, rmsprop, sgd" in text
    sweeps = sorted(p.stem for p in (REPO / "sweeps").glob("*.yaml"))
    listed = [line.split()[0] for line in text.split("Built-in sweeps")[1].splitlines()[1:]
              if line.startswith("  ") and line.split()]
    assert listed[:len(sweeps)] == sweeps
    assert "optimizer_compare      The book's optimizer comparison (ch.6" in text
    assert "schema" not in text and "powered by Hydra" not in text
    assert "docs/architecture.md" in text
