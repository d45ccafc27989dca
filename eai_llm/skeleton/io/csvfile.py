"""CSV files: a header of <joint>_x/_y/_z columns (optionally a leading frame/time column), one row per frame."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..clip import SkeletonClip
from ..errors import ClipFormatError, ClipLimitError, ClipValueError, LayoutError
from ..layouts import MAX_JOINTS
from .limits import _DEFAULT_FPS, check_fps, check_shape
from .options import _Options
from .shared import _finish, _layout_by_name_set, _select_joints
from .text import _decode_text, _parse_numeric_rows, _round_fps, _show
from .units import UNIT_SCALES


_TIME_COLUMNS = {"time", "timestamp", "t", "time_s", "times", "seconds", "sec", "time_ms", "timestamp_ms",
                 "time_us", "timestamp_us", "timestamp_s"}

_FRAME_COLUMNS = {"frame", "frames", "frame_index", "frameindex", "frame_no", "frame_id", "index", "#frame"}

_AXIS_COLUMN = re.compile(r"^(.+?)[_.\s:-]([xyzXYZ])$")

def _load_csv(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    text = _decode_text(data, source)
    newlines = text.count("\n")
    if newlines > 2 * opts.max_frames + 1000:  # counted before the text is split into line objects
        raise ClipLimitError(source, None, f"{newlines} lines, the limit is {opts.max_frames} frames")
    lines = text.split("\n")
    header_idx = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_idx is None:  # e.g. only Unicode whitespace ("\x1c"), which bytes.strip() keeps
        raise ClipFormatError(source, None, "only whitespace, expected a header of <joint>_x,<joint>_y,<joint>_z "
                                            "columns and one row per frame")
    header = lines[header_idx]
    delim = max((",", ";", "\t"), key=header.count)
    if header.count(delim) == 0:
        raise ClipFormatError(source, f"line {header_idx + 1}", "expected a header of comma-separated "
                                                                "<joint>_x,<joint>_y,<joint>_z columns")
    if header.count(delim) > 3 * MAX_JOINTS + 8:
        raise ClipLimitError(source, f"line {header_idx + 1}", f"{header.count(delim) + 1} columns, the limit is "
                                                               f"{MAX_JOINTS} joints (x, y, z each)")
    cols = [c.strip().strip('"').strip("'").strip() for c in header.split(delim)]
    lead: list[tuple[int, str]] = []
    while len(lead) < len(cols) and cols[len(lead)].lower() in (_TIME_COLUMNS | _FRAME_COLUMNS):
        name = cols[len(lead)].lower()
        lead.append((len(lead), "time" if name in _TIME_COLUMNS else "frame"))
    joints, axes = _csv_joint_columns(cols, len(lead), source, header_idx + 1)
    rows = sum(1 for line in lines[header_idx + 1:] if line.strip())
    check_shape(source, f"line {header_idx + 2}", rows, len(joints), max_frames=opts.max_frames,
                max_memory=opts.max_memory, values_per_frame=len(cols), text_bytes=len(text))
    body = "\n".join(lines[header_idx + 1:])
    if delim != "\t":
        body = re.sub(rf"(?m)(?<={re.escape(delim)})[ \t]*(?={re.escape(delim)}|$)|^[ \t]*(?={re.escape(delim)})",
                      "nan", body)
        body = body.replace('"', " ").replace(delim, " ")
    else:
        body = re.sub(r"(?m)(?<=\t)(?=\t|$)|^(?=\t)", "nan", body)

    def column_name(c: int) -> str:
        return f"column {c + 1} ({cols[c]!r})" if c < len(cols) else f"column {c + 1}"

    values, row_lines = _parse_numeric_rows(body, len(cols), header_idx + 2, source, column_name)
    if values.shape[0] == 0:
        raise ClipValueError(source, f"line {header_idx + 2}", "zero frames: no data rows after the header")
    layout = opts.layout
    if layout is None:
        layout = _layout_by_name_set(joints)
        if layout is None:
            shown = ", ".join(joints[:10]) + (", ..." if len(joints) > 10 else "")
            raise LayoutError(source, "columns", f"no registered layout has the joints {shown}; pass layout= "
                                                 f"(--layout) or register a layout file")
    else:
        extra = sorted(set(joints) - set(layout.joint_names))
        if extra:
            raise LayoutError(source, "columns", f"joints {', '.join(extra[:6])} are not in layout {layout.name!r}")
    order = _select_joints(joints, layout, source, "CSV")
    positions = values[:, axes][:, order]  # (T, J, 3)
    units = opts.units or "m"
    meta: dict[str, Any] = {"source": source, "format": "csv", "units": units, "units_assumed": opts.units is None}
    fps = opts.fps
    time_cols = [c for c, kind in lead if kind == "time"]
    if time_cols:
        file_fps, time_units = _fps_from_times(values[:, time_cols[0]], cols[time_cols[0]], row_lines, source)
        if file_fps is not None:
            meta["original_fps"] = file_fps
            meta["time_units"] = time_units
            fps = fps or file_fps
    if fps is None:
        fps, meta["fps_assumed"] = _DEFAULT_FPS, True

    def where(t: int, j: int) -> str:
        return f"line {row_lines[t]}, joint {layout.joint_names[j]!r}"

    return _finish(positions * UNIT_SCALES[units], fps, layout, None, meta, opts, where,
                   check_units=None if opts.units else units)


def _csv_joint_columns(cols: list[str], start: int, source: str, line: int) -> tuple[list[str], np.ndarray]:
    """Joint names in column order and a (J, 3) array of the x/y/z column indices."""
    found: dict[str, dict[str, int]] = {}
    for c in range(start, len(cols)):
        m = _AXIS_COLUMN.match(cols[c])
        if not m:
            raise ClipFormatError(source, f"line {line}, column {c + 1}",
                                  f"{_show(cols[c])} is not a <joint>_x/_y/_z column (or a leading frame/time column)")
        joint, axis = m.group(1), m.group(2).lower()
        slot = found.setdefault(joint, {})
        if axis in slot:
            raise ClipFormatError(source, f"line {line}, column {c + 1}", f"column {_show(cols[c])} appears twice")
        slot[axis] = c
    if not found:
        raise ClipFormatError(source, f"line {line}", "no <joint>_x/_y/_z columns in the header")
    for joint, slot in found.items():
        missing = [a for a in "xyz" if a not in slot]
        if missing:
            raise ClipFormatError(source, f"line {line}", f"joint {joint!r} lacks the {'/'.join(missing)} column(s)")
    names = list(found)
    return names, np.array([[found[n][a] for a in "xyz"] for n in names], dtype=np.int64)


def _fps_from_times(times: np.ndarray, name: str, row_lines: np.ndarray, source: str) -> tuple[float | None, str]:
    if times.size < 2:
        return None, ""
    if not np.isfinite(times).all():
        r = int(np.flatnonzero(~np.isfinite(times))[0])
        raise ClipValueError(source, f"line {row_lines[r]}, column {name!r}", "non-finite time stamp")
    dt = np.diff(times)
    if (dt <= 0).any():
        r = int(np.flatnonzero(dt <= 0)[0]) + 1
        raise ClipValueError(source, f"line {row_lines[r]}, column {name!r}", "time stamps must increase")
    step = float(np.median(dt))
    low = name.lower()
    if low.endswith("_ms"):
        units = "ms"
    elif low.endswith("_us"):
        units = "us"
    elif low.endswith("_s") or low in ("seconds", "sec"):
        units = "s"
    elif step <= 1.0:
        units = "s"
    elif step <= 1000.0:
        units = "ms"
    else:
        units = "100ns"  # Kinect SDK ticks
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "100ns": 1e-7}[units]
    with np.errstate(all="ignore"):  # a 1e-320 s step is an inf frame rate: refused by check_fps
        fps = float(np.float64(1.0) / np.float64(step * scale))
    return _round_fps(check_fps(fps, source, f"column {name!r}")), units
