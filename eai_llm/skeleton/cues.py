"""Kinematic cues: the measured, human-readable quantities every explanation is grounded in.

:func:`kinematic_cues` turns a clip of any layout into a flat ``{cue name: float}`` dict. The cues are
computed on the unified clip in **metres and seconds** (no scale normalisation) in a per-frame
**body frame**: Y is up, *forward* is the body's facing direction from hips and shoulders
(:func:`~eai_llm.skeleton.unify.facing_angle`, unwrapped and lightly smoothed) and *left* is
``up x forward``. Every cue is therefore invariant to where the clip is placed and which way it faces.

Rules (see ``notes/cue_contract.md``):

- a cue whose joints the source layout lacks (``joint_mask`` from ``to_unified``) is **absent**;
- cues that need time (speeds, cadence, jerk, swing, bounce, ...) need at least
  :data:`MIN_SECONDS` of frames, otherwise they are absent;
- derivatives come from Savitzky-Golay filters (local cubic fits, numpy only), so jerk measures the
  movement and not the capture noise;
- values are plain Python floats rounded to 4 significant digits;
- **units unclear**: when the reader found the body's size implausible in the units it chose
  (``clip.meta["units_unclear"]``, with a line in ``clip.meta["warnings"]``), the clip is scaled to a
  :data:`NOMINAL_BODY_HEIGHT_M` body before the cues are computed, so the :data:`METRIC_CUES`
  (metres, m/s, ...) are relative to body height (expressed for a 1.7 m body) instead of silently wrong;
  angles, ratios and cadence do not change. :func:`metric_scale` gives the factor (1.0 normally).

:data:`CUES` documents each cue (unit, how it is computed, what it tends to mean). :func:`cue_table`
prints a cue dict as an aligned table and :func:`cue_statistics` gives population reference
statistics (mean, std, p10, p90) for z-scores and "typical range" displays; both live in
:mod:`eai_llm.skeleton.cue_registry` and are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .clip import SkeletonClip
from .cue_registry import CUES, METRIC_CUES, CueSpec, cue_statistics, cue_table, round_sig
from .io.units import NOMINAL_BODY_HEIGHT_M  # the body a clip with unclear units is scaled to
from .layouts import UNIFIED
from .unify import facing_angle, to_unified

__all__ = ["CueSpec", "CUES", "METRIC_CUES", "MIN_SECONDS", "LOCOMOTION_SPEED", "body_axes", "NOMINAL_BODY_HEIGHT_M",
           "kinematic_cues", "metric_scale", "cue_table", "cue_statistics", "round_sig"]

_U = UNIFIED.index

#: Cues that need time (speeds, cadence, ...) are absent for clips shorter than this.
MIN_SECONDS = 0.5
#: Savitzky-Golay window lengths (seconds) for velocities and for jerk.
_VEL_WINDOW_S = 0.2
_JERK_WINDOW_S = 0.3
#: Facing direction smoothing (seconds): removes the pelvis/shoulder counter-rotation of each step.
_YAW_WINDOW_S = 0.5
#: Pelvis-height detrending window (seconds) for vertical bounce.
_BOUNCE_WINDOW_S = 1.0
#: A frame is "still" when its mean joint speed is below this (m/s).
STILL_SPEED = 0.15
#: A frame is "on the move" when the pelvis moves horizontally at least this fast (m/s): slow walking is
#: about 0.5 m/s and standing sway stays under 0.1 m/s.
LOCOMOTION_SPEED = 0.3
#: Hysteresis (m) on the fore-aft distance between the ankles: a step is counted when the signal
#: swings from above +h to below -h (or back).
_STEP_HYSTERESIS = 0.05


# ---- joints each cue needs (unified names) ----------------------------------------------------
_FRAME = "body_frame"  # needs hips or shoulders (both sides) for the facing direction
_NEEDS: dict[str, tuple[str, ...]] = {
    "walking_speed": ("pelvis",),
    "cadence": ("l_ankle", "r_ankle", _FRAME),
    "step_length": ("pelvis", "l_ankle", "r_ankle", _FRAME),
    "trunk_lean": ("pelvis", "neck", _FRAME),
    "head_pitch": ("neck", "head", _FRAME),
    "shoulder_slump": ("pelvis", "chest", "l_shoulder", "r_shoulder", _FRAME),
    "arm_swing": ("pelvis", "l_wrist", "r_wrist", _FRAME),
    "hand_height": ("pelvis", "l_wrist", "r_wrist"),
    "hands_distance": ("l_wrist", "r_wrist"),
    "expansiveness": ("pelvis", "head", "l_wrist", "r_wrist", "l_ankle", "r_ankle"),
    "stance_width": ("l_ankle", "r_ankle", _FRAME),
    "knee_bend": ("l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle"),
    "elbow_bend": ("l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"),
    "energy": (),
    "hand_speed": ("pelvis", "l_wrist", "r_wrist"),
    "head_speed": ("pelvis", "head"),
    "jerk": (),
    "vertical_bounce": ("pelvis",),
    "turning_speed": (_FRAME,),
    "asymmetry": ("pelvis", "l_wrist", "r_wrist", "l_ankle", "r_ankle"),
    "stillness_ratio": (),
    "locomotion": ("pelvis",),
}
#: Cues that need at least MIN_SECONDS of motion.
_TIMED = frozenset({
    "walking_speed", "cadence", "step_length", "arm_swing", "energy", "hand_speed", "head_speed", "jerk",
    "vertical_bounce", "turning_speed", "asymmetry", "stillness_ratio", "locomotion",
})


# ---- numerics -------------------------------------------------------------------------------------
def _odd_window(seconds: float, fps: float, minimum: int) -> int:
    n = max(minimum, int(round(seconds * fps)))
    return n if n % 2 else n + 1


def _savgol_kernel(window: int, polyorder: int, deriv: int, fps: float) -> np.ndarray:
    """Savitzky-Golay weights (window,) for the ``deriv``-th derivative at the window centre."""
    half = window // 2
    x = np.arange(-half, half + 1, dtype=np.float64)
    vander = x[:, None] ** np.arange(polyorder + 1)[None, :]
    coef = np.linalg.pinv(vander)[deriv]  # least-squares polynomial coefficient of x**deriv
    return coef * math.factorial(deriv) * fps**deriv


def _filter_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Apply a time kernel along axis 0 without padding: (T, ...) -> (T - w + 1, ...)."""
    w = kernel.shape[0]
    if x.shape[0] < w:
        return x[:0]
    win = np.lib.stride_tricks.sliding_window_view(x, w, axis=0)  # (T-w+1, ..., w)
    return win @ kernel


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0, same length (edges use the available frames)."""
    window = max(1, min(int(window), x.shape[0]))
    if window == 1:
        return x.astype(np.float64)
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), x]), axis=0)
    t = np.arange(x.shape[0])
    lo = np.clip(t - window // 2, 0, x.shape[0])
    hi = np.clip(t - window // 2 + window, 0, x.shape[0])
    shape = (-1,) + (1,) * (x.ndim - 1)
    return (c[hi] - c[lo]) / (hi - lo).reshape(shape)


def _sagittal_angle(vec: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """(T,) degrees of (T, 3) vectors from vertical towards the body's forward axis (+ = forward)."""
    return np.degrees(np.arctan2(np.einsum("ti,ti->t", vec, fwd), vec[:, 1]))


