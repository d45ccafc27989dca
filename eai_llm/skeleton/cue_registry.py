"""The cue registry: what each kinematic cue is (unit, how it is computed, what it tends to mean), and the cue dicts
as a table and as population statistics. The computation is :mod:`eai_llm.skeleton.cues`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

__all__ = ["CueSpec", "CUES", "METRIC_CUES", "round_sig", "cue_table", "cue_statistics"]


@dataclass(frozen=True)
class CueSpec:
    """Documentation of one cue: name, unit, how it is computed, what it tends to mean, format spec."""

    name: str
    unit: str
    description: str
    meaning: str
    fmt: str = ".2f"

    def format(self, value: float) -> str:
        """The value with its unit, e.g. ``'1.23 m/s'`` (ratios without a unit)."""
        text = f"{value:{self.fmt}}"
        return text if self.unit in ("", "ratio") else f"{text} {self.unit}"


def _spec(name: str, unit: str, fmt: str, description: str, meaning: str) -> tuple[str, CueSpec]:
    return name, CueSpec(name, unit, " ".join(description.split()), " ".join(meaning.split()), fmt)


#: The cue registry, in display order.
CUES: dict[str, CueSpec] = dict([
    _spec("walking_speed", "m/s", ".2f",
          "median over frames of the horizontal pelvis speed (Savitzky-Golay derivative, 0.2 s window)",
          "fast = energetic, hurried or angry; slow = sad, tired or hesitant"),
    _spec("cadence", "steps/min", ".0f",
          "steps per minute from the ankles' fore-aft distance (body frame, median-detrended, 5 cm "
          "hysteresis): 60 / mean step period (crossing-to-crossing and peak-to-peak) when the steps "
          "cover at least half the clip, else the number of steps over the clip's duration; 0 without steps",
          "a high step rate = brisk or agitated walking; a low one = slow, heavy or measured walking"),
    _spec("step_length", "m", ".2f",
          "walking speed divided by the step frequency (absent when no step period can be measured)",
          "long steps = confident, energetic gait; short steps = sad, tired or cautious gait"),
    _spec("trunk_lean", "deg", ".1f",
          "mean angle of the pelvis->neck segment from vertical in the sagittal plane, + = forward",
          "leaning forward = sad, tired, dejected or driven; leaning back = proud or relaxed"),
    _spec("head_pitch", "deg", ".1f",
          "mean angle of the neck->head segment from vertical in the sagittal plane, + = bowed down",
          "head bowed = sad, tired, ashamed, unconfident; head raised = proud, confident, happy"),
    _spec("shoulder_slump", "deg", ".1f",
          "mean sagittal angle of chest->shoulder midpoint minus that of pelvis->chest, + = shoulders "
          "rolled forward",
          "rolled-forward shoulders = sad, tired or unconfident posture; pulled back = proud, upright"),
    _spec("arm_swing", "m", ".2f",
          "fore-aft range (5th to 95th percentile) of each wrist relative to the pelvis in the body "
          "frame, mean of both arms",
          "large swing = energetic, happy or angry walking; small = sad, tense or unconfident"),
    _spec("hand_height", "m", ".2f",
          "mean wrist height relative to the pelvis (+ = above), mean of both wrists",
          "hands carried high = excited, happy, gesturing; hanging low = passive, sad, tired"),
    _spec("hands_distance", "m", ".2f",
          "mean distance between the two wrists",
          "hands close together = closed, self-protective, unconfident; far apart = open, expansive"),
    _spec("expansiveness", "m", ".2f",
          "mean distance of the wrists, ankles and head from the pelvis",
          "a spread-out body = confident, proud, dominant or excited; a compact one = withdrawn, unconfident"),
    _spec("stance_width", "m", ".2f",
          "mean lateral (body frame) distance between the ankles",
          "a wide stance = stable, tired, dominant; a narrow one = neat, cautious or light"),
    _spec("knee_bend", "deg", ".1f",
          "mean knee flexion, 180 - hip-knee-ankle angle, both legs",
          "bent knees = tired, crouched, unconfident or springy; straight = upright, stiff"),
    _spec("elbow_bend", "deg", ".1f",
          "mean elbow flexion, 180 - shoulder-elbow-wrist angle, both arms",
          "bent elbows = tense, guarded, gesturing or hurried; straight = relaxed, hanging arms"),
    _spec("energy", "m^2/s^2", ".3f",
          "mean squared joint speed over all measured joints and frames (kinetic-energy proxy)",
          "high = vigorous, excited or angry movement; low = calm, sad or tired"),
    _spec("hand_speed", "m/s", ".2f",
          "mean wrist speed relative to the pelvis, both wrists",
          "fast hands = agitated, angry or animated; slow = calm, sad, restrained"),
    _spec("head_speed", "m/s", ".2f",
          "mean head speed relative to the pelvis",
          "a lively, moving head = excited, happy or agitated; a still head = calm, withdrawn"),
    _spec("jerk", "m/s^3", ".1f",
          "mean magnitude of the third derivative of joint positions (Savitzky-Golay, cubic, 0.3 s "
          "window) over all measured joints",
          "jerky, abrupt movement = anger or agitation; smooth movement = calm, sad or relaxed"),
    _spec("vertical_bounce", "m", ".3f",
          "standard deviation of the pelvis height after removing its 1 s moving average",
          "a bouncy gait = happy, light, energetic; a flat one = sad, tired or stiff"),
    _spec("turning_speed", "deg/s", ".1f",
          "mean absolute yaw rate of the body's facing direction (slope of a 0.5 s moving linear fit)",
          "fast turning = agitated, restless or angry; little turning = steady or subdued"),
    _spec("asymmetry", "ratio", ".2f",
          "|L - R| / (L + R) of the mean left vs right wrist and ankle speeds relative to the pelvis",
          "lopsided movement = one-handed gesturing, limping or tension; 0 = symmetric"),
    _spec("stillness_ratio", "ratio", ".2f",
          "share of frames whose mean joint speed is below 0.15 m/s",
          "much stillness = frozen, sad, tired or calm; little = restless or active"),
    _spec("locomotion", "ratio", ".2f",
          "share of frames whose horizontal pelvis speed is at least 0.3 m/s (walking or running)",
          "not an emotion cue: whether gait cues (pace, cadence, steps, bounce, arm swing) apply to the clip"),
])

#: Cues in metres or metres per second (squared, cubed): the ones a wrong length unit makes wrong.
METRIC_CUES: frozenset[str] = frozenset(n for n, spec in CUES.items() if spec.unit.split("/")[0].split("^")[0] == "m")


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits as a plain float (0.0 stays 0.0)."""
    value = float(value)
    if value == 0.0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}") + 0.0  # + 0.0 turns -0.0 into 0.0


