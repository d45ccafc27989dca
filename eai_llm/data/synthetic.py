"""Procedural synthetic skeleton clips with emotion-dependent movement (for tests, demos and smoke runs).

A clip is built in the **unified** layout (metres, Y up, a ~1.7 m person) from a handful of
interpretable parameters -- speed, step frequency, trunk lean, head pitch, arm swing, hands distance,
stance width, knee bend, vertical bounce, elbow bend, turning and jerk noise -- whose per-emotion
values follow the bodily correlates measured on the Bandai Namco data (see ``DESIGN.md``): sad =
slow, short steps, head bowed, trunk forward; happy = bouncy, hands high; angry = fast, jerky, large
arm swing; proud = head up, trunk back, slow cadence; not-confident = hands together, tiny arm swing,
bent elbows and knees; tired = wide stance, bent knees, head lowered; normal = brisk and upright.

Each parameter is jittered by the seed (a few percent / degrees), and the clip is placed at a random
position and heading, so the same seed always gives the same clip and different seeds differ a
little. The unified clip is then mapped into any registered layout (:func:`to_layout`).

Example::

    clip = synthetic_clip("sad", "bandai_namco_22", seconds=4, seed=3)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np

from ..skeleton.clip import SkeletonClip
from ..skeleton.layouts import UNIFIED, Layout, get_layout

__all__ = [
    "EMOTIONS", "CONTENTS", "MotionParams", "emotion_params", "synthetic_clip", "synthetic_dataset", "to_layout",
]

#: The emotions the generator knows (labels of the Bandai Namco styles we model).
EMOTIONS: tuple[str, ...] = ("happy", "sad", "angry", "proud", "not-confident", "tired", "normal")
#: Kinds of movement: procedural walking, or standing while gesturing.
CONTENTS: tuple[str, ...] = ("walk", "gesture")

_U = UNIFIED.index


@dataclass(frozen=True)
class MotionParams:
    """Interpretable movement parameters (metres, seconds, degrees) of one synthetic clip."""

    speed: float  # walking speed (m/s); 0 while gesturing
    step_freq: float  # steps per second
    trunk_lean: float  # deg, + = forward
    head_pitch: float  # deg from vertical, + = bowed
    shoulder_slump: float  # deg, shoulders rolled forward relative to the trunk
    arm_swing: float  # deg, amplitude of shoulder flexion while walking
    hands_distance: float  # m, lateral distance of the wrists at rest
    elbow_bend: float  # deg, base elbow flexion (raises the hands)
    stance_width: float  # m, lateral distance of the ankles
    knee_bend: float  # deg, base knee flexion
    bounce: float  # m, amplitude of the pelvis' vertical oscillation (twice per stride)
    turn_rate: float  # deg/s, heading change (sign drawn at random)
    gesture: float  # deg, amplitude of gesturing arm movements (content="gesture")
    tempo: float  # Hz, typical frequency of gesturing and head movements
    jerk_noise: float  # m, std of band-limited positional noise (abrupt, jerky movement)


_BASE: dict[str, MotionParams] = {
    "normal": MotionParams(1.35, 1.90, 1.0, -3.0, 1.0, 18.0, 0.44, 15.0, 0.08, 6.0, 0.014, 4.0, 18.0, 0.8, 0.002),
    "happy": MotionParams(1.30, 2.05, 2.0, -9.0, 0.0, 24.0, 0.50, 40.0, 0.09, 8.0, 0.032, 8.0, 35.0, 1.3, 0.003),
    "sad": MotionParams(0.55, 1.30, 12.0, 28.0, 20.0, 10.0, 0.36, 12.0, 0.10, 10.0, 0.007, 4.0, 8.0, 0.4, 0.0015),
    "angry": MotionParams(1.25, 2.05, 9.0, 12.0, 12.0, 30.0, 0.52, 40.0, 0.09, 10.0, 0.012, 25.0, 45.0, 1.6, 0.010),
    "proud": MotionParams(0.75, 1.25, -4.0, -16.0, -5.0, 20.0, 0.52, 15.0, 0.07, 5.0, 0.008, 6.0, 22.0, 0.6, 0.0015),
    "not-confident": MotionParams(0.75, 1.75, 15.0, 30.0, 30.0, 4.0, 0.22, 70.0, 0.08, 18.0, 0.008, 6.0, 8.0, 0.7, 0.002),
    "tired": MotionParams(0.80, 1.70, 8.0, 28.0, 25.0, 14.0, 0.42, 15.0, 0.20, 18.0, 0.010, 6.0, 10.0, 0.5, 0.002),
}

# Segment lengths (m) of the 1.70 m reference body.
_THIGH, _SHANK, _ANKLE_H = 0.43, 0.42, 0.08
_HIP_W, _HIP_DROP = 0.09, 0.05
_SPINE, _CHEST, _NECK, _HEAD = 0.12, 0.30, 0.50, 0.13  # spine/chest/neck distances from the pelvis; head from neck
_SHOULDER_UP, _SHOULDER_W, _COLLAR_W = 0.15, 0.18, 0.04
_UPPER_ARM, _FOREARM, _HAND = 0.29, 0.26, 0.08
_FOOT_FWD, _FOOT_DOWN = 0.14, 0.06
_ARM_ABDUCTION = np.radians(6.0)


def emotion_params(emotion: str, rng: np.random.Generator | None = None) -> MotionParams:
    """The base parameters of ``emotion``, jittered by ``rng`` (a few percent; a few degrees for angles)."""
    if emotion not in _BASE:
        raise ValueError(f"unknown emotion {emotion!r}, expected one of {list(EMOTIONS)}")
    base = _BASE[emotion]
    if rng is None:
        return base
    angles = {"trunk_lean": 2.0, "head_pitch": 3.0, "shoulder_slump": 3.0, "knee_bend": 2.0, "elbow_bend": 4.0}
    changes = {}
    for name, value in asdict(base).items():
        if name in angles:
            changes[name] = value + angles[name] * float(rng.standard_normal())
        else:
            changes[name] = value * float(np.clip(1.0 + 0.06 * rng.standard_normal(), 0.8, 1.2))
    return replace(base, **changes)


# ---- building blocks (body frame: x = left, y = up, z = forward; angles in radians) -----------------
def _sagittal(angle: np.ndarray) -> np.ndarray:
    """(T, 3) unit vectors tilted ``angle`` from vertical towards forward."""
    return np.stack([np.zeros_like(angle), np.cos(angle), np.sin(angle)], axis=-1)


def _down(flexion: np.ndarray, lateral: np.ndarray) -> np.ndarray:
    """(T, 3) unit vectors hanging down, swung forward by ``flexion`` and sideways (+x) by ``lateral``."""
    return np.stack([np.sin(lateral), -np.cos(flexion) * np.cos(lateral), np.sin(flexion) * np.cos(lateral)], axis=-1)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], fps: float, seconds: float) -> np.ndarray:
    """Unit-std Gaussian noise low-passed by a moving average of ``seconds`` along axis 0."""
    n = shape[0]
    w = max(1, int(round(seconds * fps)))
    white = rng.standard_normal((n + w - 1,) + shape[1:])
    c = np.cumsum(np.concatenate([np.zeros((1,) + shape[1:]), white]), axis=0)
    out = (c[w:] - c[:-w]) / w
    std = out.std()
    return out / std if std > 0 else out


def _gesture_signal(rng: np.random.Generator, t: np.ndarray, tempo: float, n: int) -> np.ndarray:
    """(T, n) smooth pseudo-random signals in about [-1, 1]: three sinusoids around ``tempo`` Hz each."""
    freqs = tempo * rng.uniform(0.5, 1.6, size=(3, n))
    phases = rng.uniform(0, 2 * np.pi, size=(3, n))
    amps = rng.uniform(0.5, 1.0, size=(3, n))
    sig = (amps[None] * np.sin(2 * np.pi * freqs[None] * t[:, None, None] + phases[None])).sum(axis=1)
    return sig / amps.sum(axis=0)[None]


def _body_frame_pose(p: MotionParams, t: np.ndarray, content: str, rng: np.random.Generator,
                     scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Unified joint offsets from the pelvis in the body frame (T, 23, 3) and the pelvis height (T,)."""
    n = t.size
    rad = np.radians
    walking = content == "walk"
    phase = 2 * np.pi * (p.step_freq / 2) * t + rng.uniform(0, 2 * np.pi)  # stride phase
    out = np.zeros((n, UNIFIED.num_joints, 3))

    # ---- legs: thigh swing, knee flexion (extra during swing), stance width --------------------
    knee0 = rad(p.knee_bend)
    step = p.speed / p.step_freq if walking else 0.0
    thigh_amp = np.arcsin(np.clip(step / (2 * (_THIGH + _SHANK)), 0.0, 0.7))
    for side, sign, shift in (("l", 1.0, 0.0), ("r", -1.0, np.pi)):
        ph = phase + shift
        thigh = knee0 / 2 + thigh_amp * np.sin(ph)
        knee = knee0 + (rad(45.0) * np.clip(np.cos(ph), 0, None) ** 2 if walking else 0.0) * (thigh_amp / 0.35)
        hip = np.array([sign * _HIP_W, -_HIP_DROP, 0.0]) * scale
        knee_pos = hip + _THIGH * scale * _down(thigh, np.zeros(n))
        ankle = knee_pos + _SHANK * scale * _down(thigh - knee, np.zeros(n))
        half_width = sign * p.stance_width / 2
        ankle[:, 0] = half_width
        knee_pos[:, 0] = 0.5 * (hip[0] + half_width)
        foot = ankle + np.array([0.0, -_FOOT_DOWN, _FOOT_FWD]) * scale
        for name, value in (("hip", hip), ("knee", knee_pos), ("ankle", ankle), ("foot", foot)):
            out[:, _U[f"{side}_{name}"]] = value

    # ---- trunk and head -------------------------------------------------------------------------
    sway = rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 2 * np.pi))
    lean = rad(p.trunk_lean) + rad(1.0) * (np.sin(2 * phase) if walking else sway)
    trunk = _sagittal(lean)
    for name, dist in (("spine", _SPINE), ("chest", _CHEST), ("neck", _NECK)):
        out[:, _U[name]] = trunk * dist * scale
    head_sig = _gesture_signal(rng, t, p.tempo, 1)[:, 0]
    head_amp = 4.0 if content == "gesture" else 2.0
    out[:, _U["head"]] = out[:, _U["neck"]] + _sagittal(rad(p.head_pitch + head_amp * head_sig)) * _HEAD * scale
    shoulder_mid = out[:, _U["chest"]] + _sagittal(lean + rad(p.shoulder_slump)) * _SHOULDER_UP * scale

    # ---- arms: shoulder flexion (swing or gestures), elbow bend, inward forearm for hands distance --
    gest = _gesture_signal(rng, t, p.tempo, 4) if content == "gesture" else np.zeros((n, 4))
    for k, (side, sign, shift) in enumerate((("l", 1.0, np.pi), ("r", -1.0, 0.0))):
        flex = rad(p.arm_swing) * np.sin(phase + shift) if walking else rad(p.gesture) * (0.6 + gest[:, 2 * k])
        elbow_flex = rad(p.elbow_bend) + (rad(p.gesture) * 0.8 * (0.5 + 0.5 * gest[:, 2 * k + 1]) if not walking
                                          else rad(8.0) * np.clip(flex, 0, None) / max(rad(p.arm_swing), 1e-6))
        collar = shoulder_mid + np.array([sign * _COLLAR_W, -0.01, 0.0]) * scale
        shoulder = shoulder_mid + np.array([sign * _SHOULDER_W, 0.0, 0.0]) * scale
        lateral_reach = p.hands_distance / 2 - (_SHOULDER_W + _UPPER_ARM * np.sin(_ARM_ABDUCTION)) * scale
        fore_lateral = np.arcsin(np.clip(lateral_reach / (_FOREARM * scale), -0.95, 0.95))
        upper = _down(flex, np.full(n, _ARM_ABDUCTION))
        fore = _down(flex + elbow_flex, np.full(n, fore_lateral))
        upper[:, 0] *= sign
        fore[:, 0] *= sign
        elbow = shoulder + _UPPER_ARM * scale * upper
        wrist = elbow + _FOREARM * scale * fore
        hand = wrist + _HAND * scale * fore
        for name, value in (("collar", collar), ("shoulder", shoulder), ("elbow", elbow), ("wrist", wrist),
                            ("hand", hand)):
            out[:, _U[f"{side}_{name}"]] = value

    leg_height = (_THIGH + _SHANK) * scale * np.cos(knee0 / 2)
    pelvis_y = _ANKLE_H + _HIP_DROP * scale + leg_height
    pelvis_y = pelvis_y + (p.bounce * np.cos(2 * phase) if walking else 0.003 * sway)
    return out, pelvis_y


