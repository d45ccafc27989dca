"""The clip data model: a pose sequence in metres, Y up, with its layout."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import ClipValueError
from .layouts import Layout, get_layout

__all__ = ["SkeletonClip", "MAX_FRAMES", "interpolate_gaps"]

#: Clips longer than this are refused (about 55 minutes at 30 fps).
MAX_FRAMES = 100_000


@dataclass(frozen=True)
class SkeletonClip:
    """A 3D skeleton clip.

    positions: float32 array (T, J, 3) in metres, Y up, finite.
    fps: frames per second (> 0).
    layout: the clip's :class:`Layout` (J joints).
    label: optional label (e.g. an emotion).
    meta: free-form facts about the source (``source``, ``units``, ``original_fps``, ...).
    """

    positions: np.ndarray
    fps: float
    layout: Layout
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        source = self.meta.get("source", "<array>") if isinstance(self.meta, dict) else "<array>"
        layout = self.layout
        if not isinstance(layout, Layout):
            layout = get_layout(layout)
            object.__setattr__(self, "layout", layout)
        try:
            pos = np.asarray(self.positions, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise ClipValueError(source, "positions", f"not a numeric array ({err})") from None
        if pos.ndim != 3 or pos.shape[-1] != 3:
            raise ClipValueError(source, "positions", f"expected shape (frames, joints, 3), got {pos.shape}")
        if pos.shape[0] == 0:
            raise ClipValueError(source, "positions", "zero frames, expected at least 1")
        if pos.shape[0] > MAX_FRAMES:
            from .errors import ClipLimitError

            raise ClipLimitError(source, "positions", f"{pos.shape[0]} frames, the limit is {MAX_FRAMES}")
        if pos.shape[1] != layout.num_joints:
            raise ClipValueError(
                source, "positions",
                f"{pos.shape[1]} joints but layout {layout.name!r} has {layout.num_joints}",
            )
        bad = ~np.isfinite(pos)
        if bad.any():
            t, j, _ = np.argwhere(bad)[0]
            raise ClipValueError(
                source, f"frame {t}, joint {layout.joint_names[j]!r}",
                f"{int(bad.any(axis=2).sum())} non-finite (NaN/inf) positions; pass interpolate_gaps=True to fill short gaps",
            )
        try:
            fps = float(self.fps)
        except (TypeError, ValueError):
            raise ClipValueError(source, "fps", f"expected a positive number, got {self.fps!r}") from None
        if not np.isfinite(fps) or fps <= 0:
            raise ClipValueError(source, "fps", f"expected a positive number, got {self.fps!r}")
        pos.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "fps", fps)
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.positions.shape[1])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame plus one frame interval."""
        return self.num_frames / self.fps

    @property
    def source(self) -> str:
        return str(self.meta.get("source", "<array>"))

    def joint(self, name: str) -> np.ndarray:
        """(T, 3) trajectory of one joint."""
        return self.positions[:, self.layout.index[name]]

    def replace(self, **changes: Any) -> "SkeletonClip":
        return replace(self, **changes)

    def __repr__(self) -> str:
        return (f"SkeletonClip(layout={self.layout.name!r}, frames={self.num_frames}, fps={self.fps:g}, "
                f"duration={self.duration:.2f}s, label={self.label!r}, source={self.source!r})")


def interpolate_gaps(positions: np.ndarray, max_gap: int, source: str = "<array>",
                     joint_names: tuple[str, ...] | None = None) -> tuple[np.ndarray, int]:
    """Fill runs of non-finite values (NaN/inf) of at most ``max_gap`` frames by linear interpolation.

    Returns the filled array and the number of frames that were filled. Longer gaps, or gaps at the
    clip's start or end that cannot be bracketed, raise :class:`ClipValueError`. Never called
    silently: loaders call it only when the user asks (``interpolate_gaps=N``).
    """
    pos = np.array(positions, dtype=np.float32, copy=True)
    bad = ~np.isfinite(pos).all(axis=2)  # (T, J)
    if not bad.any():
        return pos, 0
    t = np.arange(pos.shape[0])
    filled = 0
    for j in np.flatnonzero(bad.any(axis=0)):
        b = bad[:, j]
        joint = repr(joint_names[j]) if joint_names is not None and j < len(joint_names) else str(j)
        # run lengths of bad frames
        edges = np.diff(np.concatenate([[0], b.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        longest = int((ends - starts).max())
        if longest > max_gap:
            k = int(np.argmax(ends - starts))
            raise ClipValueError(source, f"joint {joint}, frames {starts[k]}..{ends[k] - 1}",
                                 f"gap of {longest} non-finite frames exceeds the allowed {max_gap}")
        if b[0] or b[-1]:
            raise ClipValueError(source, f"joint {joint}", "non-finite values at the clip's start or end cannot be "
                                                           "interpolated")
        good = ~b
        for c in range(3):
            pos[b, j, c] = np.interp(t[b], t[good], pos[good, j, c])
        filled += int(b.sum())
    return pos, filled
