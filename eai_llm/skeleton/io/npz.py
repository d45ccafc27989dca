"""NPZ files: the project's own format (positions, fps, layout JSON, label, meta) and foreign archives."""

from __future__ import annotations

import io as _io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..clip import SkeletonClip
from ..errors import ClipError, ClipFormatError, ClipLimitError, ClipValueError, LayoutError
from ..layouts import Layout, get_layout
from .limits import _DEFAULT_FPS
from .options import _Options
from .shared import (_ARCHIVE_ERRORS, _array_where, _as_float64, _check_positions, _err_text, _finish,
                     _require_layout, _select_joints)
from .units import UNIT_SCALES


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


def _load_npz(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    try:
        npz = np.load(_io.BytesIO(data), allow_pickle=False)
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
