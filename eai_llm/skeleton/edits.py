"""Counterfactual motion edits: change what the body did so that named cues take a chosen value.

``edit_cues(clip, {"head_pitch": 5.0, "walking_speed": 1.1})`` returns a new clip of the same layout whose
measured cues (:func:`~eai_llm.skeleton.cues.kinematic_cues`) are at those values, everything else as close to
the original as the edit allows. Each edit is a rigid or near-rigid change of the motion in the body's own frame
(forward / left / up per frame, as the cues measure them):

- ``head_pitch``: the head (and what hangs from it) rotated about the neck, pitch only;
- ``trunk_lean``: the upper body rotated about the pelvis; the head and the arms below the shoulders turned back
  so that they keep their own orientation (a leaning person's arms still hang);
- ``walking_speed``: the root motion time-stretched: the horizontal path of the body scaled about its start, the
  limbs' own motion untouched (cadence stays, step length follows the speed);
- ``arm_swing``: each arm's fore-aft motion about its mean position (relative to its shoulder) scaled;
- ``hands_distance``: the hands (and half as much the elbows) moved apart or together along the body's left axis;
- ``stance_width``: the feet (and half as much the knees) moved apart or together along the body's left axis.

Every edit is solved to its target by a few secant steps on the re-measured cue, and :class:`CueEdit` reports
the cues before and after, so a caller can check that the edit did what it says (and nothing else).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from .clip import SkeletonClip
from .cues import body_axes, kinematic_cues, metric_scale
from .errors import ClipValueError
from .layouts import UNIFIED
from .unify import to_unified

__all__ = ["EDITABLE_CUES", "RELATED", "TOLERANCE", "CueEdit", "edit_cues"]

#: The cues :func:`edit_cues` can set, in the order the edits are applied.
EDITABLE_CUES: tuple[str, ...] = ("trunk_lean", "head_pitch", "walking_speed", "arm_swing", "hands_distance",
                                  "stance_width")
#: how close to the target an edit must land, per cue (its unit: deg, m/s, m)
TOLERANCE = {"trunk_lean": 0.5, "head_pitch": 0.5, "walking_speed": 0.01, "arm_swing": 0.005,
             "hands_distance": 0.005, "stance_width": 0.005}
_MULTIPLICATIVE = {"walking_speed", "arm_swing"}
#: cues an edit moves by its nature (faster walking is more energetic and takes longer steps; a wider arm swing
#: moves the hands faster and spreads the body); every other cue should stay where it was
RELATED: dict[str, frozenset[str]] = {
    "trunk_lean": frozenset({"expansiveness", "head_speed", "hand_height"}),
    "head_pitch": frozenset({"expansiveness", "head_speed"}),
    "walking_speed": frozenset({"step_length", "energy", "jerk", "locomotion", "stillness_ratio"}),
    "arm_swing": frozenset({"hand_speed", "hands_distance", "expansiveness", "energy", "elbow_bend", "jerk",
                            "asymmetry"}),
    "hands_distance": frozenset({"expansiveness", "elbow_bend"}),
    "stance_width": frozenset({"expansiveness", "knee_bend"}),
}
_U = UNIFIED.index


@dataclass(frozen=True)
class CueEdit:
    """The edited clip and the cues it measures before and after (``targets``: what was asked)."""

    clip: SkeletonClip
    targets: dict[str, float]
    before: dict[str, float]
    after: dict[str, float]

    def reached(self, cue: str) -> bool:
        return abs(self.after[cue] - self.targets[cue]) <= 2 * TOLERANCE[cue]


class _Body:
    """The clip's joints grouped by the unified joint they are (or hang from), and its body frame."""

    def __init__(self, clip: SkeletonClip):
        layout = clip.layout
        self.clip = clip
        unified, self.mask = to_unified(clip)
        self.upos = unified.positions.astype(np.float64)
        self.fwd, self.left = body_axes(self.upos, clip.fps)
        self.scale = metric_scale(clip)              # cue metres per clip unit
        group = []
        for i, name in enumerate(layout.joint_names):  # a joint's own unified name, else its nearest mapped ancestor's
            j, u = i, None
            while j >= 0 and u is None:
                u = layout.to_unified.get(layout.joint_names[j])
                j = layout.parents[j]
            group.append(u)
        self.group = group

    def joints(self, *names: str) -> np.ndarray:
        return np.array([i for i, g in enumerate(self.group) if g in names], dtype=int)

    def pivot(self, name: str) -> np.ndarray:
        if not self.mask[_U[name]]:
            raise ClipValueError(self.clip.source, f"joint {name!r}", "is missing, so this edit cannot be made")
        return self.upos[:, _U[name]]


