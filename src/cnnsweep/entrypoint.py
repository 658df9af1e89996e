"""The command a user typed to start cnnsweep (`cnnsweep run`, `python -m cnnsweep`, `python
run.py`), so that the commands cnnsweep prints for a sweep (resume it, add seeds to it) start the
way it was started: with the same program, config folder and launcher.

The launching process records its command line in the sweep folder (`SWEEP_COMMAND`); a
comparison made later reads it from there. Neither Hydra nor pandas is imported here.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from cnnsweep.atomic import atomic_write_text

SWEEP_COMMAND = ".cnnsweep-command.json"  # {"argv": [program, *arguments]} in a sweep folder
DEFAULT_PROGRAM = "python run.py"  # sweep folders from before the command was recorded
# Hydra's options that take a value and choose where the configs are: kept by add-seeds.
CONFIG_OPTIONS = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn")
SWEEP_DIR = "hydra.sweep.dir="


def program(argv0: str) -> str:
    """The program as a user types it again: `run.py` → `python run.py`; `cnnsweep run` and
    `python -m cnnsweep` (what `app.run` is told) stay as they are."""
    return f"python {shlex.quote(argv0)}" if argv0.endswith(".py") else argv0


def shown_program(argv0: str) -> str:
    """The program as help and usage lines name it: `python run.py` for the checkout's script,
    wherever it lies."""
    return program(Path(argv0).name)


def record(sweep_dir: Path, argv: Sequence[str]) -> None:
    """Write the launching command line into the sweep folder (the latest launch wins)."""
    atomic_write_text(Path(sweep_dir) / SWEEP_COMMAND, json.dumps({"argv": list(argv)}) + "\n")


def recorded(sweep_dir: str | Path) -> list[str] | None:
    """The command line recorded in `sweep_dir`, or None (none recorded, or unreadable)."""
    try:
        argv = json.loads((Path(sweep_dir) / SWEEP_COMMAND).read_text())["argv"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(a) for a in argv] if isinstance(argv, list) and argv else None


def launch_options(arguments: Sequence[str]) -> list[str]:
    """What of a command line is not a run's own settings: the config folder and name, and
    Hydra's overrides (the launcher and its settings), less `hydra.sweep.dir`."""
    kept: list[str] = []
    words = iter(arguments)
    for word in words:
        option = word.split("=", 1)[0]
        if option in CONFIG_OPTIONS:
            kept.append(word)
            if "=" not in word:
                kept.append(next(words, ""))
        elif word.lstrip("+~").startswith(("hydra.", "hydra/")) and \
                not word.startswith(SWEEP_DIR):
            kept.append(word)
    return kept


def sweep_command(sweep_dir: str | Path, overrides: Sequence[str]) -> str:
    """A multirun of `overrides` into `sweep_dir`, started as the sweep in it was started."""
    argv = recorded(sweep_dir)
    start = program(argv[0]) if argv else DEFAULT_PROGRAM
    words = [*(launch_options(argv[1:]) if argv else []), "-m", *overrides,
             f"{SWEEP_DIR}{sweep_dir}"]
    return " ".join([start, *map(shlex.quote, words)])
