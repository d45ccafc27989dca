"""One strict way to build a config dataclass from a mapping (used by every config and recipe), with values
checked against the dataclass's field types, and the same check for ``dotted.key=value`` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["dataclass_from_dict", "coerce", "check_overrides", "type_name"]


def type_name(hint: Any) -> str:
    """``int | None`` -> ``"int or None"``, ``list[str]`` -> ``"a list of str"``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is list:
        return f"a list of {type_name(args[0])}" if args else "a list"
    if origin is dict:
        return f"a mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "a mapping"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: leave those fields unchecked
        return {}


def _fail(where: str, hint: Any, value: Any) -> ValueError:
    return ValueError(f"{where}: expected {type_name(hint)}, got {value!r} ({type(value).__name__})")


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against the type ``hint`` (ints pass as floats, numeric strings such as YAML's
    ``1e-3`` become floats, ``3.0`` passes as an int); a one-line ``ValueError`` naming ``where`` otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ValueError:
                pass
        raise _fail(where, hint, value)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, (hint, dict)):
            return value
        raise _fail(where, hint, value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _fail(where, hint, value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _fail(where, hint, value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _fail(where, hint, value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _fail(where, hint, value)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise _fail(where, hint, value)
        return [coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, hint, value)
        return {k: coerce(v, args[1], f"{where}.{k}") for k, v in value.items()} if args else value
    return value


def dataclass_from_dict(cls: type[T], data: Any, source: str) -> T:
    """``cls(**data)``, refusing non-mappings, unknown keys and values of the wrong type with a one-line error
    naming ``source`` and the key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}, expected some of {sorted(known)}")
    hints = _hints(cls)
    data = {k: coerce(v, hints[k], f"{source}: {k}") if k in hints else v for k, v in data.items()}
    try:
        return cls(**data)
    except TypeError as err:
        raise ValueError(f"{source}: {err}") from None


def check_overrides(cls: type, overrides: list[str]) -> None:
    """Check ``dotted.key=value`` overrides (values parsed as YAML) against the field types of the dataclass
    ``cls`` and its nested dataclasses: a one-line ``ValueError`` naming the key, the value and the expected
    type, before anything is read or built."""
    import yaml

    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--override {item!r}: expected key=value, e.g. stage2.max_steps=20")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ValueError(f"--override {key}: {raw!r} is not a valid YAML value") from None
        hint: Any = cls
        parts = key.strip().split(".")
        for i, part in enumerate(parts):
            node = hint
            args = [a for a in typing.get_args(node) if a is not type(None)]
            if typing.get_origin(node) in (typing.Union, types.UnionType) and len(args) == 1:
                node = args[0]
            if dataclasses.is_dataclass(node):
                hints = _hints(node)
                if part not in hints:
                    raise ValueError(f"--override {key}: unknown key {part!r}, expected one of {sorted(hints)}")
                hint = hints[part]
            elif typing.get_origin(node) is dict:
                hint = typing.get_args(node)[1] if typing.get_args(node) else Any
            else:
                raise ValueError(f"--override {key}: {'.'.join(parts[:i])!r} is not a mapping")
        coerce(value, hint, f"--override {key}={raw}")
