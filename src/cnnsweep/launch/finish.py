"""The end of a sweep: the table of its runs, the report, the runs that never arrived or are
still trained elsewhere, and the exit code."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cnnsweep import runfolder
from cnnsweep.claims import claims_do_not_hold
from cnnsweep.compare_options import DEFAULT_METRIC
from cnnsweep.exitcodes import ExitCode
from cnnsweep.runfolder import ENDED_WITH_RESULT, Status
from cnnsweep.runlock import Holder, running_elsewhere

if TYPE_CHECKING:
    import pandas as pd

# pandas and the results reader are imported where the end of a sweep needs them: a single run
# starts without them.


def sweep_table(runs: pd.DataFrame, metric: str = DEFAULT_METRIC) -> str:
    """A plain-text table of the runs, best by `metric` first: run, status, metric, seconds."""
    import pandas as pd

    from cnnsweep.results import is_higher_better

    ranked = runs.sort_values([metric, "run"], ascending=[not is_higher_better(metric), True],
                              na_position="last")
    short, common = shortened(list(ranked["run"]))
    table = pd.DataFrame({
        "run": ranked["run"].map(short),
        "status": ranked["status"].astype(str).map(
            lambda s: RUN_IN_NOTE.sub(lambda m: short.get(m.group(0), m.group(0)), s)),
        metric: ranked[metric].map(lambda v: "" if pd.isna(v) else f"{v:.4f}"),
        "seconds": ranked["wall_seconds"].fillna(0).map(lambda v: f"{v:.1f}"),
    })
    widths = {c: max(len(c), *table[c].str.len()) for c in table.columns}
    rows = [dict(zip(table.columns, table.columns, strict=True)), *table.to_dict("records")]
    lines = ["  ".join(str(row[c]).ljust(w) for c, w in widths.items()).rstrip()
             for row in rows]
    if common:  # said once instead of in every row
        lines.append(f"(every run also has {','.join(common)})")
    return "\n".join(lines)


# Where one override ends and the next starts in a run name: a comma before `key=` (a value's
# own commas, as in `[1,2]`, are not followed by one).
OVERRIDE_START = re.compile(r",(?=[+~]?[\w./@-]+=)")
RUN_IN_NOTE = re.compile(r"(?<= of )[^\s()]+")  # "continued from epoch 3 of <run>"


def shortened(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """Each run name without the overrides every run shares, and those overrides (in the
    first name's order): the table shows what differs."""
    parts = {name: OVERRIDE_START.split(name) for name in names}
    if len(parts) < 2:
        return {name: name for name in names}, []
    common = set.intersection(*(set(p) for p in parts.values()))
    short = {name: ",".join(p for p in ps if p not in common) or name
             for name, ps in parts.items()}
    return short, [p for p in parts[names[0]] if p in common]


def finish(sweep_dir: Path, metric: str = DEFAULT_METRIC, compare: bool = True,
           expected: list[str] | int | None = None) -> int:
    """The end of a multirun: the table, the report, what is missing; the exit code."""
    names = {run_dir.name for run_dir in runfolder.started_runs(sweep_dir)}
    lost = sorted(set(expected) - names) if isinstance(expected, list) else []
    if isinstance(expected, int) and len(names) < expected:
        lost = [f"{expected - len(names)} of {expected} trials"]
    if not names:
        print(f"no run folder arrived in {sweep_dir}", file=sys.stderr, flush=True)
        return _lost(lost, sweep_dir) or ExitCode.FAILED
    from cnnsweep.results import gather

    holders = _held_elsewhere(sweep_dir)  # before the summaries are read: see running_elsewhere
    results = gather([sweep_dir])
    runs = results.runs
    unfinished = runs["status"] == Status.UNFINISHED
    elsewhere = runs.loc[unfinished, "run"].map(holders).dropna()
    shown = runs.copy()
    shown.loc[elsewhere.index, "status"] = [f"{Status.RUNNING_ELSEWHERE} ({h})" for h in elsewhere]
    notes = runs["path"].map(lambda path: runfolder.continuation_note(
        runfolder.read_summary(Path(path))))
    continued = notes != ""
    shown.loc[continued, "status"] = shown.loc[continued, "status"] + " (" + \
        notes[continued] + ")"
    if metric not in shown:
        metric = DEFAULT_METRIC
    print(f"\n{sweep_table(shown, metric)}\n\nsweep folder: {sweep_dir}", flush=True)
    finished = runs["status"].isin(ENDED_WITH_RESULT)
    report_failed = claims_failed = False
    if compare and not finished.any():
        print("no report: no run finished", file=sys.stderr, flush=True)
        _print_errors(runs)
    elif compare:
        try:
            from cnnsweep.report import compare as write_report

            report = write_report([sweep_dir], results=results)
            print(f"report: {report}", flush=True)
            claims_failed = claims_do_not_hold(report.parent)
        except Exception as exc:  # a report problem must not hide the runs' results
            report_failed = True
            print(f"no report: the comparison failed: {type(exc).__name__}: {exc}. The runs "
                  f"are kept; compare them again with: cnnsweep compare {sweep_dir}",
                  file=sys.stderr, flush=True)
    diverged = runs.loc[runs["status"] == Status.DIVERGED, "run"].tolist()
    failed = runs.loc[~runs["status"].isin(ENDED_WITH_RESULT) &
                      ~runs.index.isin(elsewhere.index), "run"].tolist()
    if diverged:
        print(f"{len(diverged)} run(s) diverged (loss NaN/inf; history kept): "
              f"{', '.join(diverged)}", flush=True)
    code = _lost(lost, sweep_dir)
    if failed:
        print(f"{len(failed)} run(s) failed or did not finish: {', '.join(failed)}",
              file=sys.stderr, flush=True)
        code = ExitCode.FAILED
    if code:
        return code
    if report_failed:
        return ExitCode.FAILED
    if claims_failed:
        return ExitCode.CLAIMS_FAILED
    if len(elsewhere):
        print(f"{len(elsewhere)} run(s) are being trained by another launch; run the same "
              "command again once it has finished to compare them all",
              file=sys.stderr, flush=True)
        return ExitCode.RUNNING_ELSEWHERE
    return ExitCode.OK


def _print_errors(runs: pd.DataFrame, shown: int = 10) -> None:
    """Each failed run's error, one line each (the table has no room for them)."""
    failed = runs[runs["status"] == Status.FAILED]
    errors = failed["error"].fillna("").astype(str) if "error" in failed else [""] * len(failed)
    for run, error in list(zip(failed["run"], errors, strict=True))[:shown]:
        first = error.strip().splitlines()[0] if error.strip() else "(no message)"
        print(f"  {run}: {first}", file=sys.stderr, flush=True)
    if len(failed) > shown:
        print(f"  … and {len(failed) - shown} more (each run's summary.json has its error and "
              "traceback)", file=sys.stderr, flush=True)


def _held_elsewhere(sweep_dir: Path) -> dict[str, Holder]:
    """Who trains each started run that has no result yet, by run folder name."""
    holders = {}
    for run_dir in runfolder.started_runs(sweep_dir):
        if runfolder.status_of(runfolder.read_summary(run_dir)) == Status.UNFINISHED:
            holder = running_elsewhere(run_dir)
            if holder is not None:
                holders[run_dir.name] = holder
    return holders


def _lost(lost: list[str], sweep_dir: Path) -> int:
    if not lost:
        return 0
    print(f"{len(lost)} run(s) were launched but never arrived in {sweep_dir}: "
          f"{', '.join(lost[:10])}{' …' if len(lost) > 10 else ''}. A worker wrote them "
          "elsewhere or died before starting: hydra.sweep.dir must be on a filesystem every "
          "worker sees", file=sys.stderr, flush=True)
    return ExitCode.FAILED
