"""The Hydra application: `cnnsweep run [overrides]` and `python -m cnnsweep [overrides]` (the
repository's run.py is the same application on the checkout's conf/).

The shipped configs are cnnsweep/conf inside an installed package (the wheel carries conf/ and
sweeps/ there); an editable install or a checkout uses its own conf/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from cnnsweep.entrypoint import shown_program
from cnnsweep.experiment import main as run_experiment
from cnnsweep.help import help_text
from cnnsweep.interrupts import mark_launching_process
from cnnsweep.launch import state
from cnnsweep.launch.stopping import guard
from cnnsweep.resolvers import builtin_sweeps_dir
from cnnsweep.schema import register_configs


def config_dir() -> Path:
    """The folder of config.yaml and the config groups (the group `sweep` among them)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"cnnsweep's configs are missing: neither {here / 'conf'} (an "
                            "installed package) nor the checkout's conf/ exist; reinstall")


def run(argv: list[str], program: str = "cnnsweep run",
        config_path: Path | None = None) -> int:
    """Run the Hydra application on `argv` (overrides, -m, --cfg, --config-dir, …)."""
    config_path = config_path or config_dir()
    if "--help" in argv or "-h" in argv:
        print(help_text(shown_program(program), config_path, builtin_sweeps_dir() / "sweep"))
        return 0
    register_configs()

    def task(cfg: DictConfig) -> float:
        return run_experiment(cfg)

    app = hydra.main(version_base="1.3", config_path=str(config_path),
                     config_name="config")(task)
    launch = state.begin([program, *argv])
    mark_launching_process()  # its jobs, in worker processes, tell themselves apart by it
    sys.argv = [program, *argv]  # Hydra reads its command line from sys.argv
    return guard(app, launch)
