"""Rotation math for BVH: Euler angles to matrices, batched per rotation order."""

from __future__ import annotations

from typing import Any

import numpy as np


def _axis_matrices(axes: np.ndarray, radians: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3) rotations about axis ``axes[j]`` (0=X, 1=Y, 2=Z) by ``radians[t, j]``."""
    T, J = radians.shape
    jj = np.arange(J)
    a = np.asarray(axes, dtype=np.int64)
    i, k = (a + 1) % 3, (a + 2) % 3
    c, s = np.cos(radians), np.sin(radians)
    m = np.zeros((T, J, 3, 3))
    m[:, jj, a, a] = 1.0
    m[:, jj, i, i] = c
    m[:, jj, k, k] = c
    m[:, jj, i, k] = -s
    m[:, jj, k, i] = s
    return m


def euler_matrices(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """(T, 3, 3) rotation matrices from (T, k) Euler angles in degrees, intrinsic, in ``order``.

    ``order`` names the axes of the columns (e.g. ``"ZXY"``); the result is
    ``R = R_order[0] @ R_order[1] @ ...`` -- the BVH convention, where the channel listed first is
    the outermost rotation.
    """
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    if angles.ndim != 2 or angles.shape[1] != len(order) or any(a not in "XYZ" for a in order.upper()):
        raise ValueError(f"angles of shape {angles.shape} do not fit the order {order!r}")
    out = np.broadcast_to(np.eye(3), (angles.shape[0], 3, 3)).copy()
    for k, axis in enumerate(order.upper()):
        out = out @ _axis_matrices(np.array(["XYZ".index(axis)]), angles[:, k:k + 1])[:, 0]
    return out


def _axis_entries(axis: int, c: np.ndarray, s: np.ndarray) -> list[list[Any]]:
    """A rotation about ``axis`` as a 3x3 nested list of entries: 0.0, 1.0 or an array."""
    i, k = (axis + 1) % 3, (axis + 2) % 3
    m: list[list[Any]] = [[0.0] * 3 for _ in range(3)]
    m[axis][axis] = 1.0
    m[i][i], m[k][k], m[i][k], m[k][i] = c, c, -s, s
    return m


def _is_const(x: Any, value: float) -> bool:
    return isinstance(x, float) and x == value


def _entry_matmul(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
    """Product of two 3x3 nested-list matrices, skipping the structural zeros and ones."""
    out: list[list[Any]] = [[0.0] * 3 for _ in range(3)]
    for i in range(3):
        for j in range(3):
            acc: Any = 0.0
            for k in range(3):
                x, y = a[i][k], b[k][j]
                if _is_const(x, 0.0) or _is_const(y, 0.0):
                    continue
                term = y if _is_const(x, 1.0) else x if _is_const(y, 1.0) else x * y
                acc = term if _is_const(acc, 0.0) else acc + term
            out[i][j] = acc
    return out
