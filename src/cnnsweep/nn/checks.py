"""Argument checks shared by the engine's classes.

Every message starts with `name=value`, so a caller that knows where the value came from can
prefix it: the config layer turns `lr=-0.1 must be a positive number` into
`optimizer.lr=-0.1 must be a positive number`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def require_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value} must be a positive number")
    return value


def require_fraction(name: str, value: float) -> float:
    """A value in [0, 1): a dropout ratio, a momentum, a decay rate."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value} must be in [0, 1)")
    return float(value)


def require_at_least(name: str, value: int | None, least: int, note: str = "") -> None:
    if value is not None and value < least:
        raise ValueError(f"{name}={value} must be at least {least}{note}")


def require_not_negative(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name}={value} must not be negative")


def require_choice(name: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")
