"""What the launching process knows of the multirun in progress, as one object: the application
makes it (`app.run`) and passes it to the guard around Hydra; the callback Hydra makes from the
config finds it with `current()`, the one link between the two, and passes it on to the end of
the sweep. Nothing else reads it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cnnsweep.compare_options import DEFAULT_METRIC


@dataclass
class Launch:
    argv: list[str]  # the command as the user typed it: program, then its arguments
    sweep_dir: Path | None = None  # set while a multirun is under way (the callback)
    compare: bool = False
    metric: str = DEFAULT_METRIC
    expected: list[str] | int | None = None  # the run folders it launches (preflight)
    on_stop: list[Callable[[], object]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop what runs beside the sweep (the progress line) before the end is printed."""
        for stop in self.on_stop:
            stop()
        self.on_stop.clear()


_LAUNCHES: list[Launch] = []


def begin(argv: list[str]) -> Launch:
    """The launch of this command line (the application calls it once per command)."""
    _LAUNCHES[:] = [Launch(list(argv))]
    return _LAUNCHES[0]


def current() -> Launch:
    """The launch the application began; one of its own when Hydra runs cnnsweep's config
    without the application (a test composing it, say)."""
    if not _LAUNCHES:
        import sys

        begin(list(sys.argv))
    return _LAUNCHES[0]
