"""The front door: format detection and :func:`load_clip`, which hands the bytes to one reader."""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

from ..clip import MAX_FRAMES, SkeletonClip
from ..errors import ClipFormatError
from ..layouts import Layout
from .bvh_reader import _load_bvh
from .confidence import resolve_min_confidence
from .csvfile import _load_csv
from .limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMORY, FORMATS
from .npy import _load_npy
from .npz import _load_npz
from .options import _Options, _read_bytes, _resolve_fps, _resolve_gap, _resolve_layout, _resolve_units


def load_clip(
    path: str | PathLike,
    layout: str | Layout | None = None,
    *,
    units: str | None = None,
    fps: float | None = None,
    interpolate_gaps: int | bool = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_frames: int = MAX_FRAMES,
    max_memory: int = DEFAULT_MAX_MEMORY,
    min_confidence: float | None = None,
) -> SkeletonClip:
    """Read a BVH, NPZ, NPY or CSV clip into a :class:`SkeletonClip` (metres, Y up).

    path: the file; the format comes from its suffix, or from its content for other suffixes.
    layout: a layout name, layout file (.json/.yaml) or :class:`Layout`. For NPY (and foreign NPZ)
        required unless exactly one registered layout has the array's joint count; optional for BVH
        (joint names are matched against the registry, else a layout ``bvh:<stem>`` is derived from
        the hierarchy) and CSV (recognised from the column names).
    units: the file's length unit (``m``, ``cm``, ``mm``, ``inch``) when detection (BVH) or the
        metre default (NPY/CSV) is wrong.
    fps: frame rate; overrides what the file says (the file's value stays in
        ``meta["original_fps"]``); needed for NPY and CSV without a time column (else 30 is assumed
        and ``meta["fps_assumed"] = True``).
    interpolate_gaps: fill runs of NaN/inf of at most this many frames by linear interpolation
        (``True`` = 5 frames); the number of filled joint-frames goes to
        ``meta["interpolated_frames"]``. With 0 (default) any NaN/inf raises :class:`ClipValueError`.
    min_confidence: for ``(T, J, 4)`` NPY/NPZ arrays (x, y, z, confidence from a pose estimator):
        joint-frames below this confidence (default 0.5) become gaps, filled only with
        ``interpolate_gaps``; see :mod:`eai_llm.skeleton.io.confidence`.
    max_bytes, max_frames, max_memory: limits (file bytes, frames, estimated peak bytes of the read)
        beyond which :class:`ClipLimitError` is raised, checked before the memory is allocated. Joints
        (:data:`MAX_JOINTS`), frame rate (:data:`MIN_FPS`..:data:`MAX_FPS`) and duration
        (:data:`MAX_DURATION_S`) are capped too (see :mod:`eai_llm.skeleton.io.limits`).

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
        max_memory=int(max_memory),
        min_confidence=resolve_min_confidence(min_confidence, source),
    )
    reader = {"bvh": _load_bvh, "npz": _load_npz, "npy": _load_npy, "csv": _load_csv}[fmt]
    return reader(path, data, opts)


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
