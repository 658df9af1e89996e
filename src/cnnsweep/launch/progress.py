"""Live progress of a whole sweep, read from its run folders: runs done / total, running, failed,
diverged, elapsed and time left (tqdm) on a terminal; elsewhere (CI, a log file) one plain line
per finished run. Reading folders, it works under any launcher whose runs write where this
process can see them."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from cnnsweep import runfolder
from cnnsweep.compare_options import DEFAULT_METRIC
from cnnsweep.runfolder import ENDED_WITH_RESULT, Status


class SweepProgress:
    """The progress of one launch into a sweep folder. `expected`: the run folders this launch
    will train (a list: a resume or an added-seeds launch counts only those), their number, or
    None. Runs finished before the launch count as done when it would skip them (status ok);
    any other (interrupted, failed) is trained again and counts, with its line, when its new
    summary arrives."""

    def __init__(self, sweep_dir: Path, expected: list[str] | int | None,
                 stream: TextIO = sys.stderr, interval: float = 1.0,
                 metric: str = DEFAULT_METRIC) -> None:
        self.sweep_dir, self.stream = Path(sweep_dir), stream
        self.names = set(expected) if isinstance(expected, list) else None
        self.total = len(expected) if isinstance(expected, list) else expected
        self.interval, self.metric = interval, metric
        # This launch's runs that have their summary.
        self.finished: dict[str, runfolder.Summary] = {}
        self.before: dict[str, tuple] | None = None  # summaries found at the start, by stamp
        self.in_folder = 0
        self.started = time.monotonic()
        self._last = self.counts(0)
        self.bar: tqdm | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cnnsweep-progress", daemon=True)

    def start(self) -> SweepProgress:
        self.poll()  # runs finished before this launch (a resume) count from the start
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling; a last look at the folders; the final counts."""
        if not self._stop.is_set():
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(timeout=5)
            self.poll()
            if self.bar is not None:
                self.bar.close()
            else:
                print(self.line(), file=self.stream, flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def counts(self, running: int) -> dict[str, int]:
        statuses = [runfolder.status_of(s) for s in self.finished.values()]
        return {"done": sum(s in ENDED_WITH_RESULT for s in statuses), "running": running,
                "failed": sum(s == Status.FAILED for s in statuses),
                "diverged": sum(s == Status.DIVERGED for s in statuses),
                "interrupted": sum(s == Status.INTERRUPTED for s in statuses)}

    def line(self) -> str:
        c = self._last
        of = f"/{self.total}" if self.total else ""
        elapsed = time.monotonic() - self.started
        mine = len(self.finished) + c["running"]
        folder = f" ({self.in_folder} runs in the folder)" if self.in_folder > max(
            mine, self.total or 0) else ""
        return (f"sweep: {c['done']}{of} runs done, {c['running']} running, {c['failed']} "
                f"failed, {c['diverged']} diverged{folder}, {elapsed:.0f} s")

    def poll(self) -> None:
        started = runfolder.started_runs(self.sweep_dir)
        summaries = {d.name: runfolder.read_summary(d) for d in started}
        first = self.before is None
        if first:  # what was there before this launch
            self.before = {name: _stamp(s) for name, s in summaries.items() if s is not None}
        new, running = [], 0
        for name, summary in summaries.items():
            if self.names is not None and name not in self.names:
                continue
            if summary is None:
                running += 1
            elif name not in self.finished or _stamp(summary) != _stamp(self.finished[name]):
                earlier = self.before.get(name)
                if earlier is None or _stamp(summary) != earlier:  # arrived during the launch
                    self.finished[name] = summary
                    new.append(name)
                elif runfolder.status_of(summary) == Status.OK:  # done before: skipped
                    self.finished[name] = summary
        self.in_folder = len(started)
        self._last = self.counts(running)
        if self.stream.isatty():
            self._draw_bar()
        else:
            for i, name in enumerate(new, start=len(self.finished) - len(new) + 1):
                self._print_finished(name, i)

    def _draw_bar(self) -> None:
        finished = len(self.finished)
        if self.bar is None:
            self.bar = tqdm(total=self.total, initial=finished, desc="sweep", unit="run",
                            file=self.stream, dynamic_ncols=True, leave=True)
        self.bar.update(finished - self.bar.n)
        c = self._last
        self.bar.set_postfix_str(f"running {c['running']}, failed {c['failed']}, diverged "
                                 f"{c['diverged']}", refresh=True)

    def _print_finished(self, name: str, count: int) -> None:
        summary = self.finished[name]
        status = summary.status
        value = summary.metric(self.metric)
        metric = f", {self.metric} {value:.4f}" if isinstance(value, float) else ""
        seconds = summary.wall_seconds
        took = f", {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
        of = f"/{self.total}" if self.total else ""
        note = runfolder.continuation_note(summary)
        note = f", {note}" if note else ""
        print(f"[{count}{of}] {name}: {status}{metric}{took}{note}", file=self.stream,
              flush=True)


def _stamp(summary: runfolder.Summary) -> tuple:
    """What tells one summary of a run folder from the next one written there."""
    return summary.status, summary.finished_at, summary.started_at
