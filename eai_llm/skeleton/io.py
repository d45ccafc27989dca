"""Clip readers and writers: BVH, NPZ, NPY and CSV in, the project's NPZ out.

:func:`load_clip` reads any supported file into a :class:`SkeletonClip` (metres, Y up) and
:func:`save_clip` writes the project's NPZ format atomically. The format is chosen by the file
suffix (``.bvh``, ``.npz``, ``.npy``, ``.csv``; case-insensitive); for any other suffix the content
is sniffed (``HIERARCHY`` at the start = BVH, the zip / ``\\x93NUMPY`` magic bytes = NPZ / NPY, a
header line of ``<joint>_x`` columns = CSV).

Errors
------
Every problem with a file's content raises a one-line :class:`~eai_llm.skeleton.errors.ClipError`
subclass, ``"<file>: <place>: <what was wrong / expected>"``:

* :class:`ClipFormatError` -- syntax: empty file, binary garbage, truncated BVH (missing ``MOTION``,
  fewer rows than ``Frames:`` says), wrong channel counts, unknown channel names, rows with the wrong
  number of values, non-numeric values, unreadable NPZ/NPY, wrong array shapes;
* :class:`ClipValueError` -- readable but invalid numbers: zero frames, NaN/inf (unless
  ``interpolate_gaps`` may fill them), mismatched joint counts, bad fps / frame time, unknown units;
* :class:`ClipLimitError` -- a file larger than ``max_bytes`` or longer than ``max_frames``;
* :class:`LayoutError` -- an unknown layout, a layout that does not fit the file, a missing layout
  for NPY, CSV columns no layout knows.

A **missing file raises** :class:`FileNotFoundError` (the CLI turns it into a one-line message and
exit code 2, like a ClipError); a directory or an unreadable file raises :class:`ClipFormatError`.

Units
-----
Positions are always returned in metres. BVH units are detected from the body's size (the median
over a few frames of the largest bounding-box extent, end sites included): ~0.5-2.6 -> m,
~35-85 -> inch, ~95-260 -> cm, ~950-2600 -> mm; anything else is ambiguous, cm is assumed and
``meta["units_assumed"] = True`` says so. NPY, CSV and foreign NPZ files default to metres (also
recorded as ``units_assumed``). ``units=`` (``"m"``, ``"cm"``, ``"mm"``, ``"inch"``) overrides.

The project's NPZ format
------------------------
A NumPy ``.npz`` archive (written with :func:`numpy.savez_compressed`, read with
``allow_pickle=False``) holding:

=============  ===============================================================================
key            content
=============  ===============================================================================
``positions``  float32 array ``(T, J, 3)``: joint positions in **metres**, **Y up**, finite
``fps``        0-d float64: frames per second (> 0)
``layout``     0-d unicode string: JSON of :meth:`Layout.to_dict` (``name``, ``description``,
               ``joints`` = ``[{"name", "parent", "unified"?}, ...]``); a built-in layout name
               resolves to the registry, any other layout is rebuilt from the JSON (not registered).
               A plain layout name (not JSON) is accepted too.
``label``      optional 0-d unicode string (e.g. an emotion)
``meta``       optional 0-d unicode string: JSON object of facts about the source
=============  ===============================================================================

On loading, ``meta["source"]``, ``meta["format"]`` and ``meta["units"]`` describe the NPZ file
itself; the values stored in the file (e.g. the original BVH path) move to ``origin_source``,
``origin_format`` and ``origin_units``. A *foreign* NPZ holding only ``positions`` (or exactly one
``(T, J, 3)`` array under any name) is accepted as pose-estimator output: pass ``layout=``.
"""

from __future__ import annotations

import io as _io
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .clip import MAX_FRAMES, SkeletonClip
from .clip import interpolate_gaps as _fill_gaps
from .errors import ClipError, ClipFormatError, ClipLimitError, ClipValueError, LayoutError
from .layouts import Layout, get_layout, list_layouts, match_layout

__all__ = [
    "load_clip", "save_clip", "detect_format", "detect_units", "euler_matrices", "parse_bvh",
    "bvh_positions", "guess_unified_mapping", "derive_layout", "BvhData",
    "DEFAULT_MAX_BYTES", "UNIT_SCALES", "FORMATS",
]

#: Files larger than this many bytes are refused (``max_bytes=`` overrides).
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: Metres per unit.
UNIT_SCALES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254}
_UNIT_ALIASES = {
    "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "cm": "cm", "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
    "mm": "mm", "millimeter": "mm", "millimeters": "mm", "millimetre": "mm", "millimetres": "mm",
    "in": "inch", "inch": "inch", "inches": "inch",
}
FORMATS = ("bvh", "npz", "npy", "csv")
#: ``interpolate_gaps=True`` means gaps of up to this many frames.
DEFAULT_GAP_FRAMES = 5
#: BVH hierarchies with more joints than this are refused.
MAX_BVH_JOINTS = 1024
_DEFAULT_FPS = 30.0


# =============================================================================================
# public entry points
# =============================================================================================
def load_clip(
    path: str | PathLike,
    layout: str | Layout | None = None,
    *,
    units: str | None = None,
    fps: float | None = None,
    interpolate_gaps: int | bool = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_frames: int = MAX_FRAMES,
) -> SkeletonClip:
    """Read a BVH, NPZ, NPY or CSV clip into a :class:`SkeletonClip` (metres, Y up).

    path: the file; the format comes from its suffix, or from its content for other suffixes.
    layout: a layout name, layout file (.json/.yaml) or :class:`Layout`. Required for NPY (and
        foreign NPZ); optional for BVH (joint names are matched against the registry, else a layout
        ``bvh:<stem>`` is derived from the hierarchy) and CSV (recognised from the column names).
    units: the file's length unit (``m``, ``cm``, ``mm``, ``inch``) when detection (BVH) or the
        metre default (NPY/CSV) is wrong.
    fps: frame rate; overrides what the file says (the file's value stays in
        ``meta["original_fps"]``); needed for NPY and CSV without a time column (else 30 is assumed
        and ``meta["fps_assumed"] = True``).
    interpolate_gaps: fill runs of NaN/inf of at most this many frames by linear interpolation
        (``True`` = 5 frames); the number of filled joint-frames goes to
        ``meta["interpolated_frames"]``. With 0 (default) any NaN/inf raises :class:`ClipValueError`.
    max_bytes, max_frames: limits beyond which :class:`ClipLimitError` is raised.

    Raises :class:`FileNotFoundError` for a missing file and a :class:`ClipError` subclass for
    everything else (see the module docstring).
    """
    path = Path(path)
    source = str(path)
    data = _read_bytes(path, max_bytes)
    fmt = detect_format(path, data[:512])
    opts = _Options(
        source=source,
        layout=_resolve_layout(layout, source),
        units=_resolve_units(units, source),
        fps=_resolve_fps(fps, source),
        gap=_resolve_gap(interpolate_gaps, source),
        max_bytes=int(max_bytes),
        max_frames=int(max_frames),
    )
    reader = {"bvh": _load_bvh, "npz": _load_npz, "npy": _load_npy, "csv": _load_csv}[fmt]
    return reader(path, data, opts)