# ---- presentation and statistics -------------------------------------------------------------------
def cue_table(cues: Mapping[str, float]) -> str:
    """An aligned text table (cue, value with unit, meaning) of the present cues, in :data:`CUES` order.

    Cues not in :data:`CUES` (added by callers) follow at the end, formatted plainly.
    """
    if not cues:
        return "(no kinematic cues: the clip is too short or lacks the joints they need)"
    rows = [("cue", "value", "meaning")]
    for name in [n for n in CUES if n in cues] + sorted(n for n in cues if n not in CUES):
        spec = CUES.get(name)
        value = float(cues[name])
        rows.append((name, spec.format(value) if spec else f"{value:.4g}", spec.meaning if spec else ""))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:>{w1}}  {m}".rstrip() for a, b, m in rows]
    lines.insert(1, f"{'-' * w0}  {'-' * w1}  {'-' * 7}")
    return "\n".join(lines)


def cue_statistics(cue_dicts: Iterable[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Population reference statistics per cue: ``{name: {"mean", "std", "p10", "p90", "n"}}``.

    Absent (and non-finite) values are skipped; ``std`` is the population standard deviation;
    ``n`` is the number of values (a float, for JSON symmetry). Cues are listed in :data:`CUES`
    order, then any extra cue names alphabetically.
    """
    values: dict[str, list[float]] = {}
    for cues in cue_dicts:
        for name, value in cues.items():
            if value is not None and math.isfinite(float(value)):
                values.setdefault(name, []).append(float(value))
    order = [n for n in CUES if n in values] + sorted(n for n in values if n not in CUES)
    stats: dict[str, dict[str, float]] = {}
    for name in order:
        v = np.asarray(values[name], dtype=np.float64)
        p10, p90 = np.percentile(v, [10, 90])
        stats[name] = {
            "mean": round_sig(v.mean()), "std": round_sig(v.std()), "p10": round_sig(p10), "p90": round_sig(p90),
            "n": float(v.size),
        }
    return stats
