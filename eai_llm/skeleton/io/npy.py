"""NPY files: one (T, J, 3) array (or (T, 3J)) in a layout the caller names."""

from __future__ import annotations

import io as _io
from pathlib import Path
from typing import Any

import numpy as np

from ..clip import SkeletonClip
from ..errors import ClipFormatError
from .confidence import split_confidence
from .limits import _DEFAULT_FPS
from .options import _Options
from .shared import (_ARCHIVE_ERRORS, _array_where, _check_array_shape, _check_positions, _err_text, _finish,
                     _np_load, _npy_shape, _require_layout)
from .units import UNIT_SCALES


def _load_npy(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    if data.startswith(b"\x93NUMPY"):
        _check_array_shape(_npy_shape(_io.BytesIO(data)), opts, "array")
    try:
        arr = _np_load(data)
    except _ARCHIVE_ERRORS as err:
        raise ClipFormatError(source, None, f"not a readable NPY array ({_err_text(err)})") from None
    if not isinstance(arr, np.ndarray):  # an .npy name holding an NPZ archive
        arr.close()
        from .npz import _load_npz  # an archive under an .npy name (the two readers call each other)

        return _load_npz(path, data, opts)
    if arr.ndim == 2 and opts.layout is not None and arr.shape[1] == 3 * opts.layout.num_joints:
        arr = arr.reshape(arr.shape[0], opts.layout.num_joints, 3)
    arr = _check_positions(arr, source, "array")
    units = opts.units or "m"
    meta: dict[str, Any] = {"source": source, "format": "npy", "units": units, "units_assumed": opts.units is None}
    layout = _require_layout(opts, arr.shape[1], "the NPY array", meta)
    fps = opts.fps
    if fps is None:
        fps, meta["fps_assumed"] = _DEFAULT_FPS, True
    positions = split_confidence(arr, opts.min_confidence, meta) * UNIT_SCALES[units]
    return _finish(positions, fps, layout, None, meta, opts, _array_where(layout),
                   check_units=None if opts.units else units)