def save_clip(clip: SkeletonClip, path: str | PathLike) -> Path:
    """Write ``clip`` to ``path`` in the project's NPZ format (see the module docstring).

    The file is written to a temporary file in the same folder and moved into place with
    :func:`os.replace`, so ``path`` is either the complete new file or untouched. Returns the path.
    """
    if not isinstance(clip, SkeletonClip):
        raise TypeError(f"save_clip expects a SkeletonClip, got {type(clip).__name__}")
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise ValueError(f"{path}: save_clip writes the NPZ format; the path must end in .npz")
    arrays: dict[str, np.ndarray] = {
        "positions": np.ascontiguousarray(clip.positions, dtype=np.float32),
        "fps": np.array(float(clip.fps), dtype=np.float64),
        "layout": np.array(json.dumps(clip.layout.to_dict())),
        "meta": np.array(json.dumps(clip.meta, default=_json_default)),
    }
    if clip.label is not None:
        arrays["label"] = np.array(str(clip.label))
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(path))  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _new_file_mode(path: Path) -> int:
    """The mode ``path`` has now, or what ``open()`` would give a new file under the current umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def detect_format(path: str | PathLike, head: bytes) -> str:
    """``"bvh"``, ``"npz"``, ``"npy"`` or ``"csv"`` from the suffix, else from the first bytes.

    Raises :class:`ClipFormatError` when neither tells.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "npz"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    text = head.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    if text.upper().startswith("HIERARCHY"):
        return "bvh"
    first = text.split("\n", 1)[0]
    if re.search(r"[,;\t]", first) and re.search(r"[_.\s:-][xyzXYZ]\s*\"?\s*([,;\t]|$)", first):
        return "csv"
    raise ClipFormatError(path, "format", f"unknown file type {Path(path).suffix or '(no suffix)'!r}, "
                                          "expected a .bvh, .npz, .npy or .csv file")


def detect_units(height: float) -> tuple[str, bool]:
    """Guess a file's length unit from a body size (largest bounding-box extent) in file units.

    Returns ``(units, assumed)``; ``assumed`` is True when the size fits no unit and cm is assumed.
    """
    if not np.isfinite(height) or height <= 0:
        return "cm", True
    if 0.5 <= height <= 2.6:
        return "m", False
    if 35.0 <= height < 85.0:
        return "inch", False
    if 95.0 <= height <= 260.0:
        return "cm", False
    if 950.0 <= height <= 2600.0:
        return "mm", False
    return "cm", True


# =============================================================================================
# shared helpers
# =============================================================================================
@dataclass
class _Options:
    source: str
    layout: Layout | None
    units: str | None
    fps: float | None
    gap: int
    max_bytes: int
    max_frames: int


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.is_dir():
        raise ClipFormatError(path, None, "is a directory, expected a clip file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ClipLimitError(path, "size", f"{size} bytes, the limit is {max_bytes} (pass max_bytes= to raise it)")
        data = path.read_bytes()
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
    if not math.isfinite(value) or value <= 0:
        raise ClipValueError(source, "fps argument", f"expected a positive number, got {fps!r}")
    return value


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


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, PathLike)):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


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


def _candidates(num_joints: int) -> list[str]:
    return [n for n in list_layouts() if get_layout(n).num_joints == num_joints]


def _layout_by_name_set(names: Sequence[str]) -> Layout | None:
    """A registered layout with exactly these joint names, in any order."""
    exact = match_layout(names)
    if exact is not None:
        return exact
    wanted = set(names)
    for name in list_layouts():
        lay = get_layout(name)
        if set(lay.joint_names) == wanted and len(lay.joint_names) == len(names):
            return lay
    return None


def _select_joints(names: Sequence[str], layout: Layout, source: str, what: str) -> np.ndarray:
    """Indices into ``names`` giving ``layout``'s joint order; LayoutError when a joint is missing."""
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in layout.joint_names if n not in index]
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        have = ", ".join(list(names)[:8]) + (", ..." if len(names) > 8 else "")
        raise LayoutError(source, "layout", f"layout {layout.name!r} needs joints the {what} lacks: {shown} "
                                            f"(the {what} has: {have})")
    return np.array([index[n] for n in layout.joint_names], dtype=np.int64)


def _finish(positions: np.ndarray, fps: float, layout: Layout, label: str | None, meta: dict[str, Any],
            opts: _Options, where: Callable[[int, int], str]) -> SkeletonClip:
    """NaN policy, frame limit and construction shared by all readers (positions in metres)."""
    source = opts.source
    n = positions.shape[0]
    if n == 0:
        raise ClipValueError(source, "frames", "zero frames, expected at least 1")
    if n > opts.max_frames:
        raise ClipLimitError(source, "frames", f"{n} frames, the limit is {opts.max_frames}")
    with np.errstate(all="ignore"):  # overflow to inf is reported below as non-finite
        pos = np.asarray(positions, dtype=np.float64)
        finite = np.isfinite(pos).all(axis=2)
        pos32 = pos.astype(np.float32)
        finite &= np.isfinite(pos32).all(axis=2)
    if not finite.all():
        if opts.gap <= 0:
            t, j = np.argwhere(~finite)[0]
            count = int((~finite).sum())
            raise ClipValueError(source, where(int(t), int(j)),
                                 f"non-finite (NaN/inf) position ({count} joint-frames in all); expected finite "
                                 "numbers, or pass interpolate_gaps=N to fill gaps of up to N frames")
        pos32 = np.where(finite[..., None], pos32, np.nan).astype(np.float32)
        pos32, filled = _fill_gaps(pos32, opts.gap, source)
        meta["interpolated_frames"] = filled
    elif opts.gap > 0:
        meta["interpolated_frames"] = 0
    if opts.gap > 0:
        meta["interpolate_gaps"] = opts.gap
    return SkeletonClip(pos32, fps, layout, label, meta)


# =============================================================================================
# numeric text blocks (BVH motion, CSV body): one vectorised parse, precise errors on failure
# =============================================================================================
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


# =============================================================================================
# BVH
# =============================================================================================
_CHANNELS = {f"{a.lower()}{k}": (f"{a}{k}", "XYZ".index(a), k == "rotation")
             for a in "XYZ" for k in ("position", "rotation")}


