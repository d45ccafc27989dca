"""Forward kinematics of a parsed BVH, vectorised over frames and tree levels, and the body size."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .bvh import _CHANNELS, BvhData
from .rotations import _axis_entries, _entry_matmul


@dataclass
class _Rig:
    """Index arrays mapping BVH motion rows onto joints, with joints re-ordered by tree depth.

    Internally joint ``n`` is file joint ``order[n]``; sorted by depth, every tree level is one
    contiguous slice, and arrays are joint-major (J, T, ...) so that a level is a cheap view.
    """

    order: np.ndarray          # (J,) file joint of each internal joint
    rank: np.ndarray           # (J,) internal index of each file joint
    parents: np.ndarray        # (J,) internal parent index (-1 for roots)
    offsets: np.ndarray        # (J, 3)
    rot_src: np.ndarray        # motion columns of rotation channels
    rot_dst: tuple[np.ndarray, np.ndarray]  # (internal joint, slot 0..2) of each
    pos_src: np.ndarray        # motion columns of position channels
    pos_dst: tuple[np.ndarray, np.ndarray]  # (internal joint, axis) of each
    levels: list[slice]        # contiguous internal joints per depth, roots first
    order_groups: list[tuple[tuple[int, int, int], np.ndarray]]  # joints sharing a rotation order


def _rig(bvh: BvhData) -> _Rig:
    J = len(bvh.names)
    parents_file = np.array(bvh.parents, dtype=np.int64)
    depth = np.zeros(J, dtype=np.int64)
    for j in range(J):  # file order: a parent always precedes its children
        if parents_file[j] >= 0:
            depth[j] = depth[parents_file[j]] + 1
    order = np.argsort(depth, kind="stable")
    rank = np.empty(J, dtype=np.int64)
    rank[order] = np.arange(J)
    rot_src, rot_j, rot_k, pos_src, pos_j, pos_a = [], [], [], [], [], []
    axes = np.zeros((J, 3), dtype=np.int64)  # padding slots: X axis with angle 0 (identity)
    col = 0
    for j, chans in enumerate(bvh.channels):
        slot = 0
        for c in chans:
            _, axis, is_rot = _CHANNELS[c.lower()]
            if is_rot:
                rot_src.append(col)
                rot_j.append(rank[j])
                rot_k.append(slot)
                axes[rank[j], slot] = axis
                slot += 1
            else:
                pos_src.append(col)
                pos_j.append(rank[j])
                pos_a.append(axis)
            col += 1
    parents = np.where(parents_file[order] >= 0, rank[np.maximum(parents_file[order], 0)], -1)
    sorted_depth = depth[order]
    levels = [slice(int(np.searchsorted(sorted_depth, d)), int(np.searchsorted(sorted_depth, d, "right")))
              for d in range(int(depth.max()) + 1)]
    groups: dict[tuple[int, int, int], list[int]] = {}
    for n in range(J):
        groups.setdefault(tuple(int(a) for a in axes[n]), []).append(n)
    order_groups = [(key, np.array(ns, dtype=np.int64)) for key, ns in groups.items()]
    ints = lambda xs: np.array(xs, dtype=np.int64)  # noqa: E731
    return _Rig(order, rank, parents, np.asarray(bvh.offsets, dtype=np.float64)[order], ints(rot_src),
                (ints(rot_j), ints(rot_k)), ints(pos_src), (ints(pos_j), ints(pos_a)), levels, order_groups)


def _local_rotations(rig: _Rig, angles: np.ndarray) -> np.ndarray:
    """(J, T, 3, 3) local rotations from (J, T, 3) angles in radians, composed in each joint's order.

    Joints sharing an axis order are done together, the product written out entry by entry
    (several times faster than stacked ``@`` on 3x3 matrices).
    """
    J, T, _ = angles.shape
    out = np.empty((J, T, 3, 3))
    c, s = np.cos(angles), np.sin(angles)
    for key, group in rig.order_groups:
        m = _axis_entries(key[0], c[group, :, 0], s[group, :, 0])
        for k in (1, 2):
            m = _entry_matmul(m, _axis_entries(key[k], c[group, :, k], s[group, :, k]))
        for i in range(3):
            for j in range(3):
                out[group, :, i, j] = m[i][j]
    return out


def _forward_kinematics(rig: _Rig, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions (J, T, 3) and rotations (J, T, 3, 3), internal joint order.

    One batched step per tree level (parents first); no loop over frames.
    """
    T, J = motion.shape[0], rig.parents.size
    angles = np.zeros((J, T, 3))
    angles[rig.rot_dst[0], :, rig.rot_dst[1]] = np.radians(motion[:, rig.rot_src]).T
    world_r = _local_rotations(rig, angles)  # local rotations, made world level by level in place
    local_t = np.repeat(rig.offsets[:, None, :], T, axis=1)
    local_t[rig.pos_dst[0], :, rig.pos_dst[1]] = motion[:, rig.pos_src].T
    pos = np.empty((J, T, 3))
    roots = rig.levels[0]
    pos[roots] = local_t[roots]
    for level in rig.levels[1:]:
        par = rig.parents[level]
        pr = world_r[par]
        world_r[level] = pr @ world_r[level]
        pos[level] = pos[par] + (pr @ local_t[level, :, :, None])[..., 0]
    return pos, world_r


