"""Hydra's errors, as cnnsweep's users should read them: one line that names the bad override
and the fix, instead of Hydra's generic advice or a traceback."""

from __future__ import annotations

import re

from cnnsweep.launch.hydra_internals import override_being_applied


def explain(exc: BaseException) -> str | None:
    """The lines to print for an error Hydra raised while composing a config, or None when it
    is not one (a launcher's failure, a bug: the caller decides)."""
    from hydra.errors import CompactHydraException

    if isinstance(exc, CompactHydraException):
        unknown = _unknown_override(exc)
        if unknown is not None:
            return unknown
        lines = [str(exc)]
        if exc.__cause__ is not None and "omegaconf" in type(exc.__cause__).__module__:
            lines.append(str(exc.__cause__))
        extra = next((e for key, e in EXTRAS.items() if key in str(exc)), None)
        if extra is not None:
            lines.append(f"That config comes with an optional extra: pip install "
                         f"'cnnsweep[{extra}]' (in a checkout: pip install -e '.[{extra}]')")
        return "\n".join(lines)
    override = override_being_applied(exc)
    return None if override is None else _override_error(override, exc)


# Launcher and sweeper plugins live in optional extras; a missing one names its extra.
EXTRAS = {"hydra/launcher/ray": "ray", "hydra/launcher/submitit": "slurm",
          "hydra/launcher/slurm": "slurm", "hydra/sweeper/optuna": "optuna-sweeper"}


def _override_error(override: str, exc: BaseException) -> str:
    from cnnsweep.build import options_having

    key = override.lstrip("+~").split("=", 1)[0]
    parent = key.rsplit(".", 1)[0]
    if "." not in key or "NoneType" not in str(exc):
        return f"Could not apply the override '{override}': {type(exc).__name__}: {exc}"
    group, having = options_having(key)
    fix = f"select {group}={' or '.join(having)}, or leave it out" if having else "leave it out"
    return (f"Could not apply the override '{override}': {parent} is null in this config, "
            f"because the selected options have no {parent} settings; {fix}")


def _unknown_override(exc: BaseException) -> str | None:
    """For Hydra's "Could not override 'trainer.epoch'" (a key the schema lacks), the same hint
    as a `+` override gets from `build.check_keys`, instead of Hydra's advice to append it."""
    match = re.match(r"Could not override '([^']+)'", str(exc))
    unknown_key = ("ConfigKeyError", "ConfigAttributeError")
    if match is None or type(exc.__cause__).__name__ not in unknown_key:
        return None
    from cnnsweep.build import every_key, unknown_key_message

    key = match.group(1)
    if key.startswith("hydra."):
        return f"Could not override '{key}': {_hydra_key_message(key)}"
    return f"Could not override '{key}': {unknown_key_message(key, every_key())}"


def _hydra_key_message(key: str) -> str:
    """A key under hydra.* that the selected sweeper or launcher lacks: the closest key of the
    halving sweeper (its keys are ours), or where Hydra's keys are listed."""
    import dataclasses

    from cnnsweep.compare_options import closest_name
    from cnnsweep.launch.search import SearchSettings

    node = key.rsplit(".", 1)[0]
    sweeper = {f"hydra.sweeper.{f.name}" for f in dataclasses.fields(SearchSettings)}
    if key in sweeper:
        return (f"{key} is a setting of the halving sweeper, not of the one selected; add "
                "hydra/sweeper=halving")
    close = closest_name(key, sweeper) if node == "hydra.sweeper" else None
    hint = f"did you mean {close}?" if close else \
        f"{node} has no such key (python run.py --cfg hydra lists Hydra's keys)"
    return f"{key} is not a config key: {hint}"
