"""`cnnsweep reproduce`: every sweep of the book, its claims checked, one document; resumed
without retraining."""

import re
import shutil
import subprocess
import sys

import pytest

from cnnsweep.cli import main as cli
from cnnsweep.reproduce import BOOK, file_claims
from tests.conftest import REPO


def test_every_book_sweep_file_declares_valid_claims_citing_a_figure():
    for sweep in BOOK:
        claims = file_claims(sweep.name)
        assert all(c.figure for c in claims), sweep.name
        if sweep.figures:  # conv_filters is not a figure of the book
            assert claims, sweep.name
            assert {c.figure for c in claims} <= {f.strip() for f in sweep.figures.split(",")}


def test_reproduce_has_its_own_help(capsys):
    with pytest.raises(SystemExit) as done:
        cli(["reproduce", "--help"])
    assert done.value.code == 0
    assert "--quick" in capsys.readouterr().out


@pytest.mark.slow
def test_reproduce_quick_runs_the_book_checks_its_claims_and_resumes(tmp_path):
    out = tmp_path / "book"
    command = [sys.executable, str(REPO / "run.py"), "reproduce", "--quick", "--sweeps", str(out)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    markdown = (out / "book.md").read_text()
    for sweep in BOOK:
        assert f"## {sweep.name} — " in markdown
        assert (out / sweep.name / "report.html").is_file()
    for figure in ("figure 6-9", "figure 6-15", "figure 6-19", "figure 6-20, 6-21",
                   "figure 6-23", "figure 6-24", "figure 7-23, 7-24", "figure 8-1"):
        assert figure in markdown
    for header in ("runs trained at commit", "| CPU", "| BLAS", "| NumPy", "| Python",
                   "BLAS thread variables", "threads"):
        assert header in markdown
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if re.match(r"\| [678]-\d", line)]
    verdicts = [row[4] for row in rows]  # figure, claim, expected, measured, holds, closest
    assert set(verdicts) == {"✓", "—"} and verdicts.count("✓") >= 8
    assert [rows[0][1], rows[0][4]] == \
        ["SGD learns slowest (its final loss is the highest)", "✓"]
    assert "✗" not in markdown
    # Claims on full MNIST's numbers are shown as not checked, never as holding.
    assert "not checked: applies when dataset.name=mnist" in markdown
    assert "its own code (ch06/batch_norm_test.py" in markdown  # why the claim follows it
    figures = sorted((out / "book").glob("*.png"))
    assert len(figures) >= 9
    assert all(f"(book/{f.name})" in markdown for f in figures)
    assert "data:image/png;base64," in (out / "book.html").read_text()
    if shutil.which("chromium"):
        assert (out / "book.pdf").read_bytes()[:5] == b"%PDF-"

    summaries = {p: p.stat().st_mtime_ns for p in (out / "overfit_dropout").rglob("summary.json")}
    again = subprocess.run([*command, "--only", "overfit_dropout"], capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in summaries} == summaries  # nothing retrained
    assert "## overfit_dropout — figure 6-23" in (out / "book.md").read_text()
