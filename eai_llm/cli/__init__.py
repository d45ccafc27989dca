"""`eai-llm`: one command line, subcommands are typed functions (one module per group of verbs).

Each subcommand is a plain function whose signature defines its arguments (see :mod:`._parser`).
``main(argv)`` is callable from tests and returns the exit code:

- 0: done;
- 2: an error the user can fix (a bad file, a bad argument, a bad recipe): one line ``error: ...`` naming the
  file and what was wrong, no traceback;
- 1: anything else (a bug, out of memory, ...): one line ``internal error: ...`` with the hint that
  ``EAI_LLM_DEBUG=1`` shows the traceback;
- 130: interrupted.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Sequence

# importing the groups registers their subcommands, in this order in --help
from . import clips, training, interpret, evaluation, demo, serve  # noqa: F401, I001
from ._common import COMMANDS, UserError, command
from ._parser import build_subcommand

__all__ = ["main", "build_parser", "COMMANDS", "UserError", "command"]

#: OSErrors that a user's path causes (a missing file, a folder where a file belongs, no permission, a full disk).
USER_ERRNOS = {errno.ENOENT: "file not found", errno.EISDIR: "is a directory", errno.ENOTDIR: "not a directory",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.ENOSPC: "no space left",
               errno.EEXIST: "already exists", errno.ENAMETOOLONG: "name too long", errno.EROFS: "read-only"}


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too (``--help`` shows the usage)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="eai-llm", description="Explainable body-movement emotion interpreter.")
    parser.add_argument("--version", action="version", version=f"eai-llm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, fn in COMMANDS.items():
        build_subcommand(sub, name, fn)
    return parser


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def user_message(err: BaseException) -> str | None:
    """The one-line message of an error the user caused, or None for an internal one."""
    from ..skeleton.errors import ClipError

    if isinstance(err, (ClipError, UserError, ValueError)):
        return _one_line(err)
    if isinstance(err, OSError) and err.errno in USER_ERRNOS and err.filename:
        return f"{err.filename}: {USER_ERRNOS[err.errno]}"
    if isinstance(err, FileNotFoundError):   # raised with a message naming the file (no errno)
        return _one_line(err)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = vars(parser.parse_args(argv))
    except SystemExit as done:   # --help, --version, a usage error (already printed in one line)
        return int(done.code or 0) if not isinstance(done.code, str) else 2
    fn = COMMANDS[args.pop("command")]
    try:
        return int(fn(**args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - every failure is one line; EAI_LLM_DEBUG=1 shows the traceback
        if os.environ.get("EAI_LLM_DEBUG"):
            raise
        message = user_message(err)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            return 2
        text = "out of memory" if isinstance(err, MemoryError) else (_one_line(err) or "(no message)")
        print(f"internal error: {type(err).__name__}: {text} (run with EAI_LLM_DEBUG=1 to see the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
