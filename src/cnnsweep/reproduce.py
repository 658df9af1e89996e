"""`cnnsweep reproduce`: every sweep of the book run in turn into one folder, each sweep file's
claims checked against its runs, and one document (Markdown, HTML, PDF) with the book's figure
numbers and claims, our figures, the measured numbers, the verdicts, the wall times and the
machine that ran them.

Each sweep is launched as its own process (`<program> run -m +sweep=<name>`), so it resumes
like any sweep: finished runs are skipped, interrupted ones continue from their checkpoints.
`--quick` runs each sweep small on the embedded data (BookSweep.quick); claims whose `when`
does not apply there (full MNIST, the book's epochs) are shown as not checked.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

import cnnsweep
from cnnsweep import runfolder
from cnnsweep.claims import Checked, check_all, claims_table, failed
from cnnsweep.compare_options import Claim, CompareOptions
from cnnsweep.document import (
    Code,
    Document,
    Heading,
    Image,
    Items,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from cnnsweep.exitcodes import ExitCode
from cnnsweep.help import first_sentence
from cnnsweep.results import Results, gather


@dataclass(frozen=True)
class BookSweep:
    name: str  # sweeps/<name>.yaml
    figures: str  # the book's figure numbers it reproduces ("" for none)
    quick: tuple[str, ...]  # overrides of --quick: the embedded data, small
    full: tuple[str, ...] = ()  # overrides of the full run (threads, jobs at a time)


QUICK_DATA = "dataset=mnist_mini"
BOOK = (
    BookSweep("optimizer_compare", "6-9", (QUICK_DATA, "trainer.max_iterations=500")),
    BookSweep("weight_init_compare", "6-15", (QUICK_DATA, "trainer.max_iterations=500")),
    BookSweep("batch_norm", "6-19", (QUICK_DATA, "trainer.epochs=5")),
    BookSweep("overfit_weight_decay", "6-20, 6-21", (QUICK_DATA,)),
    BookSweep("overfit_dropout", "6-23", (QUICK_DATA,)),
    BookSweep("hyperparameter_search", "6-24",
              (QUICK_DATA, "trainer.epochs=20", "hydra.sweeper.n_trials=4")),
    BookSweep("simple_convnet", "7-23, 7-24",
              (QUICK_DATA, "dataset.train_size=1000", "trainer.epochs=1")),
    BookSweep("conv_filters", "", (QUICK_DATA, "dataset.train_size=500", "trainer.epochs=1",
                                   "conv.filter_num=8,30", "conv.filter_size=3,5")),
    # One seed at two threads: 15-16 min on 2 cores, the longest sweep of the book.
    BookSweep("deep_convnet", "8-1", (QUICK_DATA, "dataset.train_size=300", "trainer.epochs=1"),
              ("trainer.threads=2", "hydra.launcher.n_jobs=1")),
)
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SHOWN_SETTINGS = 32  # rows of a sweep's settings table in the document (best first)


def sweeps_folder() -> Path:
    """The sweep files shipped with cnnsweep (the repository's sweeps/)."""
    return Path(cnnsweep.__file__).resolve().parent / "builtin" / "sweep"


def sweep_compare(name: str) -> dict[str, Any]:
    """The `compare:` block of a sweep file as written (claims included)."""
    text = yaml.safe_load((sweeps_folder() / f"{name}.yaml").read_text()) or {}
    return text.get("compare") or {}


def file_claims(name: str) -> tuple[Claim, ...]:
    return CompareOptions.from_mapping(sweep_compare(name)).claims


def launch_command(program: list[str], sweep: BookSweep, folder: Path,
                   quick: bool) -> list[str]:
    return [*program, "-m", f"+sweep={sweep.name}", f"hydra.sweep.dir={folder}",
            *(sweep.quick if quick else sweep.full)]


@dataclass
class SweepOutcome:
    sweep: BookSweep
    folder: Path
    code: int | None  # the sweep's exit code (ExitCode); None: not launched (--no-train)
    seconds: float  # this launch's wall time
    results: Results | None = None
    checked: list[Checked] | None = None


def run_sweeps(program: list[str], sweeps: Sequence[BookSweep], root: Path, quick: bool,
               env: dict[str, str] | None = None) -> list[SweepOutcome]:
    """Launch each sweep into root/<name> (one process each; finished runs are skipped); stop
    at an interrupt."""
    outcomes = []
    for i, sweep in enumerate(sweeps, 1):
        folder = (root / sweep.name).absolute()
        command = launch_command(program, sweep, folder, quick)
        print(f"[{i}/{len(sweeps)}] {sweep.name}: {' '.join(command[len(program):])}",
              flush=True)
        start = time.perf_counter()
        code = subprocess.run(command, env=env).returncode
        outcomes.append(SweepOutcome(sweep, folder, code, time.perf_counter() - start))
        if code in (ExitCode.SIGINT, ExitCode.SIGTERM, -2, -15):
            break
    return outcomes


def check_outcome(outcome: SweepOutcome) -> None:
    """The sweep file's claims (as the file reads now) on the runs of its folder."""
    try:
        outcome.results = gather([outcome.folder])
    except runfolder.NoRunsError:
        return  # the sweep trained nothing (its launch failed): the document says so
    outcome.checked = check_all(file_claims(outcome.sweep.name), outcome.results)


# ---- the document ------------------------------------------------------------------------------

def _versions(results: Sequence[Results]) -> pd.DataFrame:
    rows = [v for r in results for v in r.runs["_versions"] if v]
    return pd.DataFrame(rows) if rows else pd.DataFrame()


def _one_or_all(values: pd.Series) -> str:
    found = sorted({str(v) for v in values.dropna()})
    return ", ".join(found) if found else "not recorded"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             cwd=Path(cnnsweep.__file__).parent, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _threads(outcome: SweepOutcome) -> str:
    runs = outcome.results.runs if outcome.results is not None else pd.DataFrame()
    threads = _one_or_all(runs["trainer.threads"]) if "trainer.threads" in runs else "?"
    jobs = "?"
    try:
        hydra = yaml.safe_load((outcome.folder / "multirun.yaml").read_text())["hydra"]
        jobs = str(hydra["launcher"].get("n_jobs", "?"))
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        pass
    at_once = {"-1": ", one per core at a time", "?": ""}.get(jobs, f", {jobs} at a time")
    return f"{threads} per run{at_once}"


def _times(results: Results) -> tuple[float, float, int]:
    """The runs' span (first start to last end of the launches that finished them, seconds),
    their training time summed over runs and every launch, and how many were continued from
    a checkpoint."""
    started, finished, training, continued = [], [], 0.0, 0
    for path in results.runs["path"]:
        summary = runfolder.read_summary(Path(path)) or runfolder.Summary()
        if summary.started_at and summary.finished_at:
            started.append(pd.Timestamp(summary.started_at))
            finished.append(pd.Timestamp(summary.finished_at))
        training += float(summary.train_seconds or 0)
        continued += bool(summary.continued_from)
    span = (max(finished) - min(started)).total_seconds() if started else float("nan")
    return span, training, continued


def duration(seconds: float) -> str:
    if pd.isna(seconds):
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _verdict_counts(checked: Sequence[Checked] | None) -> str:
    if not checked:
        return "no claim"
    held = sum(c.holds is True for c in checked)
    decided = sum(c.holds is not None for c in checked)
    skipped = len(checked) - decided
    shown = f"{held} of {decided} ✓" if decided else ""
    return ", ".join(filter(None, [shown, f"{skipped} not checked" if skipped else ""]))


def _settings(outcome: SweepOutcome, metric: str) -> pd.DataFrame:
    """The measured numbers: each setting's mean, 95% CI and runs, best first."""
    try:
        table = pd.read_csv(outcome.folder / "settings.csv")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return pd.DataFrame()
    shown = pd.DataFrame({"setting": table["setting"], f"{metric} mean": table["mean"],
                          "95% CI": [("" if pd.isna(lo) else f"{lo:.4f} to {hi:.4f}")
                                     for lo, hi in zip(table["ci_low"], table["ci_high"],
                                                       strict=True)],
                          "runs": table["n"], "seconds per run": table["wall_seconds"]})
    return shown


FIGURE_BLOCK = re.compile(r"^### (?P<caption>.+)\n\n!\[[^\]]*\]\((?P<file>[^)]+)\)\n\n"
                          r"(?:(?P<note>[^#\n!|`].*)\n)?", re.MULTILINE)


def _figures(outcome: SweepOutcome, into: Path) -> list[Image]:
    """The sweep report's figures (captions and notes as its report.md has them), copied."""
    try:
        report = (outcome.folder / "report.md").read_text()
    except OSError:
        return []
    images = []
    for match in FIGURE_BLOCK.finditer(report):
        source = outcome.folder / match["file"]
        if source.is_file():
            target = into / f"{outcome.sweep.name}_{source.name}"
            shutil.copyfile(source, target)
            images.append(Image(target, match["caption"], match["note"] or ""))
    return images


def _claims_notes(checked: Sequence[Checked]) -> list[str]:
    return [f"Figure {c.claim.figure}: {c.claim.note}" if c.claim.figure else c.claim.note
            for c in checked if c.claim.note]


def build_document(outcomes: Sequence[SweepOutcome], quick: bool, figures_dir: Path,
                   command: str, commit: str) -> Document:
    """`commit`: the checkout's, taken before anything is written (a document inside the
    checkout would otherwise make it look edited)."""
    shutil.rmtree(figures_dir, ignore_errors=True)  # the document's own: no stale figure stays
    figures_dir.mkdir(parents=True)
    results = [o.results for o in outcomes if o.results is not None]
    versions = _versions(results)
    checked = [c for o in outcomes for c in (o.checked or [])]
    held = sum(c.holds is True for c in checked)
    decided = sum(c.holds is not None for c in checked)
    title = "Deep Learning from Scratch, reproduced" + (" (quick)" if quick else "")
    doc = Document(title)

    def field(name: str) -> str:
        return _one_or_all(versions[name]) if name in versions else "not recorded"

    env = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in BLAS_VARIABLES)
    doc.add(Paragraph(
        f"Generated by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC at commit "
        f"{commit}. {held} of {decided} checked claims hold"
        + (f"; {len(checked) - decided} were not checked (their `when` does not apply to "
           "these runs, or none of their runs ended ok)" if decided < len(checked) else "")
        + "."))
    doc.add(Table(pd.DataFrame({"": ["runs trained at commit", "CPU", "BLAS", "Python",
                                     "NumPy", "platform", "BLAS thread variables"],
                                "value": [field("commit"), field("cpu"), field("blas"),
                                          field("python"), field("numpy"), field("platform"),
                                          env]})))
    doc.add(Paragraph(
        "Each sweep is one file in sweeps/, run as `python run.py -m +sweep=<name>`; its claims "
        "are data in the same file (compare.claims, docs/claims.md), checked here against its "
        "runs. " + ("Quick mode: each sweep runs small on the embedded 5,000/1,000-image MNIST "
                    "subset (the overrides are listed per sweep), so only the claims that do "
                    "not need full MNIST are checked." if quick else
                    "Full run: full MNIST, the sweep files' own settings.")))
    summary = pd.DataFrame([{
        "sweep": o.sweep.name, "book figure": o.sweep.figures or "—",
        "claims": _verdict_counts(o.checked),
        "runs": (f"{int((o.results.runs['status'] == 'ok').sum())} ok of "
                 f"{len(o.results.runs)}") if o.results is not None else "none",
        "wall time": duration(_times(o.results)[0]) if o.results is not None else "—",
        "training": duration(_times(o.results)[1]) if o.results is not None else "—",
        "threads": _threads(o)} for o in outcomes])
    doc.add(Table(summary))
    doc.add(Paragraph("Wall time: from the first run's start to the last run's end in the "
                      "launches that finished them, as the runs' summaries record them (a "
                      "sweep resumed later counts the pause; a run continued from a checkpoint "
                      "counts from its continuation). Training: the runs' training seconds, "
                      "summed over runs and over every launch."))
    for outcome in outcomes:
        doc.add(*sweep_section(outcome, quick, figures_dir))
    return doc


