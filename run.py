"""cnnsweep's entry point: `python run.py [overrides]`, or `python run.py -m` to sweep."""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from cnnsweep.experiment import main as run_experiment
from cnnsweep.interrupts import guard
from cnnsweep.schema import register_configs, register_sweeps

register_configs()
register_sweeps(Path(__file__).resolve().parent / "sweeps")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    return run_experiment(cfg)


if __name__ == "__main__":
    sys.exit(guard(main))  # Ctrl-C and SIGTERM end cleanly, with the command that resumes
