"""Registration by definition: a subclass that names itself is selectable by that name."""

from __future__ import annotations

from typing import ClassVar


class Registered:
    """A base class whose subclasses with a `name` register themselves in its `registry`.

    The base sets `registry` (a dict) in its own body; `class Adam(Optimizer): name = "adam"`
    is then all it takes for `OPTIMIZERS["adam"]` to exist.
    """

    registry: ClassVar[dict[str, type]]
    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and "registry" not in cls.__dict__:
            cls.registry[cls.name] = cls