def sweep_section(outcome: SweepOutcome, quick: bool, figures_dir: Path) -> list[Any]:
    sweep = outcome.sweep
    blocks: list[Any] = [Heading(f"{sweep.name} — " + (f"figure {sweep.figures}"
                                                        if sweep.figures else "not a figure "
                                                        "of the book"))]
    described = first_sentence(sweeps_folder() / f"{sweep.name}.yaml")
    overrides = sweep.quick if quick else sweep.full
    blocks.append(Paragraph(described))
    blocks.append(Code(" ".join(["python run.py -m", f"+sweep={sweep.name}", *overrides])))
    if outcome.results is None:
        launched = "not launched" if outcome.code is None else \
            f"the launch exited with {outcome.code}"
        blocks.append(Paragraph(f"No run of this sweep exists in {_shown(outcome.folder)} "
                                f"({launched}): nothing to show."))
        return blocks
    runs = outcome.results.runs
    if outcome.checked:
        blocks.append(Table(claims_table(outcome.checked)))
        notes = _claims_notes(outcome.checked)
        if notes:
            blocks.append(Items(notes))
    else:
        blocks.append(Paragraph("No claim: the book reports no number for this sweep."))
    metric = CompareOptions.from_mapping(sweep_compare(sweep.name)).metric
    settings = _settings(outcome, metric)
    if not settings.empty:
        blocks.append(Table(settings.head(SHOWN_SETTINGS)))
        if len(settings) > SHOWN_SETTINGS:
            blocks.append(Paragraph(f"The best {SHOWN_SETTINGS} of {len(settings)} settings by "
                                    f"{metric}; the sweep's settings.csv has them all."))
    blocks += _figures(outcome, figures_dir)
    span, total, continued = _times(outcome.results)
    statuses = runs["status"].value_counts()
    unfinished = int((runs["status"] != "ok").sum() - (runs["status"] == "diverged").sum())
    if unfinished:
        blocks.append(Paragraph(
            f"Not finished: {unfinished} of {len(runs)} runs did not end ok "
            f"({', '.join(f'{n} {s}' for s, n in statuses.items() if s != 'ok')}); their claims "
            "are not checked. The same command continues them from their checkpoints."))
    blocks.append(Paragraph(
        f"{len(runs)} runs ({', '.join(f'{n} {s}' for s, n in statuses.items())}"
        + (f", {continued} continued from a checkpoint" if continued else "")
        + f"); wall time {duration(span)}, {duration(total)} of training summed over runs; "
        f"commit "
        f"{_one_or_all(runs['commit'])}"
        + ("" if outcome.code is None else
           f"; this launch {duration(outcome.seconds)} (exit code {outcome.code})")
        + f". The sweep's own report: {_shown(outcome.folder / 'report.html')}."))
    return blocks


