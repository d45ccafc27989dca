"""One strict way to build a config dataclass from a mapping (used by every config and recipe)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], data: Any, source: str) -> T:
    """``cls(**data)``, refusing non-mappings and unknown keys with a one-line error naming ``source``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}, expected some of {sorted(known)}")
    try:
        return cls(**data)
    except TypeError as err:
        raise ValueError(f"{source}: {err}") from None
