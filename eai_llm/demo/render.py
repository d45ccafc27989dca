"""The skeleton animation of the demo: a clip's unified, normalised skeleton as an animated GIF.

:func:`project_skeleton` projects every kept frame at once (vectorised over frames and joints);
:func:`render_animation` draws the frames with PIL and writes the GIF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..skeleton.clip import SkeletonClip

__all__ = ["Projection", "project_skeleton", "render_animation"]

#: GIF palette: background, floor grid, shadow, centre bones, left bones, right bones, joints, text.
_PALETTE = [(248, 250, 252), (214, 220, 230), (203, 213, 225), (71, 85, 105), (37, 99, 235), (234, 88, 12),
            (15, 23, 42), (100, 116, 139), (22, 163, 74)]
_BG, _GRID, _SHADOW, _CENTRE, _LEFT, _RIGHT, _JOINT, _TEXT, _HIGHLIGHT = range(9)


def _drawn_edges(joint_mask: np.ndarray) -> np.ndarray:
    """(E, 2) unified (parent, child) pairs to draw: each present joint joins its nearest present ancestor."""
    from ..skeleton.layouts import UNIFIED

    edges = []
    for child in range(UNIFIED.num_joints):
        if not joint_mask[child]:
            continue
        parent = UNIFIED.parents[child]
        while parent >= 0 and not joint_mask[parent]:
            parent = UNIFIED.parents[parent]
        if parent >= 0:
            edges.append((parent, child))
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


def _camera(yaw_deg: float, elevation_deg: float) -> np.ndarray:
    """3x3 world -> camera rotation: yaw about Y, then tilt about X (camera x right, y up, z towards viewer)."""
    a, e = math.radians(yaw_deg), math.radians(elevation_deg)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
    return rx @ ry


@dataclass
class Projection:
    """A clip projected for drawing: pixel coordinates per kept frame, plus what to draw them with."""

    joints: np.ndarray        # (F, 23, 2) pixel x, y
    depth: np.ndarray         # (F, 23) larger = farther from the viewer
    edges: np.ndarray         # (E, 2) unified joint pairs
    edge_colour: np.ndarray   # (E,) palette index
    grid: np.ndarray          # (F, L, 2, 2) floor-line end points in pixels
    shadow: tuple[float, float, float, float]
    times: np.ndarray         # (F,) seconds
    frame_ms: int             # display time per frame
    size: tuple[int, int]
    highlight: np.ndarray | None = None   # (F, E) bool: bones drawn in the highlight colour in that frame
    caption: str = ""                     # what the highlight is, shown while it is on


def project_skeleton(clip: "SkeletonClip", *, size: int = 360, max_frames: int = 150, target_fps: float = 12.5,
                     yaw_deg: float = -35.0, elevation_deg: float = 14.0, highlight: dict | None = None) -> Projection:
    """Unify, normalise (unit height, facing +Z, floor y=0), subsample and project a clip orthographically.

    The camera follows the pelvis horizontally (the floor grid slides instead, so walking stays visible) and
    looks from the front-left, slightly from above. Everything is vectorised over frames and joints.
    ``highlight`` (``{"joints": [unified names], "start_s", "end_s", "part"}``, e.g. an attribution's top cell):
    the bones ending in those joints are drawn in green while the animation is inside that time span.
    """
    from ..skeleton.layouts import UNIFIED
    from ..skeleton.unify import normalise, to_unified

    unified, mask = to_unified(clip)
    pos = normalise(unified, joint_mask=mask).positions.astype(np.float64)
    step = max(1, round(clip.fps / target_fps), math.ceil(len(pos) / max_frames))
    keep = np.arange(0, len(pos), step)
    pos = pos[keep]
    root = pos[:, UNIFIED.index["pelvis"], :].copy()
    root[:, 1] = 0.0
    pos = pos - root[:, None, :]                            # follow the pelvis on the floor plane
    rot = _camera(yaw_deg, elevation_deg)
    cam = pos @ rot.T                                       # (F, 23, 3)
    # floor grid around the body, sliding against the walking direction
    spacing, half = 0.5, 5
    ticks = np.arange(-half, half + 1) * spacing
    off_x = -np.mod(root[:, 0], spacing)                    # (F,)
    off_z = -np.mod(root[:, 2], spacing)
    ext = half * spacing
    n, f = len(ticks), len(pos)
    lines = np.zeros((f, 2 * n, 2, 3))
    lines[:, :n, :, 0] = (ticks[None, :] + off_x[:, None])[:, :, None]
    lines[:, :n, 0, 2], lines[:, :n, 1, 2] = -ext, ext
    lines[:, n:, :, 2] = (ticks[None, :] + off_z[:, None])[:, :, None]
    lines[:, n:, 0, 0], lines[:, n:, 1, 0] = -ext, ext
    grid_cam = lines @ rot.T
    # fit the skeleton (all kept frames) into the image with a margin
    xy = cam[..., :2][:, mask] if mask.any() else cam[..., :2]
    lo, hi = xy.reshape(-1, 2).min(axis=0), xy.reshape(-1, 2).max(axis=0)
    extent = max(float((hi - lo).max()), 1.0)
    scale = 0.82 * size / extent
    centre = (lo + hi) / 2

    def to_px(p: np.ndarray) -> np.ndarray:
        return np.stack([size / 2 + (p[..., 0] - centre[0]) * scale, size / 2 - (p[..., 1] - centre[1]) * scale], -1)

    edges = _drawn_edges(mask)
    names = UNIFIED.joint_names
    colour = np.array([_LEFT if names[c].startswith("l_") else _RIGHT if names[c].startswith("r_") else _CENTRE
                       for _, c in edges], dtype=np.int64)
    sx, sy = to_px(np.zeros(3) @ rot.T)
    rx, ry = 0.18 * scale, 0.18 * scale * math.sin(math.radians(elevation_deg))
    frame_ms = max(20, int(round(step / clip.fps * 100)) * 10)
    times = keep / clip.fps
    lit, caption = None, ""
    if highlight:
        joints = {UNIFIED.index[j] for j in highlight.get("joints", []) if j in UNIFIED.index}
        on = (times >= float(highlight["start_s"])) & (times <= float(highlight["end_s"]))
        lit = on[:, None] & np.array([c in joints for _, c in edges], dtype=bool)[None, :]
        caption = str(highlight.get("part", "")).replace("_", " ")
    return Projection(to_px(cam), -cam[..., 2], edges, colour, to_px(grid_cam),
                      (float(sx - rx), float(sy - ry), float(sx + rx), float(sy + ry)),
                      times, frame_ms, (size, size), lit, caption)


def _draw_frames(proj: Projection) -> list:
    """PIL palette images, one per kept frame (drawing is the only per-frame Python loop)."""
    from PIL import Image, ImageDraw

    palette = [v for rgb in _PALETTE for v in rgb]
    width = max(2, proj.size[0] // 110)
    radius = width * 0.9
    head_r = width * 2.6
    # draw far bones first: order per frame by the mean depth of each bone's two joints (vectorised)
    bone_depth = proj.depth[:, proj.edges].mean(axis=2) if len(proj.edges) else np.zeros((len(proj.joints), 0))
    order = np.argsort(-bone_depth, axis=1)
    head = 4  # unified index of "head"
    frames = []
    for f in range(len(proj.joints)):
        img = Image.new("P", proj.size, _BG)
        img.putpalette(palette)
        d = ImageDraw.Draw(img)
        for (x0, y0), (x1, y1) in proj.grid[f]:
            d.line((x0, y0, x1, y1), fill=_GRID, width=1)
        d.ellipse(proj.shadow, fill=_SHADOW)
        pts = proj.joints[f]
        lit = proj.highlight[f] if proj.highlight is not None else None
        for e in order[f]:
            a, b = proj.edges[e]
            fill = _HIGHLIGHT if lit is not None and lit[e] else int(proj.edge_colour[e])
            d.line((*pts[a], *pts[b]), fill=fill, width=width + (1 if fill == _HIGHLIGHT else 0))
        for x, y in pts[np.unique(proj.edges)] if len(proj.edges) else pts[:1]:
            d.ellipse((x - radius, y - radius, x + radius, y + radius), fill=_JOINT)
        hx, hy = pts[head]
        d.ellipse((hx - head_r, hy - head_r, hx + head_r, hy + head_r), outline=_CENTRE, width=width)
        d.text((8, 6), f"{proj.times[f]:5.1f} s", fill=_TEXT)
        if lit is not None and lit.any():
            d.text((8, 20), f"drove the reading: {proj.caption}", fill=_HIGHLIGHT)
        frames.append(img)
    return frames


def render_animation(clip: "SkeletonClip", path: str | PathLike, *, size: int = 360, max_frames: int = 150,
                     target_fps: float = 12.5, highlight: dict | None = None) -> Path:
    """Write an animated GIF of the clip's unified, normalised skeleton to ``path``; returns the path.

    Frames are subsampled to about ``target_fps`` and at most ``max_frames`` (long clips play faster-stepped,
    still in real time); a 10 s clip renders in well under a second.
    """
    proj = project_skeleton(clip, size=size, max_frames=max_frames, target_fps=target_fps, highlight=highlight)
    frames = _draw_frames(proj)
    path = Path(path)
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=proj.frame_ms, loop=0,
                   optimize=False, disposal=1)
    return path

