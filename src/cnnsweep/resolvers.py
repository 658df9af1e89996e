"""The interpolations conf/config.yaml uses, registered with OmegaConf before Hydra composes:

    ${cnnsweep_run_name:...}  a run folder's name from its overrides   (runfolder.run_name)
    ${cnnsweep_builtin:}      the search path of the built-in sweeps    (builtin_sweeps_dir)

Both the launching process and every worker register them (a worker composes again).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from cnnsweep.runfolder import run_name


def builtin_sweeps_dir() -> Path:
    """cnnsweep/builtin: it holds the config group `sweep` (the repository's sweeps/, shipped
    inside the package), so that `+sweep=<name>` works from any folder."""
    return Path(__file__).resolve().parent / "builtin"


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("cnnsweep_run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("cnnsweep_builtin",
                                    lambda: f"file://{builtin_sweeps_dir()}", replace=True)
