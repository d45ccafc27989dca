"""Text helpers shared by the BVH and CSV readers: decoding, one vectorised numeric parse, tokens."""

from __future__ import annotations

import io as _io
import re
import warnings
from typing import Callable

import numpy as np

from ..errors import ClipFormatError


def _decode_text(data: bytes, source: str) -> str:
    if b"\x00" in data:
        raise ClipFormatError(source, None, "binary data (NUL bytes), expected a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _round_fps(fps: float) -> float:
    """1/0.0333333 -> 30.0: snap a frame rate to the nearest integer when within 0.02 %."""
    nearest = round(fps)
    return float(nearest) if nearest > 0 and abs(fps - nearest) <= 2e-4 * fps else float(fps)


def _show(tok: str) -> str:
    return repr(tok if len(tok) <= 24 else tok[:24] + "...")


_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE)

def _parse_numeric_rows(text: str, ncols: int, first_line: int, source: str,
                        column_name: Callable[[int], str], expected_rows: int | None = None,
                        rows_what: str = "rows") -> tuple[np.ndarray, np.ndarray]:
    """Parse whitespace-separated numbers, one row per non-empty line, ``ncols`` per row.

    Returns ``(values (rows, ncols) float64, file line number of each row)``. The whole block is
    parsed by one call of numpy's C text parser; only when that fails (or the shape is wrong) are the
    lines walked one by one to name the line and column of the first problem.
    """
    lines = text.split("\n")
    row_lines = np.array([i for i, line in enumerate(lines) if not line.isspace() and line], dtype=np.int64)
    row_lines += first_line
    values = None
    if row_lines.size:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = np.loadtxt(_io.StringIO(text), dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            values = None
    else:
        values = np.zeros((0, ncols))
    ok = values is not None and values.shape == (row_lines.size, ncols)
    if ok and (expected_rows is None or row_lines.size == expected_rows):
        return values, row_lines
    _raise_row_error(lines, row_lines - first_line, ncols, first_line, source, column_name, expected_rows, rows_what)
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_row_error(lines: list[str], rows: np.ndarray, ncols: int, first_line: int, source: str,
                     column_name: Callable[[int], str], expected_rows: int | None, rows_what: str) -> None:
    """Name the first row with the wrong number of values, a wrong row count, or a non-number."""
    nrows = int(rows.size)
    short = expected_rows is not None and nrows < expected_rows
    tokens = [lines[r].split() for r in rows]
    for r, toks in zip(rows, tokens):
        if len(toks) != ncols:
            extra = f"; only {nrows} of the {expected_rows} {rows_what} are present (file truncated?)" if short else ""
            raise ClipFormatError(source, f"line {int(r) + first_line}",
                                  f"expected {ncols} values per row, got {len(toks)}{extra}")
    if expected_rows is not None and nrows != expected_rows:
        place = f"line {int(rows[-1]) + first_line}" if nrows else f"line {first_line}"
        if short:
            raise ClipFormatError(source, place, f"truncated: expected {expected_rows} {rows_what}, found {nrows} rows")
        raise ClipFormatError(source, place, f"expected {expected_rows} {rows_what}, found {nrows} rows")
    for r, toks in zip(rows, tokens):
        for col, tok in enumerate(toks):
            if not _NUMBER.fullmatch(tok):
                shown = tok if len(tok) <= 20 else tok[:20] + "..."
                raise ClipFormatError(source, f"line {int(r) + first_line}, {column_name(col)}",
                                      f"{shown!r} is not a number")
    last = int(rows[-1]) + first_line if nrows else first_line
    raise ClipFormatError(source, f"lines {first_line}..{last}",
                          f"could not parse the numbers ({ncols} per row expected)")
