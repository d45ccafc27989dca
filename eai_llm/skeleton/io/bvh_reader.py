"""BVH files to clips: parse, forward kinematics, units from the body's size, layout by joint names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..clip import SkeletonClip
from ..errors import ClipValueError
from ..layouts import Layout
from .bvh import parse_bvh, BvhData
from .kinematics import _body_size, bvh_positions
from .options import _Options
from .rig_names import derive_layout
from .shared import _finish, _layout_by_name_set, _select_joints
from .text import _decode_text, _round_fps
from .units import UNIT_SCALES, detect_units, note_units


def _load_bvh(path: Path, data: bytes, opts: _Options) -> SkeletonClip:
    source = opts.source
    text = _decode_text(data, source)
    bvh = parse_bvh(text, source, opts.max_frames, opts.max_memory)
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
    if opts.units is None:
        note_units(meta, height, units)
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