def _joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Flexion (degrees) at b: 180 - angle(a-b-c) for (T, 3) trajectories."""
    u, v = a - b, c - b
    cos = np.einsum("ti,ti->t", u, v) / np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1), 1e-9)
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@dataclass(frozen=True)
class _Steps:
    """Steps found in the ankles' fore-aft distance signal."""

    count: int  # side changes (one per step)
    period: float  # mean step duration (s) from crossing-to-crossing and peak-to-peak intervals, 0 if unknown
    span: float  # seconds covered by the step events


def _count_steps(signal: np.ndarray, fps: float) -> _Steps:
    """Steps of the ankles' fore-aft distance: hysteresis crossings and the extreme of each half-cycle.

    Each step changes which foot is in front (a crossing) and has one extreme (feet furthest apart).
    Extremes touching the clip's first/last frame are ignored (the half-cycle is cut off).
    """
    d = signal - np.median(signal)
    state = np.where(d > _STEP_HYSTERESIS, 1, np.where(d < -_STEP_HYSTERESIS, -1, 0))
    idx = np.flatnonzero(state)
    if idx.size == 0:
        return _Steps(0, 0.0, 0.0)
    new_side = np.flatnonzero(np.diff(state[idx]) != 0) + 1  # positions in idx where a run starts
    crossings = idx[new_side].astype(np.float64)
    starts = np.concatenate([[0], new_side])
    ends = np.concatenate([new_side, [idx.size]]) - 1
    peaks = []
    for a, b in zip(idx[starts], idx[ends]):  # one iteration per half-cycle, not per frame
        k = a + int(np.argmax(np.abs(d[a:b + 1])))
        if 0 < k < d.size - 1:
            peaks.append(float(k))
    peaks_arr = np.asarray(peaks)
    intervals = np.concatenate([np.diff(crossings), np.diff(peaks_arr)])
    events = np.concatenate([crossings, peaks_arr])
    period = float(np.mean(intervals)) / fps if intervals.size else 0.0
    span = float(events.max() - events.min()) / fps if events.size else 0.0
    return _Steps(int(crossings.size), period, span)


