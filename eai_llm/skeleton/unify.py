"""Unify, normalise, resample and window clips (the data side of the unified skeleton token module).

All functions are pure: they take arrays or clips and return new ones.

The pipeline every model input goes through (:func:`prepare_windows`)::

    clip (any layout, metres) -> to_unified -> resample(fps) -> normalise -> windows (+ masks)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clip import SkeletonClip
from .errors import ClipValueError
from .layouts import UNIFIED, Layout

__all__ = [
    "to_unified", "resample", "facing_angle", "body_height", "normalise", "make_windows", "mirror",
    "WindowBatch", "prepare_windows",
]

_U = UNIFIED.index
_UP = np.array([0.0, 1.0, 0.0])


def to_unified(clip: SkeletonClip) -> tuple[SkeletonClip, np.ndarray]:
    """Map a clip onto the unified layout.

    Returns the unified clip and a (23,) bool joint mask (True = the source has this joint).
    Joints in the layout's ``midpoints`` (pose estimators' pelvis, neck, head) are the midpoint of
    their two source joints and count as present. Missing joints are filled with their nearest
    present ancestor's position (so bones have length 0, never garbage); the mask tells models to
    ignore them.
    """
    layout = clip.layout
    src = layout.unified_index  # (23,) index into source joints or -1
    mask = src >= 0
    mid, pairs = layout.unified_midpoints
    mask[mid] = True
    if not mask[_U["pelvis"]]:
        raise ClipValueError(clip.source, f"layout {layout.name!r}", "has no joint mapped to the unified 'pelvis'")
    out = np.empty((clip.num_frames, UNIFIED.num_joints, 3), dtype=np.float32)
    out[:, src >= 0] = clip.positions[:, src[src >= 0]]
    if mid.size:
        out[:, mid] = 0.5 * (clip.positions[:, pairs[:, 0]] + clip.positions[:, pairs[:, 1]])
    for j in UNIFIED.topological_order:  # parents first, so an ancestor is always filled
        if not mask[j]:
            out[:, j] = out[:, UNIFIED.parents[j]]
    meta = dict(clip.meta, source_layout=layout.name)
    return SkeletonClip(out, clip.fps, UNIFIED, clip.label, meta), mask


def resample(clip: SkeletonClip, fps: float) -> SkeletonClip:
    """Linear resampling to ``fps`` (vectorised over joints and axes)."""
    if abs(clip.fps - fps) < 1e-6:
        return clip
    t_src = np.arange(clip.num_frames) / clip.fps
    n = max(1, int(np.floor(t_src[-1] * fps + 1e-6)) + 1)
    t_dst = np.arange(n) / fps
    pos = clip.positions.reshape(clip.num_frames, -1)
    i = np.clip(np.searchsorted(t_src, t_dst, side="right") - 1, 0, clip.num_frames - 1)
    i1 = np.minimum(i + 1, clip.num_frames - 1)
    w = np.where(i1 > i, (t_dst - t_src[i]) * clip.fps, 0.0)[:, None].astype(np.float32)
    out = (pos[i] * (1 - w) + pos[i1] * w).reshape(n, clip.num_joints, 3)
    return SkeletonClip(out, fps, clip.layout, clip.label, dict(clip.meta, original_fps=clip.meta.get("original_fps", clip.fps)))


def _lateral(positions: np.ndarray, layout: Layout) -> np.ndarray:
    """(T, 3) left-minus-right vector from hips and shoulders (unified layout)."""
    idx = layout.index
    lat = np.zeros((positions.shape[0], 3), dtype=np.float64)
    for l, r in (("l_hip", "r_hip"), ("l_shoulder", "r_shoulder")):
        lat += positions[:, idx[l]] - positions[:, idx[r]]
    return lat


def facing_angle(positions: np.ndarray, layout: Layout = UNIFIED) -> np.ndarray:
    """(T,) yaw (radians) of the body's forward direction, 0 = facing +Z, positive towards +X.

    Forward = lateral (left - right) x up, from hips and shoulders, projected on the floor.
    """
    lat = _lateral(positions, layout)
    fwd = np.cross(lat, _UP)
    return np.arctan2(fwd[:, 0], fwd[:, 2])


def body_height(positions: np.ndarray, joint_mask: np.ndarray | None = None) -> float:
    """Body height (m) of a unified clip from bone lengths (median over frames), robust to pose.

    Sums the leg chain (hip-knee-ankle), pelvis-to-neck and neck-to-head segments, plus a small
    fixed allowance for foot and head top. Missing joints shorten the chain; the result is used only
    for scale normalisation.
    """
    def seg(a: str, b: str) -> float:
        return float(np.median(np.linalg.norm(positions[:, _U[a]] - positions[:, _U[b]], axis=-1)))

    leg = (seg("l_hip", "l_knee") + seg("l_knee", "l_ankle") + seg("r_hip", "r_knee") + seg("r_knee", "r_ankle")) / 2
    trunk = seg("pelvis", "neck") + seg("neck", "head")
    height = (leg + trunk) * 1.1  # ankle-to-floor and head-top allowance (~10%)
    return height if height > 1e-3 else 1.0


#: Height of the ankle joints above the floor, as a share of body height (the 5th percentile of the lowest ankle
#: over the Bandai Namco dataset-1 clips, normalised: 0.0535, 10th-90th percentile 0.0534-0.0541). A rig without
#: feet (h36m_17, emotion_gait_16) finds its floor this far below its ankles, not at them.
ANKLE_ABOVE_FLOOR = 0.0535


def normalise(clip: SkeletonClip, *, scale: bool = True, joint_mask: np.ndarray | None = None) -> SkeletonClip:
    """Root-centre, face +Z, floor at y = 0 and (optionally) divide by body height.

    - horizontal root-centring on the pelvis of the first frame (the trajectory is kept, so speed
      survives);
    - rotation about Y so that the body faces +Z at the first frame (median of the first 10 frames);
    - floor: the lowest point of the clip (5th percentile of per-frame minimum heights) becomes y = 0; with a
      ``joint_mask`` (from :func:`to_unified`) that has ankles but no feet, the floor is
      :data:`ANKLE_ABOVE_FLOOR` body heights below the lowest ankles instead, so that a rig without feet puts the
      body at the same height as one with them;
    - scale: positions divided by :func:`body_height` (a unit-height body).
    Input must be in the unified layout.
    """
    if clip.layout.name != UNIFIED.name:
        raise ClipValueError(clip.source, "layout", f"normalise expects a unified clip, got {clip.layout.name!r}")
    pos = clip.positions.astype(np.float64)
    yaw = float(np.median(facing_angle(pos[: min(10, len(pos))])))
    c, s = np.cos(-yaw), np.sin(-yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # rotation about Y by -yaw
    origin = pos[0, _U["pelvis"]].copy()
    origin[1] = 0.0
    pos = (pos - origin) @ rot.T
    feetless = joint_mask is not None and not joint_mask[[_U["l_foot"], _U["r_foot"]]].any() \
        and joint_mask[[_U["l_ankle"], _U["r_ankle"]]].all()
    if feetless:
        ankles = pos[:, [_U["l_ankle"], _U["r_ankle"]], 1].min(axis=1)
        pos[..., 1] -= np.percentile(ankles, 5) - ANKLE_ABOVE_FLOOR * body_height(pos)
    else:
        pos[..., 1] -= np.percentile(pos[..., 1].min(axis=1), 5)
    meta = dict(clip.meta)
    if scale:
        h = body_height(pos)
        pos /= h
        meta["body_height_m"] = h
    meta["normalised"] = True
    return SkeletonClip(pos.astype(np.float32), clip.fps, clip.layout, clip.label, meta)


def make_windows(positions: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut (T, J, 3) into fixed-length windows.

    Returns windows (N, window, J, 3), frame_mask (N, window) bool (False = padding) and start
    frames (N,). A clip shorter than ``window`` gives one window padded by repeating its last frame
    (the mask marks the padding). The last window is aligned to the clip's end so no frames are lost.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    t = positions.shape[0]
    if t <= window:
        starts = np.array([0])
    else:
        starts = np.arange(0, t - window + 1, stride)
        if starts[-1] != t - window:
            starts = np.append(starts, t - window)
    idx = starts[:, None] + np.arange(window)[None, :]
    mask = idx < t
    wins = positions[np.minimum(idx, t - 1)]
    return wins.astype(np.float32), mask, starts


def mirror(positions: np.ndarray, layout: Layout = UNIFIED) -> np.ndarray:
    """Left/right mirror augmentation: negate X and swap the derived mirror pairs.

    Expects body-facing-+Z coordinates (after :func:`normalise`), so X is the lateral axis.
    """
    out = positions[..., layout.mirror_permutation, :].copy()
    out[..., 0] *= -1
    return out


@dataclass(frozen=True)
class WindowBatch:
    """Model-ready windows of one clip.

    positions: (N, W, 23, 3) float32, unified, normalised (unit body height, facing +Z, floor y=0)
    frame_mask: (N, W) bool, False for padded frames
    joint_mask: (23,) bool, False for unified joints the source layout lacks
    starts: (N,) start frame of each window at ``fps``
    fps: frame rate after resampling
    """

    positions: np.ndarray
    frame_mask: np.ndarray
    joint_mask: np.ndarray
    starts: np.ndarray
    fps: float

    def __len__(self) -> int:
        return int(self.positions.shape[0])


def prepare_windows(clip: SkeletonClip, *, fps: float = 20.0, window: int = 64, stride: int = 32) -> WindowBatch:
    """The full pipeline: unify -> resample -> normalise -> windows."""
    unified, joint_mask = to_unified(clip)
    norm = normalise(resample(unified, fps), joint_mask=joint_mask)
    wins, fmask, starts = make_windows(norm.positions, window, stride)
    return WindowBatch(wins, fmask, joint_mask, starts, float(fps))
