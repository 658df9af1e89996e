"""The Hydra callback around a single run and a multirun; the work is in multirun.py.

Before a multirun: the sweep folder made absolute (every job's folder lands where the user
looks, whatever a worker's working directory), checked writable, the launcher checked, the
progress line started. After it: the table, the report, the exit code (multirun.finish)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cnnsweep import entrypoint, multirun
from cnnsweep.compare_options import DEFAULT_METRIC
from cnnsweep.interrupts import CURRENT
from cnnsweep.progress import SweepProgress

# The progress of the multirun in this process. Not an attribute of the callback: Hydra pickles
# its callbacks along with every job, and a thread cannot be pickled.
_PROGRESS: list[SweepProgress] = []


class CompareOnMultirunEnd(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        multirun.check_output_folder(Path(config.hydra.run.dir).absolute(), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir).absolute()
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.sweep.dir = str(sweep_dir)
            # Each job's config is composed again from these overrides (in the worker, under
            # Ray): the folder travels with them, quoted for Hydra's override grammar.
            quoted = str(sweep_dir).replace("\\", "\\\\").replace("'", "\\'")
            config.hydra.overrides.hydra.append(f"hydra.sweep.dir='{quoted}'")
        multirun.check_output_folder(sweep_dir, "hydra.sweep.dir")
        entrypoint.record(sweep_dir, CURRENT.argv)  # later commands for it start the same way
        multirun.check_launcher(OmegaConf.to_container(config.hydra.launcher, resolve=True))
        if OmegaConf.select(config, "compare.enabled", default=True):
            multirun.check_compare(config)
        sweeper = OmegaConf.to_container(config.hydra.sweeper, resolve=False)
        expected = multirun.expected_runs(sweeper, list(config.hydra.overrides.task))
        CURRENT.sweep_dir, CURRENT.expected = sweep_dir, expected
        CURRENT.compare = bool(OmegaConf.select(config, "compare.enabled", default=True))
        CURRENT.metric = OmegaConf.select(config, "compare.metric", default=DEFAULT_METRIC)
        progress = SweepProgress(sweep_dir, expected, metric=CURRENT.metric).start()
        _PROGRESS.append(progress)
        CURRENT.on_stop.append(progress.stop)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        while _PROGRESS:
            _PROGRESS.pop().stop()
        code = multirun.finish(Path(config.hydra.sweep.dir), CURRENT.metric, CURRENT.compare,
                               CURRENT.expected)
        CURRENT.sweep_dir = None  # ended: an exception from here on is not the launcher's
        if code:
            sys.exit(code)