# ---- the cues ---------------------------------------------------------------------------------------
def metric_scale(clip: SkeletonClip) -> float:
    """The factor the clip's lengths are multiplied by before the cues: 1.0, or, when the reader marked
    the units unclear (``meta["units_unclear"]``), nominal body height / measured body height."""
    meta = clip.meta if isinstance(clip.meta, dict) else {}
    height = meta.get("body_height_m")
    if not meta.get("units_unclear") or not isinstance(height, (int, float)) or not math.isfinite(height) \
            or height <= 0:
        return 1.0
    return NOMINAL_BODY_HEIGHT_M / float(height)


def kinematic_cues(clip: SkeletonClip) -> dict[str, float]:
    """All computable kinematic cues of ``clip`` (any layout, metres) as ``{name: float}``.

    See :data:`CUES` for each cue's definition. Cues whose joints are missing from the source
    layout, and time-based cues of clips shorter than :data:`MIN_SECONDS`, are absent. When the
    clip's units are unclear the :data:`METRIC_CUES` are relative to body height (see the module docstring).
    """
    unified, mask = to_unified(clip)
    pos = unified.positions.astype(np.float64) * metric_scale(clip)
    fps = float(unified.fps)
    has = {n: bool(mask[i]) for n, i in _U.items()}
    has[_FRAME] = (has["l_hip"] and has["r_hip"]) or (has["l_shoulder"] and has["r_shoulder"])
    timed = pos.shape[0] / fps >= MIN_SECONDS and pos.shape[0] >= _odd_window(_JERK_WINDOW_S, fps, 5) + 2
    wanted = {n for n, needs in _NEEDS.items() if all(has[j] for j in needs) and (timed or n not in _TIMED)}
    if not wanted:
        return {}
    out: dict[str, float] = {}
    ctx = _Context(pos, fps, mask)
    for name in CUES:
        if name in wanted:
            value = _COMPUTE[name](ctx)
            if value is not None and math.isfinite(value):
                out[name] = round_sig(value)
    return out


