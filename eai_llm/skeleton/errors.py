"""Errors a user can hit when reading clips or layouts.

Every error is one line: ``<file>: <place>: <what was wrong / expected>``. The CLI prints
``str(err)`` and exits non-zero without a traceback.
"""

from __future__ import annotations

from os import PathLike


class ClipError(ValueError):
    """A clip (or layout) file could not be read or failed validation.

    ``source`` is the file (or ``"<array>"`` for in-memory data), ``place`` the line/field/column
    where the problem is, ``reason`` what was wrong and what was expected.
    """

    def __init__(self, source: str | PathLike | None, place: str | None, reason: str):
        self.source = str(source) if source is not None else "<array>"
        self.place = place
        self.reason = " ".join(str(reason).split())  # always one line
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.source]
        if self.place:
            parts.append(str(self.place))
        parts.append(self.reason)
        return ": ".join(parts)

    def __str__(self) -> str:
        return self.message


class ClipFormatError(ClipError):
    """The file's syntax is wrong: truncated, non-numeric values, wrong channel counts, ..."""


class ClipValueError(ClipError):
    """The numbers are readable but invalid: NaN/inf, zero frames, mismatched joint counts, ..."""


class ClipLimitError(ClipError):
    """The file is beyond a limit: bytes, frames, joints, frame rate, duration or estimated memory."""


class ClipWriteError(ClipError):
    """A clip could not be written: the output path is a folder, its folder is missing, the disk is full, ...

    ``source`` is always the user's output path, never an internal temporary file.
    """


class LayoutError(ClipError):
    """An unknown layout, or a layout definition that is not a valid skeleton tree."""