def _rotate_y(vectors: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rotate (T, J, 3) body-frame vectors about Y by per-frame ``yaw`` (0 = facing +Z, + towards +X)."""
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    return np.stack([x * c + z * s, y, -x * s + z * c], axis=-1)


def _unified_positions(emotion: str, content: str, n: int, fps: float, seed: int) -> tuple[np.ndarray, MotionParams]:
    """(T, 23, 3) world positions of the unified skeleton and the parameters used."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, EMOTIONS.index(emotion), CONTENTS.index(content)])
    p = emotion_params(emotion, rng)
    if content == "gesture":
        p = replace(p, speed=0.0)
    scale = float(np.clip(1.0 + 0.04 * rng.standard_normal(), 0.9, 1.1))
    t = np.arange(n) / fps
    local, pelvis_y = _body_frame_pose(p, t, content, rng, scale)

    heading0 = rng.uniform(-np.pi, np.pi)
    turn = np.radians(p.turn_rate) * rng.choice([-1.0, 1.0])
    wobble = np.radians(p.turn_rate) / (2 * np.pi * 0.5) * _gesture_signal(rng, t, 0.5, 1)[:, 0]
    yaw = heading0 + (turn * t if content == "walk" else 0.0) + wobble
    # pelvis path: integrate the walking velocity along the heading
    step = np.full(n, p.speed / fps)
    path = np.cumsum(np.stack([np.sin(yaw) * step, np.cos(yaw) * step], axis=1), axis=0)
    path -= path[0]
    start = rng.uniform(-2.0, 2.0, size=2)
    pelvis = np.stack([start[0] + path[:, 0], pelvis_y, start[1] + path[:, 1]], axis=1)
    pos = _rotate_y(local, yaw) + pelvis[:, None, :]
    if p.jerk_noise > 0:
        pos = pos + p.jerk_noise * _smooth_noise(rng, pos.shape, fps, 0.1)
        pos[:, :, 1] = np.maximum(pos[:, :, 1], 0.0)
    return pos, p


# ---- mapping into any layout ---------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def to_layout(unified: np.ndarray, layout: str | Layout) -> np.ndarray:
    """Map (T, 23, 3) unified positions into ``layout``'s joints (T, J, 3).

    Joints mapped onto a unified joint take its position. The others are placed from their
    neighbours, parents first: an unmapped root (e.g. a floor root) is the mean of its children
    projected to the floor; a joint between placed joints (e.g. H36M ``Nose``, SMPL ``spine2``) sits
    midway between its parent and its mapped children; an end joint (hand tips, thumbs, ...) is its
    parent plus a short offset (6 cm, shorter for further unmapped siblings) continuing the
    grandparent->parent direction.
    """
    layout = get_layout(layout)
    n = unified.shape[0]
    out = np.zeros((n, layout.num_joints, 3), dtype=np.float64)
    placed = np.zeros(layout.num_joints, dtype=bool)
    for joint, target in layout.to_unified.items():
        out[:, layout.index[joint]] = unified[:, _U[target]]
        placed[layout.index[joint]] = True
    layout_mapped = {layout.index[j] for j in layout.to_unified}
    children: dict[int, list[int]] = {}
    for child, parent in enumerate(layout.parents):
        children.setdefault(parent, []).append(child)
    for j in layout.topological_order:
        if placed[j]:
            continue
        parent = layout.parents[j]
        mapped_kids = [c for c in _descendants_mapped(j, children, placed)]
        if parent < 0:
            ref = out[:, mapped_kids].mean(axis=1) if mapped_kids else unified[:, _U["pelvis"]]
            out[:, j] = ref * np.array([1.0, 0.0, 1.0])
        elif mapped_kids:
            out[:, j] = 0.5 * (out[:, parent] + out[:, mapped_kids].mean(axis=1))
        else:  # an end joint; unmapped siblings (hand tip, thumb) get different lengths
            grand = layout.parents[parent]
            direction = _unit(out[:, parent] - out[:, grand]) if grand >= 0 else np.array([0.0, 1.0, 0.0])
            rank = [c for c in children[parent] if c not in layout_mapped].index(j)
            out[:, j] = out[:, parent] + 0.06 / (1 + rank) * direction
        placed[j] = True
    return out.astype(np.float32)


def _descendants_mapped(j: int, children: dict[int, list[int]], placed: np.ndarray) -> list[int]:
    """The nearest already-placed descendants of joint ``j`` (one per branch)."""
    found, stack = [], list(children.get(j, []))
    while stack:
        c = stack.pop()
        if placed[c]:
            found.append(c)
        else:
            stack.extend(children.get(c, []))
    return found


# ---- public API ------------------------------------------------------------------------------------
def synthetic_clip(emotion: str, layout: str | Layout = "unified", *, seconds: float = 4.0, fps: float = 30.0,
                   seed: int = 0, content: str = "walk") -> SkeletonClip:
    """A procedural clip of ``emotion`` (walking or standing-gesturing), metres, Y up, in ``layout``.

    The same arguments always give the same clip. ``meta`` records the source
    (``"synthetic:<emotion>:<seed>"``), ``synthetic=True``, the content and the movement parameters.
    """
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}, expected one of {list(EMOTIONS)}")
    if content not in CONTENTS:
        raise ValueError(f"unknown content {content!r}, expected one of {list(CONTENTS)}")
    if not (np.isfinite(seconds) and seconds > 0 and np.isfinite(fps) and fps > 0):
        raise ValueError(f"seconds and fps must be positive, got seconds={seconds!r}, fps={fps!r}")
    layout = get_layout(layout)
    n = max(1, int(round(seconds * fps)))
    unified, params = _unified_positions(emotion, content, n, float(fps), seed)
    meta = {
        "source": f"synthetic:{emotion}:{seed}", "synthetic": True, "content": content, "units": "m",
        "seed": int(seed), "params": {k: round(float(v), 4) for k, v in asdict(params).items()},
    }
    return SkeletonClip(to_layout(unified, layout), float(fps), layout, emotion, meta)


def synthetic_dataset(n_per_class: int, layouts: Sequence[str | Layout] = ("unified",), seed: int = 0, *,
                      contents: Sequence[str] = ("walk",), seconds: float = 4.0,
                      fps: float = 30.0) -> list[SkeletonClip]:
    """``n_per_class`` clips of every emotion in :data:`EMOTIONS`.

    Clip ``i`` of a class uses ``layouts[i % len(layouts)]`` and
    ``contents[(i // len(layouts)) % len(contents)]`` and seed ``seed * 100_003 + i``.
    """
    if n_per_class < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_per_class}")
    if not layouts or not contents:
        raise ValueError("layouts and contents must not be empty")
    clips = []
    for emotion in EMOTIONS:
        for i in range(n_per_class):
            clips.append(synthetic_clip(
                emotion, layouts[i % len(layouts)], seconds=seconds, fps=fps, seed=seed * 100_003 + i,
                content=contents[(i // len(layouts)) % len(contents)]))
    return clips
