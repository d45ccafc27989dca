"""NPZ files: the project's own format (positions, fps, layout JSON, label, meta) and foreign archives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..clip import SkeletonClip
from ..errors import ClipError, ClipFormatError, ClipLimitError, ClipValueError, LayoutError
from ..layouts import Layout, list_layouts, registered_layout
from .confidence import split_confidence
from .limits import _DEFAULT_FPS, MAX_TEXT_BYTES, check_fps
from .options import _Options
from .shared import (_ARCHIVE_ERRORS, _array_where, _as_float64, _check_array_shape, _check_positions, _err_text,
                     _finish, _np_load, _npy_shape, _require_layout, _select_joints)
from .text import _show
from .units import UNIT_SCALES

#: Archive members holding text (JSON or a label): capped at MAX_TEXT_BYTES before they are read.
_TEXT_MEMBERS = ("layout.npy", "meta.npy", "label.npy")


def _npz_layout(raw: str, source: str) -> Layout:
    """The layout stored in the file: embedded JSON, or the name of a *registered* layout.

    Never a path: a string that is no registered name is an error, whatever it looks like, and nothing
    read here is registered (the layout travels with this clip only).
    """
    raw = raw.strip()
    if not raw.startswith("{"):
        found = registered_layout(raw)
        if found is None:
            raise LayoutError(source, "layout", f"{_show(raw)} is not a registered layout name; the file must embed "
                                                f"its layout as JSON or name one of {', '.join(list_layouts())}")
        return found
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ClipFormatError(source, "layout", f"not valid JSON ({err.msg}), expected Layout.to_dict() JSON") from None
    layout = Layout.from_dict(spec, source=f"{source}: layout")
    registered = registered_layout(layout.name)
    return registered if registered == layout else layout


def _npz_string(npz: Any, key: str, source: str) -> str:
    arr = npz[key]
    if arr.ndim != 0 or arr.dtype.kind not in "US":
        raise ClipFormatError(source, key, f"expected a string (0-d unicode array), got {arr.dtype} {arr.shape}")
    value = arr.item()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _load_npz(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    try:
        npz = _np_load(data)
    except _ARCHIVE_ERRORS as err:
        raise ClipFormatError(source, None, f"not a readable NPZ archive ({_err_text(err)})") from None
    if isinstance(npz, np.ndarray):  # an .npz name holding NPY data
        from .npy import _load_npy  # NPY bytes under an .npz name

        return _load_npy(path, data, opts)
    try:
        with npz:
            return _npz_clip(npz, opts)
    except ClipError:
        raise
    except _ARCHIVE_ERRORS as err:
        raise ClipFormatError(source, None, f"corrupt NPZ archive ({_err_text(err)})") from None


def _npz_clip(npz: Any, opts: _Options) -> SkeletonClip:
    source = opts.source
    keys = list(npz.files)
    total = sum(info.file_size for info in npz.zip.infolist())
    if total > opts.max_bytes:
        raise ClipLimitError(source, None, f"{total} bytes uncompressed in all, the limit is {opts.max_bytes}")
    for info in npz.zip.infolist():
        if info.file_size > opts.max_bytes:
            raise ClipLimitError(source, info.filename,
                                 f"{info.file_size} bytes uncompressed, the limit is {opts.max_bytes}")
        if info.filename in _TEXT_MEMBERS and info.file_size > MAX_TEXT_BYTES:
            raise ClipLimitError(source, info.filename[:-4],
                                 f"{info.file_size} bytes of text, the limit is {MAX_TEXT_BYTES}")
    shapes = {k: _member_shape(npz, k) for k in keys}
    if "positions" in keys:
        key = "positions"
    else:
        shaped = [k for k in keys if shapes[k] is not None and len(shapes[k]) == 3 and shapes[k][-1] in (3, 4)]
        if len(shaped) != 1:
            raise ClipFormatError(source, "positions", f"no 'positions' array (keys: {', '.join(keys) or 'none'}); "
                                                       "expected the project's NPZ format or one (T, J, 3) array")
        key = shaped[0]
    _check_array_shape(shapes[key], opts, key)
    arr = _check_positions(npz[key], source, key)
    own = "layout" in keys
    if own:
        if arr.shape[-1] != 3:
            raise ClipFormatError(source, key, f"expected shape (frames, joints, 3) in the project's NPZ, "
                                               f"got {arr.shape}")
        return _own_npz_clip(npz, arr, opts)
    units = opts.units or "m"
    meta: dict[str, Any] = {"source": source, "format": "npz", "units": units, "units_assumed": opts.units is None,
                            "npz_key": key}
    layout = _require_layout(opts, arr.shape[1], "the NPZ", meta)
    fps = opts.fps
    if "fps" in keys:
        file_fps = _npz_fps(npz, source)
        meta["original_fps"] = file_fps
        fps = fps or file_fps
    if fps is None:
        fps, meta["fps_assumed"] = _DEFAULT_FPS, True
    return _finish(split_confidence(arr, opts.min_confidence, meta) * UNIT_SCALES[units], fps, layout, None, meta,
                   opts, _array_where(layout),
                   check_units=None if opts.units else units)


def _member_shape(npz: Any, key: str) -> tuple[int, ...] | None:
    """The shape of an archive member from its NPY header, without reading its data."""
    try:
        with npz.zip.open(f"{key}.npy") as fh:
            return _npy_shape(fh)
    except _ARCHIVE_ERRORS:
        return None


def _npz_fps(npz: Any, source: str) -> float:
    arr = npz["fps"]
    if arr.size != 1 or arr.dtype.kind not in "fiu":
        raise ClipFormatError(source, "fps", f"expected a number, got dtype {arr.dtype} shape {arr.shape}")
    with np.errstate(all="ignore"):
        value = float(arr.reshape(()))
    return check_fps(value, source, "fps")


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
        if "warnings" in meta:  # facts only: keep short strings, drop anything else
            kept = meta["warnings"] if isinstance(meta["warnings"], list) else []
            meta["warnings"] = [" ".join(w.split())[:300] for w in kept if isinstance(w, str)][:20]
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