#: Joint-frames per forward-kinematics chunk: bounds the (J, chunk, 3, 3) rotation temporaries.
_FK_JOINT_FRAMES = 8192 * 32

def bvh_positions(bvh: BvhData, sample: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics, vectorised over frames: world positions (T, J, 3) in file units.

    Position channels replace the matching OFFSET components (on any joint, as bvhio and Blender do);
    rotations compose in each joint's channel order (intrinsic, first channel outermost). Frames are
    processed in chunks to bound memory, joints one tree level at a time. Also returns the end-site
    positions at the frames ``sample`` (default: all), shape (len(sample), E, 3).
    """
    rig = _rig(bvh)
    motion = bvh.motion
    T, J = motion.shape[0], rig.parents.size
    sample = np.arange(T) if sample is None else np.asarray(sample, dtype=np.int64)
    par = rig.rank[np.array([p for p, _ in bvh.end_sites], dtype=np.int64)]
    off = np.array([o for _, o in bvh.end_sites], dtype=np.float64).reshape(-1, 3)
    pos = np.empty((T, J, 3))
    sites = np.empty((sample.size, par.size, 3))
    chunk = max(64, _FK_JOINT_FRAMES // max(J, 1))
    for a in range(0, T, chunk):
        p, r = _forward_kinematics(rig, motion[a:a + chunk])
        pos[a:a + chunk] = p[rig.rank].transpose(1, 0, 2)
        inside = (sample >= a) & (sample < a + chunk)
        if par.size and inside.any():
            rows = sample[inside] - a
            sites[inside] = (p[par][:, rows] + (r[par][:, rows] @ off[:, None, :, None])[..., 0]).transpose(1, 0, 2)
    return pos, sites


def _body_size(bvh: BvhData, pos: np.ndarray, sites: np.ndarray) -> float:
    """Median over frames of the largest bounding-box extent of the body, in file units.

    Joints above the body -- a chain of single-child roots such as a floor-projected ``Root`` or a
    ``Reference`` node, which may stay at the origin while the body walks away -- are left out.
    """
    parents = np.array(bvh.parents)
    children = np.bincount(parents[parents >= 0], minlength=parents.size)
    keep = np.ones(parents.size, dtype=bool)
    top = int(np.flatnonzero(parents < 0)[0])
    while children[top] == 1 and keep.sum() > 2:
        keep[top] = False
        top = int(np.flatnonzero(parents == top)[0])
    site_keep = np.array([keep[p] for p, _ in bvh.end_sites], dtype=bool)
    pts = np.concatenate([pos[:, keep], sites[:, site_keep]], axis=1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        extent = np.nanmax(np.nanmax(pts, axis=1) - np.nanmin(pts, axis=1), axis=1)
    extent = extent[np.isfinite(extent)]
    return float(np.median(extent)) if extent.size else float("nan")
