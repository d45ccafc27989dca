"""Steps every reader shares: layout look-up by joints, joint selection, the NaN policy, construction."""

from __future__ import annotations

import io as _io
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from ..clip import SkeletonClip
from ..clip import interpolate_gaps as _fill_gaps
from ..errors import ClipFormatError, ClipLimitError, ClipValueError, LayoutError
from ..layouts import Layout, get_layout, list_layouts, match_layout
from .confidence import layout_for_joints
from .limits import check_duration, check_shape
from .options import _Options
from .units import UNIT_SCALES, body_size, note_units


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


def _check_positions(arr: np.ndarray, source: str, key: str) -> np.ndarray:
    if arr.dtype.kind not in "fiu":
        raise ClipFormatError(source, key, f"expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ClipFormatError(source, key, f"expected shape (frames, joints, 3) or (frames, joints, 4) with a "
                                           f"confidence channel, got {arr.shape}")
    if arr.shape[0] == 0:
        raise ClipValueError(source, key, "zero frames, expected at least 1")
    return arr


def _require_layout(opts: _Options, num_joints: int, what: str, meta: dict[str, Any]) -> Layout:
    """The caller's layout, or the only registered one with this joint count (see confidence.py)."""
    return layout_for_joints(opts.layout, num_joints, opts.source, what, meta)


def _array_where(layout: Layout) -> Callable[[int, int], str]:
    return lambda t, j: f"frame {t}, joint {layout.joint_names[j]!r}"


#: numpy's NPY/NPZ readers parse untrusted bytes with zipfile, zlib and a Python-literal header parser,
#: which raise many exception types on corrupt input (BadZipFile, zlib.error, SyntaxError, TokenError,
#: struct.error, EOFError, ValueError, ...): all of them mean "corrupt file" here.
_ARCHIVE_ERRORS = (Exception,)

def _npy_shape(fh: Any) -> tuple[int, ...] | None:
    """The array shape from an NPY header (file object at the start), or None when it cannot be read.

    Reads only the header, so limits are checked before numpy allocates the array.
    """
    from numpy.lib import format as npy_format

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "created on Python 2": the header is checked, not trusted
            version = npy_format.read_magic(fh)
            reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape = reader(fh)[0]
    except _ARCHIVE_ERRORS:
        return None
    return tuple(int(s) for s in shape) if isinstance(shape, tuple) else None


def _check_array_shape(shape: tuple[int, ...] | None, opts: _Options, key: str) -> None:
    """Joint, frame and memory limits of a (T, J, C) or (T, 3J) array from its header."""
    if shape is None or len(shape) not in (2, 3):
        return  # reported by _check_positions once loaded (corrupt headers by numpy)
    frames, joints = shape[0], (shape[1] if len(shape) == 3 else shape[1] // 3)
    check_shape(opts.source, key, frames, joints, max_frames=opts.max_frames, max_memory=opts.max_memory)


def _np_load(data: bytes) -> Any:
    """``np.load`` of untrusted bytes: no pickles, numpy's header warnings silenced (it raises on real damage)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.load(_io.BytesIO(data), allow_pickle=False)


def _as_float64(arr: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):  # e.g. signalling NaNs; non-finite values are reported later
        return np.asarray(arr, dtype=np.float64)


def _err_text(err: BaseException) -> str:
    return " ".join(str(err).split())[:120] or type(err).__name__


def _finish(positions: np.ndarray, fps: float, layout: Layout, label: str | None, meta: dict[str, Any],
            opts: _Options, where: Callable[[int, int], str], check_units: str | None = None) -> SkeletonClip:
    """NaN policy, frame limit and construction shared by all readers (positions in metres).

    ``check_units``: the units an array reader assumed (not given by the caller): the body height is
    then checked and a "units unclear" warning recorded in ``meta`` when it is implausible.
    """
    source = opts.source
    n = positions.shape[0]
    if n == 0:
        raise ClipValueError(source, "frames", "zero frames, expected at least 1")
    if n > opts.max_frames:
        raise ClipLimitError(source, "frames", f"{n} frames, the limit is {opts.max_frames}")
    check_duration(n, fps, source)
    with np.errstate(all="ignore"):  # overflow to inf is reported below as non-finite
        pos = np.asarray(positions, dtype=np.float64)
        finite = np.isfinite(pos).all(axis=2)
        pos32 = pos.astype(np.float32)
        finite &= np.isfinite(pos32).all(axis=2)
    if not finite.all():
        if opts.gap <= 0:
            t, j = np.argwhere(~finite)[0]
            count = int((~finite).sum())
            what = (f"low-confidence (< {meta['min_confidence']:g}) or non-finite" if meta.get("confidence_channel")
                    else "non-finite (NaN/inf)")
            raise ClipValueError(source, where(int(t), int(j)),
                                 f"{what} position ({count} joint-frames in all); expected finite "
                                 "numbers, or pass interpolate_gaps=N to fill gaps of up to N frames")
        pos32 = np.where(finite[..., None], pos32, np.nan).astype(np.float32)
        pos32, filled = _fill_gaps(pos32, opts.gap, source, layout.joint_names)
        meta["interpolated_frames"] = filled
    elif opts.gap > 0:
        meta["interpolated_frames"] = 0
    if opts.gap > 0:
        meta["interpolate_gaps"] = opts.gap
    if check_units is not None:
        note_units(meta, body_size(pos32) / UNIT_SCALES[check_units], check_units)
    return SkeletonClip(pos32, fps, layout, label, meta)
