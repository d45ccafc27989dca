"""Pose-estimator arrays: a 4th confidence channel, and choosing a layout from the joint count.

MediaPipe, OpenPose and 3D lifters write ``(T, J, 4)`` arrays: x, y, z and a confidence (MediaPipe's
``visibility``, OpenPose's score). A joint-frame whose confidence is below ``min_confidence`` (default
:data:`DEFAULT_MIN_CONFIDENCE`; NaN counts as low) becomes a gap (NaN), so the readers' gap policy
applies: an error unless ``interpolate_gaps=N`` fills gaps of at most N frames. ``meta`` records
``min_confidence`` and ``low_confidence_joint_frames``.

When an NPY (or foreign NPZ) comes without a layout, the layout is chosen from the joint count only
when exactly one registered layout has that many joints (33 -> ``mediapipe_33``, 23 -> ``unified``,
24 -> ``smpl_24``, 16 -> ``emotion_gait_16``); the choice is a line in ``meta["warnings"]``. Counts
that several layouts share (17: ``h36m_17``/``coco_17``, 22: ``bandai_namco_22``/``smpl_22``, 25:
``kinect_v2``/``openpose_25``) are a :class:`LayoutError` listing them: pass ``layout=``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ClipValueError, LayoutError
from ..layouts import Layout, get_layout, list_layouts

#: Joint-frames with a confidence below this become gaps (``min_confidence=`` / ``--min-confidence``).
DEFAULT_MIN_CONFIDENCE = 0.5


def resolve_min_confidence(value: float | None, source: str) -> float:
    """The caller's threshold: a number in 0..1 (None = the default)."""
    if value is None:
        return DEFAULT_MIN_CONFIDENCE
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not 0.0 <= v <= 1.0:
        raise ClipValueError(source, "min_confidence argument", f"expected a number from 0 to 1, got {value!r}")
    return v


def split_confidence(arr: np.ndarray, min_confidence: float, meta: dict[str, Any]) -> np.ndarray:
    """(T, J, 3) float64 positions of a (T, J, 3) or (T, J, 4) array; low-confidence joint-frames -> NaN."""
    with np.errstate(all="ignore"):
        pos = np.array(arr[..., :3], dtype=np.float64)
        if arr.shape[-1] == 4:
            low = ~(np.asarray(arr[..., 3], dtype=np.float64) >= min_confidence)  # NaN confidence is low
            pos[low] = np.nan
            meta["confidence_channel"] = True
            meta["min_confidence"] = min_confidence
            meta["low_confidence_joint_frames"] = int(low.sum())
    return pos


def layout_for_joints(layout: Layout | None, num_joints: int, source: str, what: str,
                      meta: dict[str, Any]) -> Layout:
    """The caller's layout, else the only registered layout with ``num_joints`` joints (noted in meta)."""
    if layout is not None:
        if layout.num_joints != num_joints:
            cands = candidates(num_joints)
            raise ClipValueError(source, "positions", f"{num_joints} joints but layout {layout.name!r} has "
                                                      f"{layout.num_joints}; layouts with {num_joints} joints: "
                                                      f"{', '.join(cands) or 'none'}")
        return layout
    cands = candidates(num_joints)
    if len(cands) == 1:
        meta["layout_from_joint_count"] = True
        meta.setdefault("warnings", []).append(
            f"layout {cands[0]} chosen from the joint count ({num_joints}); pass --layout if that is wrong")
        return get_layout(cands[0])
    hint = (f"layouts with {num_joints} joints: {', '.join(cands)}" if cands
            else f"no registered layout has {num_joints} joints; write a layout file")
    raise LayoutError(source, "layout", f"{what} has {num_joints} joints and no layout; pass layout= (--layout) "
                                        f"({hint})")


def candidates(num_joints: int) -> list[str]:
    """Registered layouts with ``num_joints`` joints."""
    return [n for n in list_layouts() if get_layout(n).num_joints == num_joints]