@dataclass
class BvhData:
    """A parsed BVH file, before forward kinematics (all lengths in file units)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray                     # (J, 3)
    channels: list[list[str]]               # per joint, e.g. ["Xposition", ..., "Zrotation", ...]
    end_sites: list[tuple[int, np.ndarray]]  # (parent joint, offset)
    frame_time: float
    motion: np.ndarray                      # (T, C) channel values, joints in file order
    motion_lines: np.ndarray = field(repr=False)  # file line of each frame
    joint_lines: list[int] = field(default_factory=list, repr=False)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    def column_name(self, col: int) -> str:
        """'value 5 (Hips Yrotation)' for a 0-based motion column."""
        k = 0
        for name, chans in zip(self.names, self.channels):
            if col < k + len(chans):
                return f"value {col + 1} ({name} {chans[col - k]})"
            k += len(chans)
        return f"value {col + 1}"


class _Tokens:
    """Tokens of the BVH hierarchy with their line numbers (braces are tokens of their own)."""

    def __init__(self, text: str, source: str):
        self.source = source
        self.items: list[tuple[str, int]] = []
        for ln, line in enumerate(text.split("\n"), 1):
            for tok in line.replace("{", " { ").replace("}", " } ").split():
                self.items.append((tok, ln))
        self.pos = 0
        self.last_line = text.count("\n") + 1

    def peek(self) -> tuple[str | None, int]:
        return self.items[self.pos] if self.pos < len(self.items) else (None, self.last_line)

    def next(self, expected: str) -> tuple[str, int]:
        tok, ln = self.peek()
        if tok is None:
            raise ClipFormatError(self.source, f"line {ln}",
                                  f"unexpected end of the hierarchy, expected {expected} (file truncated?)")
        self.pos += 1
        return tok, ln

    def expect(self, word: str) -> int:
        tok, ln = self.next(repr(word))
        if tok != word:
            raise ClipFormatError(self.source, f"line {ln}", f"expected {word!r}, got {_show(tok)}")
        return ln

    def rest_of_line(self, ln: int) -> list[str]:
        out = []
        while self.pos < len(self.items) and self.items[self.pos][1] == ln and self.items[self.pos][0] not in "{}":
            out.append(self.items[self.pos][0])
            self.pos += 1
        return out


def _show(tok: str) -> str:
    return repr(tok if len(tok) <= 24 else tok[:24] + "...")


def _parse_offset(toks: _Tokens) -> np.ndarray:
    ln = toks.expect("OFFSET")
    vals = []
    for _ in range(3):
        tok, tln = toks.next("3 OFFSET numbers")
        if tln != ln or not _NUMBER.fullmatch(tok):
            raise ClipFormatError(toks.source, f"line {tln}", f"OFFSET needs 3 numbers, got {_show(tok)}")
        vals.append(float(tok))
    tok, tln = toks.peek()
    if tok is not None and tln == ln and tok not in "{}":
        raise ClipFormatError(toks.source, f"line {ln}", f"OFFSET needs exactly 3 numbers, got more ({_show(tok)})")
    if not all(math.isfinite(v) for v in vals):
        raise ClipValueError(toks.source, f"line {ln}", "non-finite OFFSET, expected 3 finite numbers")
    return np.array(vals)


def _parse_channels(toks: _Tokens) -> list[str]:
    ln = toks.expect("CHANNELS")
    tok, tln = toks.next("a channel count")
    if tln != ln or not re.fullmatch(r"[0-9]{1,6}", tok):
        raise ClipFormatError(toks.source, f"line {tln}", f"expected a channel count after CHANNELS, got {_show(tok)}")
    count = int(tok)
    names = toks.rest_of_line(ln)
    if len(names) != count:
        raise ClipFormatError(toks.source, f"line {ln}",
                              f"CHANNELS {count} but {len(names)} channel names follow; expected the count to match "
                              "(3 rotations, or 3 positions + 3 rotations)")
    if count > 6:
        raise ClipFormatError(toks.source, f"line {ln}", f"CHANNELS {count}, expected at most 6 channels per joint")
    out = []
    for name in names:
        spec = _CHANNELS.get(name.lower())
        if spec is None:
            raise ClipFormatError(toks.source, f"line {ln}",
                                  f"unknown channel {_show(name)}, expected one of "
                                  "Xposition Yposition Zposition Xrotation Yrotation Zrotation")
        out.append(spec[0])
    if len(set(out)) != len(out):
        raise ClipFormatError(toks.source, f"line {ln}", f"repeated channel in {' '.join(names)}")
    return out


def _parse_hierarchy(text: str, source: str) -> tuple[list[str], list[int], list[np.ndarray], list[list[str]],
                                                       list[tuple[int, np.ndarray]], list[int]]:
    toks = _Tokens(text, source)
    tok, ln = toks.next("'HIERARCHY'")
    if tok != "HIERARCHY":
        raise ClipFormatError(source, f"line {ln}",
                              f"expected 'HIERARCHY' at the start of a BVH file, got {_show(tok)}")
    tok, ln = toks.next("'ROOT'")
    if tok != "ROOT":
        raise ClipFormatError(source, f"line {ln}", f"expected 'ROOT <name>', got {_show(tok)}")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray] = []
    channels: list[list[str]] = []
    lines: list[int] = []
    end_sites: list[tuple[int, np.ndarray]] = []
    stack: list[int] = []

    def open_joint(parent: int, ln: int) -> None:
        name = " ".join(toks.rest_of_line(ln))
        if not name:
            raise ClipFormatError(source, f"line {ln}", "expected a joint name after ROOT/JOINT")
        if len(names) >= MAX_BVH_JOINTS:
            raise ClipLimitError(source, f"line {ln}", f"more than {MAX_BVH_JOINTS} joints")
        toks.expect("{")
        names.append(name)
        parents.append(parent)
        lines.append(ln)
        offsets.append(_parse_offset(toks))
        channels.append(_parse_channels(toks))
        stack.append(len(names) - 1)

    open_joint(-1, ln)
    while stack:
        tok, ln = toks.next("'JOINT', 'End Site' or '}'")
        if tok == "JOINT":
            open_joint(stack[-1], ln)
        elif tok == "End":
            site, sln = toks.next("'Site'")
            if site != "Site":
                raise ClipFormatError(source, f"line {sln}", f"expected 'End Site', got 'End {site}'")
            toks.expect("{")
            end_sites.append((stack[-1], _parse_offset(toks)))
            toks.expect("}")
        elif tok == "}":
            stack.pop()
        else:
            raise ClipFormatError(source, f"line {ln}", f"expected 'JOINT', 'End Site' or '}}', got {_show(tok)}")
    tok, ln = toks.peek()
    if tok is not None:
        raise ClipFormatError(source, f"line {ln}", f"expected 'MOTION' after the hierarchy, got {_show(tok)}")
    return names, parents, offsets, channels, end_sites, lines


def parse_bvh(text: str, source: str = "<bvh>", max_frames: int = MAX_FRAMES) -> BvhData:
    """Parse BVH text (hierarchy + motion) without forward kinematics.

    The MOTION block is parsed in one vectorised call; rows are checked against ``Frames:`` and the
    channel count. Raises :class:`ClipFormatError` / :class:`ClipValueError` / :class:`ClipLimitError`.
    """
    m = re.search(r"^[ \t]*MOTION[ \t]*$", text, re.MULTILINE)
    header = text if m is None else text[:m.start()]
    names, parents, offsets, channels, end_sites, jlines = _parse_hierarchy(header, source)
    if m is None:
        raise ClipFormatError(source, f"line {text.count(chr(10)) + 1}",
                              "missing MOTION section after the hierarchy (file truncated?)")
    line_no = text.count("\n", 0, m.start()) + 1
    pos = m.end() + 1

    def next_line(what: str) -> tuple[str, int]:
        nonlocal pos, line_no
        while pos <= len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            pos = end + 1
            line_no += 1
            if line.strip():
                return line, line_no
        raise ClipFormatError(source, f"line {line_no}", f"expected {what} after MOTION (file truncated?)")

    line, ln = next_line("'Frames: N'")
    fm = re.fullmatch(r"\s*Frames\s*:\s*(\S+)\s*", line, re.IGNORECASE)
    if fm is None:
        raise ClipFormatError(source, f"line {ln}", f"expected 'Frames: N', got {_show(line.strip())}")
    if not re.fullmatch(r"[0-9]+", fm.group(1)):
        raise ClipFormatError(source, f"line {ln}", f"expected a whole number of frames, got {_show(fm.group(1))}")
    if len(fm.group(1).lstrip("0")) > 12:
        raise ClipLimitError(source, f"line {ln}", f"Frames: {fm.group(1)[:16]}..., the limit is {max_frames}")
    nframes = int(fm.group(1))
    if nframes == 0:
        raise ClipValueError(source, f"line {ln}", "Frames: 0, expected at least 1 frame")
    if nframes > max_frames:
        raise ClipLimitError(source, f"line {ln}", f"Frames: {nframes}, the limit is {max_frames}")
    line, ln = next_line("'Frame Time: seconds'")
    tm = re.fullmatch(r"\s*Frame\s+Time\s*:\s*(\S+)\s*", line, re.IGNORECASE)
    if tm is None:
        raise ClipFormatError(source, f"line {ln}", f"expected 'Frame Time: seconds', got {_show(line.strip())}")
    if not _NUMBER.fullmatch(tm.group(1)):
        raise ClipFormatError(source, f"line {ln}", f"Frame Time {_show(tm.group(1))} is not a number")
    frame_time = float(tm.group(1))
    if not math.isfinite(frame_time) or frame_time <= 0:
        raise ClipValueError(source, f"line {ln}", f"Frame Time {frame_time}, expected a positive number of seconds")
    ncols = sum(len(c) for c in channels)
    if ncols == 0:
        raise ClipFormatError(source, "CHANNELS", "no joint has channels, expected motion channels")
    data = BvhData(names, parents, np.array(offsets), channels, end_sites, frame_time,
                   np.zeros((0, ncols)), np.zeros(0, dtype=np.int64), jlines)
    block = text[pos:] if pos <= len(text) else ""
    motion, mlines = _parse_numeric_rows(block, ncols, line_no + 1, source, data.column_name,
                                         expected_rows=nframes, rows_what="frames (Frames: line)")
    data.motion, data.motion_lines = motion, mlines
    return data


def _axis_matrices(axes: np.ndarray, radians: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3) rotations about axis ``axes[j]`` (0=X, 1=Y, 2=Z) by ``radians[t, j]``."""
    T, J = radians.shape
    jj = np.arange(J)
    a = np.asarray(axes, dtype=np.int64)
    i, k = (a + 1) % 3, (a + 2) % 3
    c, s = np.cos(radians), np.sin(radians)
    m = np.zeros((T, J, 3, 3))
    m[:, jj, a, a] = 1.0
    m[:, jj, i, i] = c
    m[:, jj, k, k] = c
    m[:, jj, i, k] = -s
    m[:, jj, k, i] = s
    return m