def _shown(path: Path) -> str:
    """A path as the document shows it: relative to the working folder where it is inside."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def print_pdf(html_file: Path) -> Path | None:
    """The HTML page printed to PDF by a headless Chromium (or Chrome), if one is installed."""
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if browser is None:
        print("no PDF: no Chromium or Chrome found (the HTML page prints to PDF from any "
              "browser)", file=sys.stderr)
        return None
    pdf = html_file.with_suffix(".pdf")
    try:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                        html_file.absolute().as_uri()], capture_output=True, timeout=300,
                       check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"no PDF: {browser} failed: {exc}", file=sys.stderr)
        return None
    return pdf if pdf.is_file() else None


def write_document(doc: Document, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    markdown, page = out / f"{name}.md", out / f"{name}.html"
    markdown.write_text(to_markdown(doc, base=out))
    page.write_text(to_html(doc))
    return [markdown, page, *filter(None, [print_pdf(page)])]


# ---- the command -------------------------------------------------------------------------------

def parser(program: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{program} reproduce",
        description="Run every sweep of the book (full MNIST: set MNIST_DIR), check each sweep "
                    "file's claims, and write one document (Markdown, HTML, PDF). Run it again "
                    "to resume: finished runs are skipped.")
    p.add_argument("--quick", action="store_true",
                   help="each sweep small on the embedded data (a few minutes on 2 cores)")
    p.add_argument("--sweeps", metavar="DIR",
                   help="folder of the sweep folders (default outputs/reproduce/quick|full)")
    p.add_argument("--out", metavar="DIR", help="folder of the document (default: --sweeps)")
    p.add_argument("--name", default="book",
                   help="the document's file name, without suffix (default: book); its figures "
                        "go into <out>/<name>/")
    p.add_argument("--no-train", action="store_true",
                   help="write the document from what the sweep folders hold, launching nothing")
    p.add_argument("--only", nargs="+", metavar="SWEEP", choices=[s.name for s in BOOK],
                   help="these sweeps only")
    return p


def main(argv: list[str], program: str = "cnnsweep", run_program: list[str] | None = None
         ) -> int:
    """`reproduce [--quick] [--sweeps DIR] [--out DIR] [--name NAME] [--only SWEEP…]`;
    `run_program` is the command that starts `program run` (default: this Python's
    `-m cnnsweep run`)."""
    args = parser(program).parse_args(argv)
    commit = _git_commit()
    root = Path(args.sweeps or Path("outputs") / "reproduce" / ("quick" if args.quick
                                                                else "full"))
    out = Path(args.out) if args.out else root
    sweeps = [s for s in BOOK if not args.only or s.name in args.only]
    run_program = run_program or [sys.executable, "-m", "cnnsweep", "run"]
    outcomes = [SweepOutcome(s, (root / s.name).absolute(), None, 0.0) for s in sweeps] \
        if args.no_train else run_sweeps(run_program, sweeps, root, args.quick)
    for outcome in outcomes:
        check_outcome(outcome)
    command = " ".join([program, "reproduce", *argv])
    doc = build_document(outcomes, args.quick, out / args.name, command, commit)
    files = write_document(doc, out, args.name)
    for path in files:
        print(f"{path.suffix[1:]}: {path}")
    checked = [c for o in outcomes for c in (o.checked or [])]
    codes = [o.code for o in outcomes if o.code is not None]
    interrupted = next((c for c in codes if c in (ExitCode.SIGINT, ExitCode.SIGTERM)), None)
    if interrupted is not None or len(outcomes) < len(sweeps):
        print(f"interrupted: run `{command}` again to resume", file=sys.stderr)
        return interrupted or ExitCode.SIGINT
    if any(c not in (ExitCode.OK, ExitCode.CLAIMS_FAILED) for c in codes):
        return ExitCode.FAILED
    bad = failed(checked)
    if bad:
        print(f"{len(bad)} of {len(checked)} claims do not hold: "
              + "; ".join(f"{c.claim.says} ({c.measured})" for c in bad), file=sys.stderr)
        return ExitCode.CLAIMS_FAILED
    return ExitCode.OK

