"""argparse from typed function signatures: each subcommand is a plain function.

Parameters without a default are positional; keyword-only parameters without a default are required
options; the rest become ``--options`` (``bool`` -> a flag, ``a_b`` -> ``--a-b``, ``list`` -> repeatable,
``Literal[...]`` -> choices). Each parameter's help is its whole entry in the docstring (continuation lines
included), with the default and the allowed values appended.
"""

from __future__ import annotations

import argparse
import inspect
import typing
from typing import Callable, Literal

__all__ = ["build_subcommand", "param_help"]


def param_help(doc: str) -> dict[str, str]:
    """``name: text`` entries of a docstring; indented lines that follow continue the entry."""
    out: dict[str, str] = {}
    current = None
    for raw in doc.splitlines():
        line = raw.strip()
        head = line.split(":", 1)[0] if ":" in line else ""
        if head.isidentifier() and not raw[:1].isspace():
            current = head
            out[current] = line.split(":", 1)[1].strip()
        elif current and line:
            out[current] = f"{out[current]} {line}"
        else:
            current = None
    return out


def _resolve(annotation: object) -> object:
    if isinstance(annotation, str):  # postponed annotations
        annotation = eval(annotation, {**vars(typing), "Literal": Literal}, {})
    return annotation


def _base_type(annotation: object) -> tuple[type, tuple | None]:
    """(argparse type, choices) of an annotation: ``X | None`` -> X; ``Literal[...]`` -> its values."""
    annotation = _resolve(annotation)
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        return type(values[0]), values
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and typing.get_origin(annotation) is not list:
        return _base_type(args[0])
    return annotation, None  # type: ignore[return-value]


def _with_default(hint: str, default: object, choices: tuple | None, required: bool = False) -> str:
    parts = ["(required)"] if required else []
    parts.append(hint.rstrip())
    if choices:
        parts.append(f"One of: {', '.join(map(str, choices))}.")
    if default not in (None, False, inspect.Parameter.empty, []):
        parts.append(f"Default: {default}.")
    return " ".join(p for p in parts if p).replace("%", "%%")


def build_subcommand(sub: argparse._SubParsersAction, name: str, fn: Callable) -> argparse.ArgumentParser:
    doc = inspect.getdoc(fn) or ""
    summary = " ".join(doc.split("\n\n")[0].split())
    helps = param_help(doc)
    p = sub.add_parser(name, help=summary, description=summary)
    for param in inspect.signature(fn).parameters.values():
        typ, choices = _base_type(param.annotation)
        required = param.default is inspect.Parameter.empty and param.kind is inspect.Parameter.KEYWORD_ONLY
        hint = _with_default(helps.get(param.name, ""), param.default, choices, required)
        if param.default is inspect.Parameter.empty and param.kind is not inspect.Parameter.KEYWORD_ONLY:
            nargs = "+" if typ is list or typing.get_origin(typ) is list else None
            p.add_argument(param.name, type=str if nargs else typ, nargs=nargs, help=hint,
                           metavar=param.name.upper())
            continue
        flag = "--json" if param.name == "json_output" else "--" + param.name.replace("_", "-")
        default = None if required else param.default
        if typ is bool:
            p.add_argument(flag, dest=param.name, action="store_true", default=default, help=hint)
        elif typ is list or typing.get_origin(typ) is list:
            p.add_argument(flag, dest=param.name, action="extend", nargs="+", default=default, help=hint,
                           required=required)
        else:
            p.add_argument(flag, dest=param.name, type=typ, default=default, help=hint, choices=choices,
                           required=required)
    return p