def euler_matrices(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """(T, 3, 3) rotation matrices from (T, k) Euler angles in degrees, intrinsic, in ``order``.

    ``order`` names the axes of the columns (e.g. ``"ZXY"``); the result is
    ``R = R_order[0] @ R_order[1] @ ...`` -- the BVH convention, where the channel listed first is
    the outermost rotation.
    """
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    if angles.ndim != 2 or angles.shape[1] != len(order) or any(a not in "XYZ" for a in order.upper()):
        raise ValueError(f"angles of shape {angles.shape} do not fit the order {order!r}")
    out = np.broadcast_to(np.eye(3), (angles.shape[0], 3, 3)).copy()
    for k, axis in enumerate(order.upper()):
        out = out @ _axis_matrices(np.array(["XYZ".index(axis)]), angles[:, k:k + 1])[:, 0]
    return out


@dataclass
class _Rig:
    """Index arrays mapping BVH motion rows onto joints, with joints re-ordered by tree depth.

    Internally joint ``n`` is file joint ``order[n]``; sorted by depth, every tree level is one
    contiguous slice, and arrays are joint-major (J, T, ...) so that a level is a cheap view.
    """

    order: np.ndarray          # (J,) file joint of each internal joint
    rank: np.ndarray           # (J,) internal index of each file joint
    parents: np.ndarray        # (J,) internal parent index (-1 for roots)
    offsets: np.ndarray        # (J, 3)
    rot_src: np.ndarray        # motion columns of rotation channels
    rot_dst: tuple[np.ndarray, np.ndarray]  # (internal joint, slot 0..2) of each
    pos_src: np.ndarray        # motion columns of position channels
    pos_dst: tuple[np.ndarray, np.ndarray]  # (internal joint, axis) of each
    levels: list[slice]        # contiguous internal joints per depth, roots first
    order_groups: list[tuple[tuple[int, int, int], np.ndarray]]  # joints sharing a rotation order


def _rig(bvh: BvhData) -> _Rig:
    J = len(bvh.names)
    parents_file = np.array(bvh.parents, dtype=np.int64)
    depth = np.zeros(J, dtype=np.int64)
    for j in range(J):  # file order: a parent always precedes its children
        if parents_file[j] >= 0:
            depth[j] = depth[parents_file[j]] + 1
    order = np.argsort(depth, kind="stable")
    rank = np.empty(J, dtype=np.int64)
    rank[order] = np.arange(J)
    rot_src, rot_j, rot_k, pos_src, pos_j, pos_a = [], [], [], [], [], []
    axes = np.zeros((J, 3), dtype=np.int64)  # padding slots: X axis with angle 0 (identity)
    col = 0
    for j, chans in enumerate(bvh.channels):
        slot = 0
        for c in chans:
            _, axis, is_rot = _CHANNELS[c.lower()]
            if is_rot:
                rot_src.append(col)
                rot_j.append(rank[j])
                rot_k.append(slot)
                axes[rank[j], slot] = axis
                slot += 1
            else:
                pos_src.append(col)
                pos_j.append(rank[j])
                pos_a.append(axis)
            col += 1
    parents = np.where(parents_file[order] >= 0, rank[np.maximum(parents_file[order], 0)], -1)
    sorted_depth = depth[order]
    levels = [slice(int(np.searchsorted(sorted_depth, d)), int(np.searchsorted(sorted_depth, d, "right")))
              for d in range(int(depth.max()) + 1)]
    groups: dict[tuple[int, int, int], list[int]] = {}
    for n in range(J):
        groups.setdefault(tuple(int(a) for a in axes[n]), []).append(n)
    order_groups = [(key, np.array(ns, dtype=np.int64)) for key, ns in groups.items()]
    ints = lambda xs: np.array(xs, dtype=np.int64)  # noqa: E731
    return _Rig(order, rank, parents, np.asarray(bvh.offsets, dtype=np.float64)[order], ints(rot_src),
                (ints(rot_j), ints(rot_k)), ints(pos_src), (ints(pos_j), ints(pos_a)), levels, order_groups)


def _axis_entries(axis: int, c: np.ndarray, s: np.ndarray) -> list[list[Any]]:
    """A rotation about ``axis`` as a 3x3 nested list of entries: 0.0, 1.0 or an array."""
    i, k = (axis + 1) % 3, (axis + 2) % 3
    m: list[list[Any]] = [[0.0] * 3 for _ in range(3)]
    m[axis][axis] = 1.0
    m[i][i], m[k][k], m[i][k], m[k][i] = c, c, -s, s
    return m


def _is_const(x: Any, value: float) -> bool:
    return isinstance(x, float) and x == value


def _entry_matmul(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
    """Product of two 3x3 nested-list matrices, skipping the structural zeros and ones."""
    out: list[list[Any]] = [[0.0] * 3 for _ in range(3)]
    for i in range(3):
        for j in range(3):
            acc: Any = 0.0
            for k in range(3):
                x, y = a[i][k], b[k][j]
                if _is_const(x, 0.0) or _is_const(y, 0.0):
                    continue
                term = y if _is_const(x, 1.0) else x if _is_const(y, 1.0) else x * y
                acc = term if _is_const(acc, 0.0) else acc + term
            out[i][j] = acc
    return out


def _local_rotations(rig: _Rig, angles: np.ndarray) -> np.ndarray:
    """(J, T, 3, 3) local rotations from (J, T, 3) angles in radians, composed in each joint's order.

    Joints sharing an axis order are done together, the product written out entry by entry
    (several times faster than stacked ``@`` on 3x3 matrices).
    """
    J, T, _ = angles.shape
    out = np.empty((J, T, 3, 3))
    c, s = np.cos(angles), np.sin(angles)
    for key, group in rig.order_groups:
        m = _axis_entries(key[0], c[group, :, 0], s[group, :, 0])
        for k in (1, 2):
            m = _entry_matmul(m, _axis_entries(key[k], c[group, :, k], s[group, :, k]))
        for i in range(3):
            for j in range(3):
                out[group, :, i, j] = m[i][j]
    return out


def _forward_kinematics(rig: _Rig, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions (J, T, 3) and rotations (J, T, 3, 3), internal joint order.

    One batched step per tree level (parents first); no loop over frames.
    """
    T, J = motion.shape[0], rig.parents.size
    angles = np.zeros((J, T, 3))
    angles[rig.rot_dst[0], :, rig.rot_dst[1]] = np.radians(motion[:, rig.rot_src]).T
    world_r = _local_rotations(rig, angles)  # local rotations, made world level by level in place
    local_t = np.repeat(rig.offsets[:, None, :], T, axis=1)
    local_t[rig.pos_dst[0], :, rig.pos_dst[1]] = motion[:, rig.pos_src].T
    pos = np.empty((J, T, 3))
    roots = rig.levels[0]
    pos[roots] = local_t[roots]
    for level in rig.levels[1:]:
        par = rig.parents[level]
        pr = world_r[par]
        world_r[level] = pr @ world_r[level]
        pos[level] = pos[par] + (pr @ local_t[level, :, :, None])[..., 0]
    return pos, world_r


_FK_CHUNK = 8192


def bvh_positions(bvh: BvhData, sample: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics, vectorised over frames: world positions (T, J, 3) in file units.

    Position channels replace the matching OFFSET components (on any joint, as bvhio and Blender do);
    rotations compose in each joint's channel order (intrinsic, first channel outermost). Frames are
    processed in chunks to bound memory, joints one tree level at a time. Also returns the end-site
    positions at the frames ``sample`` (default: all), shape (len(sample), E, 3).
    """
    rig = _rig(bvh)
    motion = bvh.motion
    T, J = motion.shape[0], rig.parents.size
    sample = np.arange(T) if sample is None else np.asarray(sample, dtype=np.int64)
    par = rig.rank[np.array([p for p, _ in bvh.end_sites], dtype=np.int64)]
    off = np.array([o for _, o in bvh.end_sites], dtype=np.float64).reshape(-1, 3)
    pos = np.empty((T, J, 3))
    sites = np.empty((sample.size, par.size, 3))
    for a in range(0, T, _FK_CHUNK):
        p, r = _forward_kinematics(rig, motion[a:a + _FK_CHUNK])
        pos[a:a + _FK_CHUNK] = p[rig.rank].transpose(1, 0, 2)
        inside = (sample >= a) & (sample < a + _FK_CHUNK)
        if par.size and inside.any():
            rows = sample[inside] - a
            sites[inside] = (p[par][:, rows] + (r[par][:, rows] @ off[:, None, :, None])[..., 0]).transpose(1, 0, 2)
    return pos, sites


def _body_size(bvh: BvhData, pos: np.ndarray, sites: np.ndarray) -> float:
    """Median over frames of the largest bounding-box extent of the body, in file units.

    Joints above the body -- a chain of single-child roots such as a floor-projected ``Root`` or a
    ``Reference`` node, which may stay at the origin while the body walks away -- are left out.
    """
    parents = np.array(bvh.parents)
    children = np.bincount(parents[parents >= 0], minlength=parents.size)
    keep = np.ones(parents.size, dtype=bool)
    top = int(np.flatnonzero(parents < 0)[0])
    while children[top] == 1 and keep.sum() > 2:
        keep[top] = False
        top = int(np.flatnonzero(parents == top)[0])
    site_keep = np.array([keep[p] for p, _ in bvh.end_sites], dtype=bool)
    pts = np.concatenate([pos[:, keep], sites[:, site_keep]], axis=1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        extent = np.nanmax(np.nanmax(pts, axis=1) - np.nanmin(pts, axis=1), axis=1)
    extent = extent[np.isfinite(extent)]
    return float(np.median(extent)) if extent.size else float("nan")


def _load_bvh(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    text = _decode_text(data, source)
    bvh = parse_bvh(text, source, opts.max_frames)
    if opts.gap <= 0:
        bad = ~np.isfinite(bvh.motion)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ClipValueError(source, f"line {bvh.motion_lines[r]}, {bvh.column_name(int(c))}",
                                 f"non-finite value ({int(bad.sum())} in all); expected finite numbers, or pass "
                                 "interpolate_gaps=N to fill gaps of up to N frames")
    T = bvh.num_frames
    sample = np.unique(np.linspace(0, T - 1, min(T, 9)).round().astype(np.int64))
    with np.errstate(all="ignore"):  # overflow/NaN become non-finite positions, reported below
        pos, sites = bvh_positions(bvh, sample)
    height = _body_size(bvh, pos[sample], sites)
    if opts.units is not None:
        units, assumed = opts.units, False
    else:
        units, assumed = detect_units(height)
    file_fps = _round_fps(1.0 / bvh.frame_time)
    layout, derived = _bvh_layout(bvh, path, opts)
    positions = pos[:, _select_joints(bvh.names, layout, source, "file")] * UNIT_SCALES[units]
    meta: dict[str, Any] = {
        "source": source, "format": "bvh", "units": units, "units_assumed": assumed,
        "units_detected": opts.units is None, "height_file_units": round(height, 4) if math.isfinite(height) else None,
        "original_fps": file_fps, "frame_time": bvh.frame_time, "derived_layout": derived,
        "bvh_joints": len(bvh.names), "bvh_channels": int(bvh.motion.shape[1]), "end_sites": len(bvh.end_sites),
    }
    if opts.fps is not None:
        meta["fps_overridden"] = True

    def where(t: int, j: int) -> str:
        return f"line {bvh.motion_lines[t]} (frame {t}), joint {layout.joint_names[j]!r}"

    return _finish(positions, opts.fps or file_fps, layout, None, meta, opts, where)


def _bvh_layout(bvh: BvhData, path: Path, opts: _Options) -> tuple[Layout, bool]:
    if opts.layout is not None:
        return opts.layout, False
    found = _layout_by_name_set(bvh.names)
    if found is not None:
        return found, False
    return derive_layout(f"bvh:{path.stem}", bvh.names, bvh.parents, source=opts.source), True


# =============================================================================================
# layouts derived from unknown rigs
# =============================================================================================
_SIDE_WORD = re.compile(r"left|right", re.IGNORECASE)
_SIDE_TOKEN = re.compile(r"(?:^|(?<=[\s_.:-]))([LlRr])(?=[\s_.:-]|$)")
_SIDE_CAMEL_PREFIX = re.compile(r"^([LR])(?=[A-Z])")
_SIDE_CAMEL_SUFFIX = re.compile(r"(?<=[a-z])([LR])$")

_ARM_UPPER = ("upperarm", "arm", "uparm", "humerus")
_COLLAR = ("clavicle", "collar", "clav", "scapula", "collarbone")
_ELBOW = ("forearm", "lowerarm", "loarm", "elbow", "radius", "lowarm")
_HIP = ("upleg", "upperleg", "thigh", "hip", "femur", "uleg")
_KNEE = ("leg", "lowerleg", "knee", "shin", "calf", "tibia", "loleg", "lowleg", "lleg")
_TOE = ("toebase", "toe", "toes", "ball", "toe0", "foottip")


def _split_name(name: str) -> tuple[str | None, str]:
    """(side 'l'/'r'/None, core) of a joint name: 'mixamorig:LeftUpLeg' -> ('l', 'upleg')."""
    n = re.sub(r"^.*[:|]", "", name).strip()
    side = None
    m = _SIDE_WORD.search(n)
    if m:
        side, n = m.group(0)[0].lower(), n[:m.start()] + " " + n[m.end():]
    else:
        for pattern in (_SIDE_TOKEN, _SIDE_CAMEL_PREFIX, _SIDE_CAMEL_SUFFIX):
            m = pattern.search(n)
            if m:
                side, n = m.group(1).lower(), n[:m.start(1)] + " " + n[m.end(1):]
                break
    core = re.sub(r"[^a-z0-9]", "", n.lower())
    core = re.sub(r"^(bip|biped)\d*", "", core)
    return side, core


def _ancestors(j: int, parents: Sequence[int]) -> list[int]:
    out = [j]
    while parents[out[-1]] >= 0:
        out.append(parents[out[-1]])
    return out


def _lca(a: int, b: int, parents: Sequence[int]) -> int:
    up = set(_ancestors(a, parents))
    for k in _ancestors(b, parents):
        if k in up:
            return k
    return -1


def guess_unified_mapping(joint_names: Sequence[str], parents: Sequence[int]) -> dict[str, str]:
    """Guess ``to_unified`` for a rig from its joint names and tree (CMU, Mixamo, Blender, Biped, ...).

    Limb joints come from name patterns per side (``Left``/``Right`` words, ``_L``/``.R`` suffixes,
    ``l_``/``R_`` prefixes, ``LHip``-style capitals, ``mixamorig:``-style namespaces); the pelvis is the
    common ancestor of the two hips, the chest that of the two shoulders, the spine a joint between
    them. The mapping is injective; joints it cannot place are left out.
    """
    parts = [_split_name(n) for n in joint_names]
    by_side: dict[str | None, dict[str, int]] = {"l": {}, "r": {}, None: {}}
    for i, (side, core) in enumerate(parts):
        by_side[side].setdefault(core, i)
    found: dict[str, int] = {}

    def first(cores: dict[str, int], options: Sequence[str]) -> tuple[str, int] | None:
        for opt in options:
            if opt in cores:
                return opt, cores[opt]
        return None

    for side in ("l", "r"):
        cores = by_side[side]
        pick: dict[str, tuple[str, int] | None] = {}
        pick["shoulder"] = first(cores, _ARM_UPPER)
        if pick["shoulder"] is None:
            pick["shoulder"] = first(cores, ("shoulder",))
            pick["collar"] = first(cores, _COLLAR)
        else:
            pick["collar"] = first(cores, _COLLAR + ("shoulder",))
        pick["elbow"] = first(cores, _ELBOW)
        pick["wrist"] = first(cores, ("wrist", "hand"))
        pick["hand"] = first(cores, ("hand",)) if pick["wrist"] and pick["wrist"][0] == "wrist" else None
        pick["hip"] = first(cores, _HIP)
        pick["knee"] = first(cores, _KNEE)
        pick["ankle"] = first(cores, ("ankle", "foot"))
        pick["foot"] = first(cores, _TOE + (("foot",) if pick["ankle"] and pick["ankle"][0] == "ankle" else ()))
        for target, hit in pick.items():
            if hit is not None:
                found[f"{side}_{target}"] = hit[1]

    center = by_side[None]
    if "l_hip" in found and "r_hip" in found:
        pelvis = _lca(found["l_hip"], found["r_hip"], parents)
    else:
        hit = first(center, ("hips", "pelvis", "hip"))
        pelvis = hit[1] if hit else -1
    if pelvis >= 0:
        found["pelvis"] = pelvis
    arm_l = found.get("l_shoulder", found.get("l_collar"))
    arm_r = found.get("r_shoulder", found.get("r_collar"))
    chest = -1
    if arm_l is not None and arm_r is not None:
        chest = _lca(arm_l, arm_r, parents)
        if chest in (found.get("l_collar"), found.get("r_collar"), found.get("l_shoulder"), found.get("r_shoulder")):
            chest = -1
        elif chest >= 0 and parts[chest][1].startswith("neck") and parents[chest] >= 0:
            chest = parents[chest]  # arms hang off the neck (gait layouts): the chest is below it
    if chest < 0:
        hit = first(center, ("upperchest", "chest", "thorax", "spine3", "spine2"))
        chest = hit[1] if hit else -1
    if chest >= 0 and chest != pelvis:
        found["chest"] = chest
        if pelvis >= 0 and pelvis in _ancestors(chest, parents):
            path = _ancestors(chest, parents)
            between = path[1:path.index(pelvis)][::-1]  # pelvis side first
            if between:
                found["spine"] = between[(len(between) - 1) // 2]
    hit = first(center, ("head",))
    if hit:
        found["head"] = hit[1]
    hit = first(center, ("neck", "neck1", "neck0", "lowerneck"))
    if hit:
        found["neck"] = hit[1]
    elif "head" in found and "chest" in found:
        path = _ancestors(found["head"], parents)
        if found["chest"] in path:
            between = path[1:path.index(found["chest"])]
            if between:
                found["neck"] = between[-1]
    mapping: dict[str, str] = {}
    for target, j in found.items():
        name = joint_names[j]
        if name not in mapping:
            mapping[name] = target
    return mapping


def derive_layout(name: str, joint_names: Sequence[str], parents: Sequence[int], *, source: str = "<bvh>",
                  description: str = "") -> Layout:
    """A layout for an unknown rig: names and parents from the file, ``to_unified`` guessed.

    The layout is not registered (it travels with the clip only).
    """
    mapping = guess_unified_mapping(joint_names, parents)
    try:
        return Layout(name, tuple(joint_names), tuple(parents), mapping,
                      description or f"Derived from the BVH hierarchy of {Path(source).name}.")
    except LayoutError as err:
        raise LayoutError(source, "hierarchy", err.reason) from None


# =============================================================================================
# NPZ / NPY
# =============================================================================================
def _npz_layout(raw: str, source: str) -> Layout:
    raw = raw.strip()
    if not raw.startswith("{"):
        try:
            return get_layout(raw)
        except LayoutError as err:
            raise LayoutError(source, "layout", err.reason) from None
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ClipFormatError(source, "layout", f"not valid JSON ({err.msg}), expected Layout.to_dict() JSON") from None
    layout = Layout.from_dict(spec, source=f"{source}: layout")
    try:
        registered = get_layout(layout.name)
    except LayoutError:
        return layout
    return registered if registered == layout else layout


def _npz_string(npz: Any, key: str, source: str) -> str:
    arr = npz[key]
    if arr.ndim != 0 or arr.dtype.kind not in "US":
        raise ClipFormatError(source, key, f"expected a string (0-d unicode array), got {arr.dtype} {arr.shape}")
    value = arr.item()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _check_positions(arr: np.ndarray, source: str, key: str) -> np.ndarray:
    if arr.dtype.kind not in "fiu":
        raise ClipFormatError(source, key, f"expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ClipFormatError(source, key, f"expected shape (frames, joints, 3), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ClipValueError(source, key, "zero frames, expected at least 1")
    return arr


def _require_layout(opts: _Options, num_joints: int, what: str) -> Layout:
    if opts.layout is None:
        cands = _candidates(num_joints)
        hint = (f"layouts with {num_joints} joints: {', '.join(cands)}" if cands
                else f"no registered layout has {num_joints} joints; write a layout file")
        raise LayoutError(opts.source, "layout", f"{what} has {num_joints} joints and no layout; pass layout= "
                                                 f"(--layout) ({hint})")
    if opts.layout.num_joints != num_joints:
        cands = _candidates(num_joints)
        raise ClipValueError(opts.source, "positions", f"{num_joints} joints but layout {opts.layout.name!r} has "
                                                       f"{opts.layout.num_joints}; layouts with {num_joints} joints: "
                                                       f"{', '.join(cands) or 'none'}")
    return opts.layout


def _array_where(layout: Layout) -> Callable[[int, int], str]:
    return lambda t, j: f"frame {t}, joint {layout.joint_names[j]!r}"


#: numpy's NPY/NPZ readers parse untrusted bytes with zipfile, zlib and a Python-literal header parser,
#: which raise many exception types on corrupt input (BadZipFile, zlib.error, SyntaxError, TokenError,
#: struct.error, EOFError, ValueError, ...): all of them mean "corrupt file" here.
_ARCHIVE_ERRORS = (Exception,)


def _as_float64(arr: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):  # e.g. signalling NaNs; non-finite values are reported later
        return np.asarray(arr, dtype=np.float64)


def _load_npz(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    try:
        npz = np.load(_io.BytesIO(data), allow_pickle=False)
    except _ARCHIVE_ERRORS as err:
        raise ClipFormatError(source, None, f"not a readable NPZ archive ({_err_text(err)})") from None
    if isinstance(npz, np.ndarray):  # an .npz name holding NPY data
        return _load_npy(path, data, opts)
    try:
        with npz:
            return _npz_clip(npz, opts)
    except ClipError:
        raise
    except _ARCHIVE_ERRORS as err:
        raise ClipFormatError(source, None, f"corrupt NPZ archive ({_err_text(err)})") from None


def _err_text(err: BaseException) -> str:
    return " ".join(str(err).split())[:120] or type(err).__name__


def _npz_clip(npz: Any, opts: _Options) -> SkeletonClip:
    source = opts.source
    keys = list(npz.files)
    for info in npz.zip.infolist():
        if info.file_size > opts.max_bytes:
            raise ClipLimitError(source, info.filename,
                                 f"{info.file_size} bytes uncompressed, the limit is {opts.max_bytes}")
    if "positions" in keys:
        key = "positions"
    else:
        shaped = [k for k in keys if len(npz[k].shape) == 3 and npz[k].shape[-1] == 3]
        if len(shaped) != 1:
            raise ClipFormatError(source, "positions", f"no 'positions' array (keys: {', '.join(keys) or 'none'}); "
                                                       "expected the project's NPZ format or one (T, J, 3) array")
        key = shaped[0]
    arr = _check_positions(npz[key], source, key)
    own = "layout" in keys
    if own:
        return _own_npz_clip(npz, arr, opts)
    layout = _require_layout(opts, arr.shape[1], "the NPZ")
    units = opts.units or "m"
    meta = {"source": source, "format": "npz", "units": units, "units_assumed": opts.units is None,
            "npz_key": key}
    fps = opts.fps
    if "fps" in keys:
        file_fps = _npz_fps(npz, source)
        meta["original_fps"] = file_fps
        fps = fps or file_fps
    if fps is None:
        fps, meta["fps_assumed"] = _DEFAULT_FPS, True
    return _finish(_as_float64(arr) * UNIT_SCALES[units], fps, layout, None, meta, opts, _array_where(layout))


def _npz_fps(npz: Any, source: str) -> float:
    arr = npz["fps"]
    if arr.size != 1 or arr.dtype.kind not in "fiu":
        raise ClipFormatError(source, "fps", f"expected a number, got dtype {arr.dtype} shape {arr.shape}")
    value = float(arr.reshape(()))
    if not math.isfinite(value) or value <= 0:
        raise ClipValueError(source, "fps", f"expected a positive number, got {value}")
    return value


def _own_npz_clip(npz: Any, arr: np.ndarray, opts: _Options) -> SkeletonClip:
    source = opts.source
    keys = set(npz.files)
    if opts.units not in (None, "m"):
        raise ClipValueError(source, "units argument", "the project's NPZ files are always in metres")
    stored = _npz_layout(_npz_string(npz, "layout", source), source)
    if "fps" not in keys:
        raise ClipFormatError(source, "fps", "missing, expected the frame rate")
    file_fps = _npz_fps(npz, source)
    meta: dict[str, Any] = {}
    if "meta" in keys:
        try:
            loaded = json.loads(_npz_string(npz, "meta", source))
        except json.JSONDecodeError as err:
            raise ClipFormatError(source, "meta", f"not valid JSON ({err.msg})") from None
        if not isinstance(loaded, dict):
            raise ClipFormatError(source, "meta", "expected a JSON object")
        meta.update(loaded)
    label = _npz_string(npz, "label", source) if "label" in keys else None
    if stored.num_joints != arr.shape[1]:
        raise ClipValueError(source, "positions", f"{arr.shape[1]} joints but the stored layout {stored.name!r} "
                                                  f"has {stored.num_joints}")
    layout = stored
    if opts.layout is not None and opts.layout != stored:
        arr = arr[:, _select_joints(stored.joint_names, opts.layout, source, "file's layout")]
        layout = opts.layout
    for key in ("source", "format", "units"):
        if key in meta and f"origin_{key}" not in meta:
            meta[f"origin_{key}"] = meta[key]
    meta.update(source=source, format="npz", units="m")
    meta.setdefault("original_fps", file_fps)
    if opts.fps is not None and opts.fps != file_fps:
        meta["fps_overridden"] = True
    return _finish(_as_float64(arr), opts.fps or file_fps, layout, label, meta, opts, _array_where(layout))


def _load_npy(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    try:
        arr = np.load(_io.BytesIO(data), allow_pickle=False)
    except _ARCHIVE_ERRORS as err:
        raise ClipFormatError(source, None, f"not a readable NPY array ({_err_text(err)})") from None
    if not isinstance(arr, np.ndarray):  # an .npy name holding an NPZ archive
        arr.close()
        return _load_npz(path, data, opts)
    if arr.ndim == 2 and opts.layout is not None and arr.shape[1] == 3 * opts.layout.num_joints:
        arr = arr.reshape(arr.shape[0], opts.layout.num_joints, 3)
    arr = _check_positions(arr, source, "array")
    layout = _require_layout(opts, arr.shape[1], "the NPY array")
    units = opts.units or "m"
    meta: dict[str, Any] = {"source": source, "format": "npy", "units": units, "units_assumed": opts.units is None}
    fps = opts.fps
    if fps is None:
        fps, meta["fps_assumed"] = _DEFAULT_FPS, True
    return _finish(_as_float64(arr) * UNIT_SCALES[units], fps, layout, None, meta, opts, _array_where(layout))


# =============================================================================================
# CSV
# =============================================================================================
_TIME_COLUMNS = {"time", "timestamp", "t", "time_s", "times", "seconds", "sec", "time_ms", "timestamp_ms",
                 "time_us", "timestamp_us", "timestamp_s"}
_FRAME_COLUMNS = {"frame", "frames", "frame_index", "frameindex", "frame_no", "frame_id", "index", "#frame"}
_AXIS_COLUMN = re.compile(r"^(.+?)[_.\s:-]([xyzXYZ])$")


def _load_csv(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    text = _decode_text(data, source)
    lines = text.split("\n")
    header_idx = next(i for i, line in enumerate(lines) if line.strip())
    header = lines[header_idx]
    delim = max((",", ";", "\t"), key=header.count)
    if header.count(delim) == 0:
        raise ClipFormatError(source, f"line {header_idx + 1}", "expected a header of comma-separated "
                                                                "<joint>_x,<joint>_y,<joint>_z columns")
    cols = [c.strip().strip('"').strip("'").strip() for c in header.split(delim)]
    lead: list[tuple[int, str]] = []
    while len(lead) < len(cols) and cols[len(lead)].lower() in (_TIME_COLUMNS | _FRAME_COLUMNS):
        name = cols[len(lead)].lower()
        lead.append((len(lead), "time" if name in _TIME_COLUMNS else "frame"))
    joints, axes = _csv_joint_columns(cols, len(lead), source, header_idx + 1)
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

    return _finish(positions * UNIT_SCALES[units], fps, layout, None, meta, opts, where)


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
    return _round_fps(1.0 / (step * scale)), units
