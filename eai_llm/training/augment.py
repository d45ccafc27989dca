"""Stage-1 augmentation of unified windows (numpy, vectorised over the batch).

Every function takes ``positions (B, W, 23, 3)``, ``frame_mask (B, W)``, ``joint_mask (B, 23)`` and returns new
arrays of the same shapes and dtypes (inputs are never modified). Padded frames stay zero.

- :func:`rotate_yaw`: a random turn about the vertical (Y) axis, about the first-frame pelvis;
- :func:`scale`: a random uniform scale;
- :func:`time_warp`: speed perturbation with a random start (a random crop in time): frame ``t`` of the new window
  is frame ``offset + t * factor`` of the old one (linear interpolation); frames past the window's last valid
  frame become padding;
- :func:`drop_joints`: random joints marked absent and moved onto their parent (as ``unify.to_unified`` fills a
  joint a layout lacks), never the pelvis.
:func:`augment_batch` applies the configured ones (mirroring stays ``data.mirror_batch``).
"""

from __future__ import annotations

import numpy as np

from ..skeleton.layouts import UNIFIED

__all__ = ["rotate_yaw", "scale", "time_warp", "drop_joints", "augment_batch"]

_PELVIS = UNIFIED.index["pelvis"]


def rotate_yaw(positions, frame_mask, joint_mask, rng: np.random.Generator, max_degrees: float):
    b = positions.shape[0]
    a = np.deg2rad(rng.uniform(-max_degrees, max_degrees, size=b))
    c, s = np.cos(a), np.sin(a)
    rot = np.zeros((b, 3, 3), np.float32)
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1.0, -s, c
    origin = positions[:, :1, _PELVIS:_PELVIS + 1] * np.array([1.0, 0.0, 1.0], np.float32)
    out = np.einsum("bij,btkj->btki", rot, positions - origin) + origin
    return (out * frame_mask[:, :, None, None]).astype(positions.dtype), frame_mask.copy(), joint_mask.copy()


def scale(positions, frame_mask, joint_mask, rng: np.random.Generator, amount: float):
    f = rng.uniform(1.0 - amount, 1.0 + amount, size=(positions.shape[0], 1, 1, 1)).astype(positions.dtype)
    return positions * f, frame_mask.copy(), joint_mask.copy()


def time_warp(positions, frame_mask, joint_mask, rng: np.random.Generator, amount: float):
    b, w = frame_mask.shape
    factor = rng.uniform(1.0 - amount, 1.0 + amount, size=b)
    last = np.maximum(frame_mask.sum(1) - 1, 0).astype(np.float64)    # windows are left-aligned, padding at the end
    span = (w - 1) * factor
    offset = rng.uniform(0.0, 1.0, size=b) * np.maximum(last - span, 0.0)
    src = offset[:, None] + np.arange(w)[None, :] * factor[:, None]    # (B, W) source frame of each new frame
    valid = (src <= last[:, None] + 1e-6) & (frame_mask.sum(1) > 0)[:, None]
    src = np.clip(src, 0.0, last[:, None])
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, last[:, None].astype(np.int64))
    frac = (src - i0).astype(positions.dtype)[:, :, None, None]
    rows = np.arange(b)[:, None]
    out = positions[rows, i0] * (1 - frac) + positions[rows, i1] * frac
    valid[:, 0] |= frame_mask[:, 0]
    return (out * valid[:, :, None, None]).astype(positions.dtype), valid, joint_mask.copy()


def drop_joints(positions, frame_mask, joint_mask, rng: np.random.Generator, p: float):
    drop = (rng.random(joint_mask.shape) < p) & joint_mask
    drop[:, _PELVIS] = False
    out = positions.copy()
    for j in UNIFIED.topological_order:          # parents first: a dropped child lands on its (filled) parent
        rows = np.flatnonzero(drop[:, j])
        if len(rows):
            out[rows, :, j] = out[rows, :, UNIFIED.parents[j]]
    return out, frame_mask.copy(), joint_mask & ~drop


def augment_batch(positions, frame_mask, joint_mask, rng: np.random.Generator, *, rotate: float = 0.0,
                  scale_amount: float = 0.0, speed: float = 0.0, joint_dropout: float = 0.0):
    """The configured augmentations in a fixed order (speed, rotation, scale, joint dropout); zero = off."""
    arrays = (positions, frame_mask, joint_mask)
    if speed > 0:
        arrays = time_warp(*arrays, rng, speed)
    if rotate > 0:
        arrays = rotate_yaw(*arrays, rng, rotate)
    if scale_amount > 0:
        arrays = scale(*arrays, rng, scale_amount)
    if joint_dropout > 0:
        arrays = drop_joints(*arrays, rng, joint_dropout)
    return arrays