def _rotate(points: np.ndarray, pivot: np.ndarray, axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (T, K, 3) points about per-frame pivots (T, 3) and unit axes (T, 3) by ``degrees`` (Rodrigues)."""
    th = np.radians(degrees)
    v = points - pivot[:, None]
    k = axis[:, None]
    rot = v * np.cos(th) + np.cross(k, v) * np.sin(th) + k * np.sum(k * v, -1, keepdims=True) * (1 - np.cos(th))
    return rot + pivot[:, None]


UPPER = ("spine", "chest", "neck", "head", "l_collar", "l_shoulder", "l_elbow", "l_wrist", "l_hand",
         "r_collar", "r_shoulder", "r_elbow", "r_wrist", "r_hand")
HEAD = ("head",)
ARMS = {"l": ("l_elbow", "l_wrist", "l_hand"), "r": ("r_elbow", "r_wrist", "r_hand")}


def _head_pitch(body: _Body, pos: np.ndarray, a: float) -> np.ndarray:
    """+a tilts the head forward (rotation about the body's left axis takes up towards forward)."""
    idx = body.joints(*HEAD)
    pos[:, idx] = _rotate(pos[:, idx], body.pivot("neck"), body.left, a)
    return pos


def _trunk_lean(body: _Body, pos: np.ndarray, a: float) -> np.ndarray:
    pelvis = body.pivot("pelvis")
    upper = body.joints(*UPPER)
    pos[:, upper] = _rotate(pos[:, upper], pelvis, body.left, a)
    neck = _rotate(body.pivot("neck")[:, None], pelvis, body.left, a)[:, 0]
    head = body.joints(*HEAD)
    pos[:, head] = _rotate(pos[:, head], neck, body.left, -a)          # the head keeps its own pitch
    for side, arm in ARMS.items():
        if body.mask[_U[f"{side}_shoulder"]]:
            shoulder = _rotate(body.pivot(f"{side}_shoulder")[:, None], pelvis, body.left, a)[:, 0]
            idx = body.joints(*arm)
            pos[:, idx] = _rotate(pos[:, idx], shoulder, body.left, -a)  # the arms keep hanging
    return pos


def _walking_speed(body: _Body, pos: np.ndarray, k: float) -> np.ndarray:
    path = body.pivot("pelvis")
    shift = (k - 1.0) * (path - path[:1]) * np.array([1.0, 0.0, 1.0])
    return pos + shift[:, None]


def _arm_swing(body: _Body, pos: np.ndarray, k: float) -> np.ndarray:
    for side, arm in ARMS.items():
        idx = body.joints(*arm)
        if not idx.size:
            continue
        shoulder = body.pivot(f"{side}_shoulder")
        x = np.einsum("tki,ti->tk", pos[:, idx] - shoulder[:, None], body.fwd)
        pos[:, idx] += (k - 1.0) * (x - x.mean(0))[..., None] * body.fwd[:, None]
    return pos


def _apart(body: _Body, pos: np.ndarray, d: float, ends: dict[str, tuple[str, ...]],
           middles: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Move the left and right ``ends`` d/2 each (d in metres) apart along the body's left axis, ``middles`` d/4."""
    step = d / body.scale / 2.0
    for side, sign in (("l", 1.0), ("r", -1.0)):
        pos[:, body.joints(*ends[side])] += sign * step * body.left[:, None]
        pos[:, body.joints(*middles[side])] += sign * step / 2.0 * body.left[:, None]
    return pos


def _hands_distance(body: _Body, pos: np.ndarray, d: float) -> np.ndarray:
    return _apart(body, pos, d, {"l": ("l_wrist", "l_hand"), "r": ("r_wrist", "r_hand")},
                  {"l": ("l_elbow",), "r": ("r_elbow",)})


def _stance_width(body: _Body, pos: np.ndarray, d: float) -> np.ndarray:
    return _apart(body, pos, d, {"l": ("l_ankle", "l_foot"), "r": ("r_ankle", "r_foot")},
                  {"l": ("l_knee",), "r": ("r_knee",)})


_EDITS: dict[str, Callable[[_Body, np.ndarray, float], np.ndarray]] = {
    "trunk_lean": _trunk_lean, "head_pitch": _head_pitch, "walking_speed": _walking_speed,
    "arm_swing": _arm_swing, "hands_distance": _hands_distance, "stance_width": _stance_width,
}


def _apply(clip: SkeletonClip, cue: str, amount: float) -> SkeletonClip:
    pos = clip.positions.astype(np.float64).copy()
    return clip.replace(positions=_EDITS[cue](_Body(clip), pos, amount).astype(np.float32))


def _solve(clip: SkeletonClip, cue: str, target: float, current: float, steps: int = 4) -> SkeletonClip:
    """Secant steps on the edit's amount until the re-measured cue is within tolerance of ``target``."""
    identity = 1.0 if cue in _MULTIPLICATIVE else 0.0
    if cue in _MULTIPLICATIVE:
        if current <= 1e-3:
            raise ClipValueError(clip.source, cue, f"is {current:.3g}: there is no motion to scale")
        guess = target / current
    else:
        guess = target - current
    xs, ys = [identity], [current]
    best = clip
    for _ in range(steps):
        edited = _apply(clip, cue, guess)
        value = kinematic_cues(edited).get(cue)
        if value is None:
            raise ClipValueError(clip.source, cue, "cannot be measured after the edit")
        best = edited
        if abs(value - target) <= TOLERANCE[cue]:
            break
        xs.append(guess)
        ys.append(value)
        slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) if xs[-1] != xs[-2] else 0.0
        if abs(slope) < 1e-9:
            break
        guess = xs[-1] + (target - ys[-1]) / slope
    return best


def edit_cues(clip: SkeletonClip, targets: Mapping[str, float]) -> CueEdit:
    """``clip`` edited so that each cue in ``targets`` measures its target value (see the module docstring).

    Raises :class:`~eai_llm.skeleton.errors.ClipValueError` (one line, naming the clip and the cue) for a cue that
    cannot be edited, that the clip lacks the joints for, or that has no motion to scale.
    """
    unknown = [c for c in targets if c not in _EDITS]
    if unknown:
        raise ClipValueError(clip.source, "cues", f"cannot edit {unknown}; editable: {', '.join(EDITABLE_CUES)}")
    before = kinematic_cues(clip)
    missing = [c for c in targets if c not in before]
    if missing:
        raise ClipValueError(clip.source, "cues", f"{missing} are not measured on this clip, so cannot be edited")
    edited = clip
    for _ in range(2):                  # a second pass corrects what later edits moved (e.g. lean vs. hands)
        for cue in (c for c in EDITABLE_CUES if c in targets):
            current = kinematic_cues(edited)[cue]
            if abs(current - targets[cue]) > TOLERANCE[cue]:
                edited = _solve(edited, cue, float(targets[cue]), current)
    meta = dict(edited.meta) if isinstance(edited.meta, dict) else {}
    meta["edited_cues"] = {c: float(v) for c, v in targets.items()}
    edited = edited.replace(meta=meta)
    return CueEdit(edited, {c: float(v) for c, v in targets.items()}, before, kinematic_cues(edited))
