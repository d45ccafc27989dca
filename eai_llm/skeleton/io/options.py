"""Reader options: the caller's arguments checked and resolved once, and the file's bytes read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ClipFormatError, ClipLimitError, ClipValueError, LayoutError
from ..layouts import Layout, get_layout
from .confidence import DEFAULT_MIN_CONFIDENCE
from .limits import DEFAULT_GAP_FRAMES, DEFAULT_MAX_MEMORY, check_fps
from .units import _UNIT_ALIASES, UNIT_SCALES


@dataclass
class _Options:
    source: str
    layout: Layout | None
    units: str | None
    fps: float | None
    gap: int
    max_bytes: int
    max_frames: int
    max_memory: int = DEFAULT_MAX_MEMORY
    min_confidence: float = DEFAULT_MIN_CONFIDENCE


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.is_dir():
        raise ClipFormatError(path, None, "is a directory, expected a clip file")
    if not path.is_file():  # a FIFO or device (/dev/zero) would never end
        raise ClipFormatError(path, None, "is not a regular file, expected a clip file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ClipLimitError(path, "size", f"{size} bytes, the limit is {max_bytes} (pass max_bytes= to raise it)")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # bounded even if the file grows while it is read
    except OSError as err:
        raise ClipFormatError(path, None, f"cannot read the file ({err.strerror or err})") from None
    if len(data) > max_bytes:
        raise ClipLimitError(path, "size", f"{len(data)} bytes, the limit is {max_bytes}")
    if not data.strip():
        raise ClipFormatError(path, None, "empty file, expected a BVH, NPZ, NPY or CSV clip")
    return data


def _resolve_layout(layout: str | Layout | None, source: str) -> Layout | None:
    if layout is None or isinstance(layout, Layout):
        return layout
    try:
        return get_layout(layout)
    except LayoutError as err:
        raise LayoutError(source, "layout argument", f"{err.source}: {err.reason}") from None


def _resolve_units(units: str | None, source: str) -> str | None:
    if units is None:
        return None
    key = str(units).strip().lower()
    if key not in _UNIT_ALIASES:
        raise ClipValueError(source, "units argument",
                             f"unknown units {units!r}, expected one of {sorted(UNIT_SCALES)}")
    return _UNIT_ALIASES[key]


def _resolve_fps(fps: float | None, source: str) -> float | None:
    if fps is None:
        return None
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = float("nan")
    return check_fps(value, source, "fps argument")


def _resolve_gap(gap: int | bool, source: str) -> int:
    if gap is True:
        return DEFAULT_GAP_FRAMES
    if gap is False or gap is None:
        return 0
    try:
        value = int(gap)
    except (TypeError, ValueError):
        value = -1
    if value < 0 or value != gap:
        raise ClipValueError(source, "interpolate_gaps argument",
                             f"expected a whole number of frames >= 0, got {gap!r}")
    return value