class _Context:
    """Lazily computed shared quantities of one unified clip (body frame, velocities, ...)."""

    def __init__(self, pos: np.ndarray, fps: float, mask: np.ndarray):
        self.pos, self.fps, self.mask = pos, fps, mask
        self._cache: dict[str, object] = {}

    def j(self, name: str) -> np.ndarray:
        return self.pos[:, _U[name]]

    def _memo(self, key: str, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def yaw(self) -> np.ndarray:
        """(T,) unwrapped, smoothed facing angle (radians)."""
        return self._memo("yaw", lambda: _moving_average(
            np.unwrap(facing_angle(self.pos)), _odd_window(_YAW_WINDOW_S, self.fps, 1)))

    @property
    def fwd(self) -> np.ndarray:
        y = self.yaw
        return self._memo("fwd", lambda: np.stack([np.sin(y), np.zeros_like(y), np.cos(y)], axis=1))

    @property
    def left(self) -> np.ndarray:
        y = self.yaw
        return self._memo("left", lambda: np.stack([np.cos(y), np.zeros_like(y), -np.sin(y)], axis=1))

    @property
    def vel_window(self) -> int:
        return _odd_window(_VEL_WINDOW_S, self.fps, 3)

    @property
    def vel(self) -> np.ndarray:
        """(T - w + 1, 23, 3) joint velocities (m/s) of the interior frames."""
        return self._memo("vel", lambda: _filter_valid(
            self.pos, _savgol_kernel(self.vel_window, 2, 1, self.fps)))

    def rel_speed(self, name: str) -> np.ndarray:
        v = self.vel
        return np.linalg.norm(v[:, _U[name]] - v[:, _U["pelvis"]], axis=1)

    @property
    def present(self) -> np.ndarray:
        """Indices of the unified joints the source really has."""
        return np.flatnonzero(self.mask)

    @property
    def joint_speed(self) -> np.ndarray:
        """(T', J_present) speeds (m/s) of the measured joints."""
        return self._memo("speed", lambda: np.linalg.norm(self.vel[:, self.present], axis=2))

    @property
    def steps(self) -> _Steps:
        def count() -> _Steps:
            d = np.einsum("ti,ti->t", self.j("l_ankle") - self.j("r_ankle"), self.fwd)
            return _count_steps(_moving_average(d, _odd_window(0.1, self.fps, 1)), self.fps)
        return self._memo("steps", count)


def _walking_speed(c: _Context) -> float:
    v = c.vel[:, _U["pelvis"]]
    return float(np.median(np.hypot(v[:, 0], v[:, 2])))


def _cadence(c: _Context) -> float:
    """Continuous stepping (step events plus one step cover at least half the clip): 60 / mean step
    period; occasional steps (a weight shift while standing): steps over the clip's whole duration."""
    st = c.steps
    duration = c.pos.shape[0] / c.fps
    if st.period > 0 and st.span + st.period >= 0.5 * duration:
        return 60.0 / st.period
    return st.count / duration * 60.0


def _step_length(c: _Context) -> float | None:
    cadence = _cadence(c)
    if c.steps.period <= 0 or cadence <= 0:
        return None
    return _walking_speed(c) / (cadence / 60.0)


def _trunk_lean(c: _Context) -> float:
    return float(np.mean(_sagittal_angle(c.j("neck") - c.j("pelvis"), c.fwd)))


def _head_pitch(c: _Context) -> float:
    return float(np.mean(_sagittal_angle(c.j("head") - c.j("neck"), c.fwd)))


def _shoulder_slump(c: _Context) -> float:
    mid = 0.5 * (c.j("l_shoulder") + c.j("r_shoulder"))
    shoulders = _sagittal_angle(mid - c.j("chest"), c.fwd)
    return float(np.mean(shoulders - _sagittal_angle(c.j("chest") - c.j("pelvis"), c.fwd)))


def _arm_swing(c: _Context) -> float:
    ranges = []
    for w in ("l_wrist", "r_wrist"):
        x = np.einsum("ti,ti->t", c.j(w) - c.j("pelvis"), c.fwd)
        lo, hi = np.percentile(x, [5, 95])
        ranges.append(hi - lo)
    return float(np.mean(ranges))


def _hand_height(c: _Context) -> float:
    return float(np.mean(0.5 * (c.j("l_wrist")[:, 1] + c.j("r_wrist")[:, 1]) - c.j("pelvis")[:, 1]))


def _hands_distance(c: _Context) -> float:
    return float(np.mean(np.linalg.norm(c.j("l_wrist") - c.j("r_wrist"), axis=1)))


def _expansiveness(c: _Context) -> float:
    idx = [_U[n] for n in ("l_wrist", "r_wrist", "l_ankle", "r_ankle", "head")]
    return float(np.mean(np.linalg.norm(c.pos[:, idx] - c.pos[:, _U["pelvis"]][:, None], axis=2)))


def _stance_width(c: _Context) -> float:
    return float(np.mean(np.abs(np.einsum("ti,ti->t", c.j("l_ankle") - c.j("r_ankle"), c.left))))


def _knee_bend(c: _Context) -> float:
    return float(np.mean([_joint_angle(c.j(f"{s}_hip"), c.j(f"{s}_knee"), c.j(f"{s}_ankle")).mean() for s in "lr"]))


def _elbow_bend(c: _Context) -> float:
    return float(np.mean([
        _joint_angle(c.j(f"{s}_shoulder"), c.j(f"{s}_elbow"), c.j(f"{s}_wrist")).mean() for s in "lr"]))


def _energy(c: _Context) -> float:
    return float(np.mean(c.joint_speed**2))


def _hand_speed(c: _Context) -> float:
    return float(np.mean([c.rel_speed("l_wrist").mean(), c.rel_speed("r_wrist").mean()]))


def _head_speed(c: _Context) -> float:
    return float(np.mean(c.rel_speed("head")))


def _jerk(c: _Context) -> float | None:
    kernel = _savgol_kernel(_odd_window(_JERK_WINDOW_S, c.fps, 5), 3, 3, c.fps)
    j3 = _filter_valid(c.pos[:, c.present], kernel)
    return float(np.mean(np.linalg.norm(j3, axis=2))) if j3.size else None


def _vertical_bounce(c: _Context) -> float:
    y = c.j("pelvis")[:, 1]
    return float(np.std(y - _moving_average(y, _odd_window(_BOUNCE_WINDOW_S, c.fps, 3))))


def _turning_speed(c: _Context) -> float | None:
    window = min(_odd_window(_YAW_WINDOW_S, c.fps, 3), c.pos.shape[0] - (1 - c.pos.shape[0] % 2))
    rate = _filter_valid(np.unwrap(facing_angle(c.pos)), _savgol_kernel(window, 1, 1, c.fps))
    return float(np.degrees(np.mean(np.abs(rate)))) if rate.size else None


def _asymmetry(c: _Context) -> float | None:
    left = c.rel_speed("l_wrist").mean() + c.rel_speed("l_ankle").mean()
    right = c.rel_speed("r_wrist").mean() + c.rel_speed("r_ankle").mean()
    total = left + right
    return float(abs(left - right) / total) if total > 1e-6 else 0.0


def _stillness_ratio(c: _Context) -> float:
    return float(np.mean(c.joint_speed.mean(axis=1) < STILL_SPEED))


def _locomotion(c: _Context) -> float:
    v = c.vel[:, _U["pelvis"]]
    return float(np.mean(np.hypot(v[:, 0], v[:, 2]) >= LOCOMOTION_SPEED))


_COMPUTE = {
    "walking_speed": _walking_speed, "cadence": _cadence, "step_length": _step_length,
    "trunk_lean": _trunk_lean, "head_pitch": _head_pitch, "shoulder_slump": _shoulder_slump,
    "arm_swing": _arm_swing, "hand_height": _hand_height, "hands_distance": _hands_distance,
    "expansiveness": _expansiveness, "stance_width": _stance_width, "knee_bend": _knee_bend,
    "elbow_bend": _elbow_bend, "energy": _energy, "hand_speed": _hand_speed, "head_speed": _head_speed,
    "jerk": _jerk, "vertical_bounce": _vertical_bounce, "turning_speed": _turning_speed,
    "asymmetry": _asymmetry, "stillness_ratio": _stillness_ratio, "locomotion": _locomotion,
}


def body_axes(positions: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(forward, left) unit vectors per frame of a unified clip, (T, 3) each, as the cues measure them (facing
    direction from hips and shoulders, unwrapped and smoothed over 0.5 s)."""
    ctx = _Context(np.asarray(positions, dtype=np.float64), float(fps), np.ones(UNIFIED.num_joints, dtype=bool))
    return ctx.fwd, ctx.left
