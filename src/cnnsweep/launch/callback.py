"""The Hydra callback around a single run and a multirun: a thin adapter from Hydra's hooks to
the launch package.

Before a multirun (`preflight`): the sweep folder made absolute (every job's folder lands where
the user looks, whatever a worker's working directory), checked writable, the launcher and the
`compare.*` settings checked, the command line recorded, the progress line started. After it
(`finish`): the table, the report, the exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cnnsweep import entrypoint
from cnnsweep.compare_options import DEFAULT_METRIC
from cnnsweep.launch import preflight
from cnnsweep.launch.finish import finish
from cnnsweep.launch.progress import SweepProgress
from cnnsweep.launch.state import current


class CompareOnMultirunEnd(Callback):
    # Holds no state: Hydra pickles its callbacks along with every job (the launch's state,
    # with its progress thread, stays in this process: `state.current()`).

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        preflight.check_output_folder(Path(config.hydra.run.dir).absolute(), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launch = current()
        sweep_dir = Path(config.hydra.sweep.dir).absolute()
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.sweep.dir = str(sweep_dir)
            # Each job's config is composed again from these overrides (in the worker, under
            # Ray): the folder travels with them, quoted for Hydra's override grammar.
            quoted = str(sweep_dir).replace("\\", "\\\\").replace("'", "\\'")
            config.hydra.overrides.hydra.append(f"hydra.sweep.dir='{quoted}'")
        preflight.check_output_folder(sweep_dir, "hydra.sweep.dir")
        entrypoint.record(sweep_dir, launch.argv)  # later commands for it start the same way
        preflight.check_launcher(OmegaConf.to_container(config.hydra.launcher, resolve=True))
        launch.compare = bool(OmegaConf.select(config, "compare.enabled", default=True))
        if launch.compare:
            preflight.check_compare(config)
        sweeper = OmegaConf.to_container(config.hydra.sweeper, resolve=False)
        launch.expected = preflight.expected_runs(sweeper, list(config.hydra.overrides.task))
        launch.sweep_dir = sweep_dir
        launch.metric = OmegaConf.select(config, "compare.metric", default=DEFAULT_METRIC)
        if str(sweeper.get("_target_", "")).endswith("HalvingSweeper"):
            launch.metric = str(sweeper.get("metric") or launch.metric)  # what chooses
        progress = SweepProgress(sweep_dir, launch.expected, metric=launch.metric).start()
        launch.on_stop.append(progress.stop)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        launch = current()
        launch.stop()
        code = finish(Path(config.hydra.sweep.dir), launch.metric, launch.compare,
                      launch.expected)
        launch.sweep_dir = None  # ended: an exception from here on is not the launcher's
        if code:
            sys.exit(code)
