"""Kinematic cues: known answers on hand-built clips, missing joints, invariance, and real-data directions."""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest

from eai_llm.data.synthetic import synthetic_clip
from eai_llm.skeleton.clip import SkeletonClip
from eai_llm.skeleton.cues import CUES, MIN_SECONDS, cue_statistics, cue_table, kinematic_cues, round_sig
from eai_llm.skeleton.layouts import UNIFIED, Layout

U = UNIFIED.index
FPS = 30.0
CONTRACT = (
    "walking_speed", "cadence", "step_length", "trunk_lean", "head_pitch", "shoulder_slump", "arm_swing",
    "hand_height", "hands_distance", "expansiveness", "stance_width", "knee_bend", "elbow_bend", "energy",
    "hand_speed", "head_speed", "jerk", "vertical_bounce", "turning_speed", "asymmetry", "stillness_ratio",
    "locomotion",
)
TIMED = {"walking_speed", "cadence", "step_length", "arm_swing", "energy", "hand_speed", "head_speed", "jerk",
         "vertical_bounce", "turning_speed", "asymmetry", "stillness_ratio", "locomotion"}
UPPER_BODY = ("spine", "chest", "neck", "head", "l_collar", "l_shoulder", "l_elbow", "l_wrist", "l_hand",
              "r_collar", "r_shoulder", "r_elbow", "r_wrist", "r_hand")


def standing_pose() -> np.ndarray:
    """A unified standing pose facing +Z (left = +X), metres, straight limbs, ankles 0.2 m apart."""
    p = {
        "pelvis": (0, 0.95, 0), "spine": (0, 1.07, 0), "chest": (0, 1.25, 0), "neck": (0, 1.45, 0),
        "head": (0, 1.58, 0),
        "l_collar": (0.04, 1.40, 0), "l_shoulder": (0.18, 1.40, 0), "l_elbow": (0.18, 1.11, 0),
        "l_wrist": (0.18, 0.85, 0), "l_hand": (0.18, 0.77, 0),
        "r_collar": (-0.04, 1.40, 0), "r_shoulder": (-0.18, 1.40, 0), "r_elbow": (-0.18, 1.11, 0),
        "r_wrist": (-0.18, 0.85, 0), "r_hand": (-0.18, 0.77, 0),
        "l_hip": (0.10, 0.90, 0), "l_knee": (0.10, 0.49, 0), "l_ankle": (0.10, 0.08, 0),
        "l_foot": (0.10, 0.02, 0.12),
        "r_hip": (-0.10, 0.90, 0), "r_knee": (-0.10, 0.49, 0), "r_ankle": (-0.10, 0.08, 0),
        "r_foot": (-0.10, 0.02, 0.12),
    }
    return np.array([p[n] for n in UNIFIED.joint_names], dtype=np.float64)


def rot_y(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_x(angle: float) -> np.ndarray:
    """Rotation about +X (the left axis): positive tips +Y towards +Z (forward)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def tilt(pose: np.ndarray, joints: tuple[str, ...], about: str, degrees: float) -> np.ndarray:
    """Rotate ``joints`` about joint ``about`` forward by ``degrees`` (sagittal plane)."""
    out = pose.copy()
    idx = [U[j] for j in joints]
    centre = pose[U[about]]
    out[idx] = (pose[idx] - centre) @ rot_x(math.radians(degrees)).T + centre
    return out


def clip_of(frames: np.ndarray, fps: float = FPS) -> SkeletonClip:
    return SkeletonClip(frames.astype(np.float32), fps, UNIFIED)


def still(pose: np.ndarray, frames: int = 90) -> np.ndarray:
    return np.repeat(pose[None], frames, axis=0)


# ---- registry and formatting --------------------------------------------------------------------
def test_registry_follows_the_contract():
    assert tuple(CUES)[: len(CONTRACT)] == CONTRACT
    for name, spec in CUES.items():
        assert spec.name == name and spec.unit and spec.description and spec.meaning
        assert isinstance(spec.format(1.234), str)
    assert CUES["walking_speed"].format(1.234) == "1.23 m/s"
    assert CUES["stillness_ratio"].format(0.5) == "0.50"


def test_cue_table_lists_present_cues_in_registry_order():
    cues = {"stillness_ratio": 0.25, "walking_speed": 1.2, "head_pitch": 12.5}
    table = cue_table(cues)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["cue", "value"]
    names = [line.split()[0] for line in lines[2:]]
    assert names == ["walking_speed", "head_pitch", "stillness_ratio"]
    assert "1.20 m/s" in table and "12.5 deg" in table and "trunk_lean" not in table
    widths = {line.index(CUES[n].meaning[:10]) for line, n in zip(lines[2:], names)}
    assert len(widths) == 1  # the meaning column is aligned
    assert "no kinematic cues" in cue_table({})


def test_cue_statistics_skip_absent_values():
    stats = cue_statistics([{"walking_speed": v, "jerk": 3.0} for v in (1.0, 2.0, 3.0)]
                           + [{"walking_speed": 4.0}, {}, {"jerk": float("nan")}])
    s = stats["walking_speed"]
    assert s["n"] == 4 and s["mean"] == pytest.approx(2.5)
    assert s["std"] == pytest.approx(np.std([1, 2, 3, 4]), rel=1e-3)
    assert s["p10"] == pytest.approx(1.3) and s["p90"] == pytest.approx(3.7)
    assert stats["jerk"] == {"mean": 3.0, "std": 0.0, "p10": 3.0, "p90": 3.0, "n": 3.0}
    assert list(stats) == ["walking_speed", "jerk"]  # registry order


# ---- known answers ----------------------------------------------------------------------------------
def test_translation_gives_walking_speed_without_steps():
    frames = still(standing_pose())
    t = np.arange(len(frames)) / FPS
    frames[:, :, 2] += 1.2 * t[:, None]
    cues = kinematic_cues(clip_of(frames))
    assert cues["walking_speed"] == pytest.approx(1.2, abs=0.01)
    assert cues["cadence"] == 0.0 and "step_length" not in cues
    assert cues["stillness_ratio"] == 0.0
    assert cues["energy"] == pytest.approx(1.44, rel=0.02)
    assert cues["hand_speed"] == pytest.approx(0.0, abs=1e-3) and cues["jerk"] == pytest.approx(0.0, abs=0.05)


def test_still_clip():
    cues = kinematic_cues(clip_of(still(standing_pose())))
    assert cues["stillness_ratio"] == 1.0
    assert cues["cadence"] == 0.0 and "step_length" not in cues
    assert cues["walking_speed"] == pytest.approx(0.0, abs=1e-4)
    assert cues["turning_speed"] == pytest.approx(0.0, abs=1e-3)
    assert cues["vertical_bounce"] == pytest.approx(0.0, abs=1e-5)
    assert cues["knee_bend"] == pytest.approx(0.0, abs=0.5) and cues["elbow_bend"] == pytest.approx(0.0, abs=0.5)
    assert cues["trunk_lean"] == pytest.approx(0.0, abs=0.1) and cues["head_pitch"] == pytest.approx(0.0, abs=0.1)
    assert cues["stance_width"] == pytest.approx(0.20, abs=1e-3)
    assert cues["hands_distance"] == pytest.approx(0.36, abs=1e-3)
    assert cues["hand_height"] == pytest.approx(-0.10, abs=1e-3)


def test_trunk_tilted_forward():
    pose = tilt(standing_pose(), UPPER_BODY, "pelvis", 20.0)
    cues = kinematic_cues(clip_of(still(pose)))
    assert cues["trunk_lean"] == pytest.approx(20.0, abs=0.3)
    assert cues["head_pitch"] == pytest.approx(20.0, abs=0.3)  # the head went with the trunk
    assert cues["shoulder_slump"] == pytest.approx(0.0, abs=0.3)
    back = kinematic_cues(clip_of(still(tilt(standing_pose(), UPPER_BODY, "pelvis", -10.0))))
    assert back["trunk_lean"] == pytest.approx(-10.0, abs=0.3)


def test_head_bowed_is_positive_and_raised_negative():
    bowed = kinematic_cues(clip_of(still(tilt(standing_pose(), ("head",), "neck", 30.0))))
    raised = kinematic_cues(clip_of(still(tilt(standing_pose(), ("head",), "neck", -15.0))))
    assert bowed["head_pitch"] == pytest.approx(30.0, abs=0.3)
    assert raised["head_pitch"] == pytest.approx(-15.0, abs=0.3)
    assert bowed["trunk_lean"] == pytest.approx(0.0, abs=0.1)


def test_shoulders_rolled_forward_is_slump():
    pose = tilt(standing_pose(), ("l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
                                  "l_hand", "r_hand"), "chest", 25.0)
    assert kinematic_cues(clip_of(still(pose)))["shoulder_slump"] > 15.0


def test_hands_distance_and_bent_joints():
    pose = standing_pose()
    pose[U["l_wrist"], 0], pose[U["r_wrist"], 0] = 0.15, -0.15
    assert kinematic_cues(clip_of(still(pose)))["hands_distance"] == pytest.approx(0.30, abs=1e-3)
    pose = standing_pose()
    for s in "lr":  # forearm horizontal and forward: a 90 degree elbow
        pose[U[f"{s}_wrist"]] = pose[U[f"{s}_elbow"]] + [0, 0, 0.26]
        shank = 0.41 * np.array([0, -math.cos(math.radians(30)), -math.sin(math.radians(30))])
        pose[U[f"{s}_ankle"]] = pose[U[f"{s}_knee"]] + shank
    cues = kinematic_cues(clip_of(still(pose)))
    assert cues["elbow_bend"] == pytest.approx(90.0, abs=0.3)
    assert cues["knee_bend"] == pytest.approx(30.0, abs=0.3)


def gait(seconds: float = 4.0, stride_hz: float = 0.9, speed: float = 1.0, bounce: float = 0.0) -> np.ndarray:
    """A stylised gait: ankles alternate fore-aft (+-0.3 m), arms swing opposite, the body translates."""
    frames = still(standing_pose(), int(seconds * FPS))
    t = np.arange(len(frames)) / FPS
    swing = np.sin(2 * np.pi * stride_hz * t)
    for s, sign in (("l", 1.0), ("r", -1.0)):
        for j, amp in ((f"{s}_ankle", 0.3), (f"{s}_foot", 0.3), (f"{s}_knee", 0.15)):
            frames[:, U[j], 2] += sign * amp * swing
        for j, amp in ((f"{s}_wrist", -0.15), (f"{s}_hand", -0.17), (f"{s}_elbow", -0.07)):
            frames[:, U[j], 2] += sign * amp * swing
    frames[:, :, 2] += speed * t[:, None]
    frames[:, :, 1] += bounce * np.sin(2 * np.pi * 2 * stride_hz * t)[:, None]
    return frames


def test_cadence_step_length_and_arm_swing_of_a_known_gait():
    cues = kinematic_cues(clip_of(gait(stride_hz=0.9, speed=1.0)))
    assert cues["cadence"] == pytest.approx(108.0, abs=3.0)  # two steps per stride
    assert cues["step_length"] == pytest.approx(1.0 / 1.8, abs=0.02)
    assert cues["walking_speed"] == pytest.approx(1.0, abs=0.01)
    assert cues["arm_swing"] == pytest.approx(2 * 0.15 * math.sin(math.radians(72)), abs=0.02)  # 5-95 percentile range
    assert cues["asymmetry"] == pytest.approx(0.0, abs=0.01)
    slow = kinematic_cues(clip_of(gait(stride_hz=0.6, speed=0.6)))
    assert slow["cadence"] == pytest.approx(72.0, abs=3.0)


def test_vertical_bounce():
    cues = kinematic_cues(clip_of(gait(bounce=0.03)))
    assert cues["vertical_bounce"] == pytest.approx(0.03 / math.sqrt(2), rel=0.1)
    assert kinematic_cues(clip_of(gait()))["vertical_bounce"] < 1e-3


def test_turning_speed():
    frames = still(standing_pose(), 90)
    yaw = np.radians(45.0) * np.arange(90) / FPS
    pelvis = frames[0, U["pelvis"]]
    frames = np.einsum("tij,tkj->tki", np.stack([rot_y(a) for a in yaw]), frames - pelvis) + pelvis
    cues = kinematic_cues(clip_of(frames))
    assert cues["turning_speed"] == pytest.approx(45.0, abs=1.0)
    assert cues["stance_width"] == pytest.approx(0.20, abs=1e-3)  # body frame follows the turn


def test_invariant_to_placement_and_heading():
    clip = synthetic_clip("angry", seed=3)
    base = kinematic_cues(clip)
    pos = clip.positions.astype(np.float64) @ rot_y(1.3).T + np.array([5.0, 0.2, -7.0])
    moved = kinematic_cues(clip.replace(positions=pos.astype(np.float32)))
    assert set(moved) == set(base) == set(CONTRACT)
    for name in base:
        assert moved[name] == pytest.approx(base[name], rel=0.01, abs=1e-3), name


def test_values_are_plain_rounded_floats():
    cues = kinematic_cues(synthetic_clip("happy", seed=1))
    for name, value in cues.items():
        assert type(value) is float and math.isfinite(value), name
        assert value == round_sig(value), name
    assert round_sig(123456.0) == 123500.0 and round_sig(-0.000123456) == -0.0001235 and round_sig(0.0) == 0.0


# ---- missing data -----------------------------------------------------------------------------------
def test_short_clip_has_only_posture_cues():
    frames = int(MIN_SECONDS * FPS) - 3
    cues = kinematic_cues(clip_of(still(standing_pose(), frames)))
    assert not TIMED & set(cues)
    assert {"trunk_lean", "head_pitch", "hands_distance", "stance_width", "knee_bend"} <= set(cues)
    assert kinematic_cues(clip_of(still(standing_pose(), 1)))["trunk_lean"] == pytest.approx(0.0, abs=0.1)


def subset_layout(name: str, keep: tuple[str, ...]) -> Layout:
    """A layout with only ``keep`` of the unified joints (parents: nearest kept ancestor)."""
    parents = []
    for j in keep:
        p = UNIFIED.parents[U[j]]
        while p >= 0 and UNIFIED.joint_names[p] not in keep:
            p = UNIFIED.parents[p]
        parents.append(-1 if p < 0 else keep.index(UNIFIED.joint_names[p]))
    return Layout(name, keep, tuple(parents), {j: j for j in keep})


def subset_clip(clip: SkeletonClip, layout: Layout) -> SkeletonClip:
    return SkeletonClip(clip.positions[:, [U[j] for j in layout.joint_names]], clip.fps, layout)


def test_missing_wrists_remove_arm_cues():
    keep = tuple(j for j in UNIFIED.joint_names if j not in ("l_wrist", "l_hand", "r_wrist", "r_hand"))
    cues = kinematic_cues(subset_clip(synthetic_clip("sad", seed=2), subset_layout("no_wrists", keep)))
    arm_cues = {"arm_swing", "hand_height", "hands_distance", "expansiveness", "elbow_bend", "hand_speed", "asymmetry"}
    assert not arm_cues & set(cues)
    assert set(cues) == set(CONTRACT) - arm_cues


def test_missing_hips_and_shoulders_remove_body_frame_cues():
    keep = ("pelvis", "spine", "neck", "head", "l_knee", "r_knee")
    cues = kinematic_cues(subset_clip(synthetic_clip("sad", seed=2), subset_layout("trunk_only", keep)))
    assert set(cues) == {"walking_speed", "energy", "head_speed", "jerk", "vertical_bounce", "stillness_ratio",
                         "locomotion"}


def test_h36m_has_no_chest_so_no_shoulder_slump():
    cues = kinematic_cues(synthetic_clip("proud", "h36m_17", seed=0))
    assert set(cues) == set(CONTRACT) - {"shoulder_slump"}
    assert cues["head_pitch"] < -5


# ---- speed --------------------------------------------------------------------------------------------
def test_all_cues_of_a_300_frame_clip_take_a_few_ms():
    clip = synthetic_clip("angry", "bandai_namco_22", seconds=10.0, fps=30.0)
    assert clip.num_frames == 300
    kinematic_cues(clip)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        kinematic_cues(clip)
        times.append(time.perf_counter() - t0)
    best = min(times) * 1000
    print(f"kinematic_cues on 300 frames: {best:.2f} ms")
    assert best < 50.0


# ---- real data ------------------------------------------------------------------------------------------
STYLES = ("happy", "sad", "angry", "proud", "not-confident", "tired", "normal")
WALKS = ("walk", "walk-back", "walk-left")


@pytest.fixture(scope="module")
def walk_style_means(real_data) -> dict[str, dict[str, float]]:
    try:
        from eai_llm.skeleton.io import load_clip
    except ImportError as err:  # the reader is written by another module's author
        pytest.skip(f"eai_llm.skeleton.io.load_clip not available yet ({err})")
    per_style: dict[str, list[dict[str, float]]] = {s: [] for s in STYLES}
    for path in sorted((real_data / "data").glob("dataset-1_walk*.bvh")):
        m = re.match(r"dataset-1_([a-z-]+)_([a-z-]+)_\d+\.bvh$", path.name)
        if m and m.group(1) in WALKS and m.group(2) in per_style:
            per_style[m.group(2)].append(kinematic_cues(load_clip(path)))
    if any(not v for v in per_style.values()):
        pytest.skip("real data lacks walk clips of some styles")
    return {s: {n: float(np.mean([c[n] for c in cs if n in c])) for n in CONTRACT} for s, cs in per_style.items()}


def test_real_walks_show_the_expected_style_differences(walk_style_means):
    m = walk_style_means
    # sad walks slowly; happy and normal walk briskly (~0.5 vs ~1.2-1.3 m/s)
    assert m["sad"]["walking_speed"] < 0.7 * min(m["happy"]["walking_speed"], m["normal"]["walking_speed"])
    assert 1.0 < m["normal"]["walking_speed"] < 1.6
    # head bowed when sad, raised when proud (~+27 vs ~-15 degrees)
    assert m["sad"]["head_pitch"] > m["proud"]["head_pitch"] + 25
    assert m["proud"]["head_pitch"] < 0 < m["sad"]["head_pitch"]
    # trunk: sad leans forward, proud leans back
    assert m["sad"]["trunk_lean"] > m["proud"]["trunk_lean"] + 8
    # tired walks with a wide stance (~0.2 vs ~0.08 m)
    assert m["tired"]["stance_width"] > m["normal"]["stance_width"] + 0.06
    # not-confident: hands close together, tiny arm swing
    assert m["not-confident"]["hands_distance"] < m["normal"]["hands_distance"] - 0.1
    assert m["not-confident"]["arm_swing"] < 0.5 * m["normal"]["arm_swing"]
    # angry is far jerkier and faster-handed than sad; happy bounces more than normal
    assert m["angry"]["jerk"] > 2 * m["sad"]["jerk"]
    assert m["angry"]["hand_speed"] > 2 * m["sad"]["hand_speed"]
    assert m["happy"]["vertical_bounce"] > 1.8 * m["normal"]["vertical_bounce"]
    # proud walks with a slow cadence; normal walking has a usual step rate
    assert m["proud"]["cadence"] < m["normal"]["cadence"] - 20
    assert 95 < m["normal"]["cadence"] < 130


def test_locomotion_separates_walking_from_standing():
    """The precondition of the gait cues: the share of frames on the move (pelvis at >= 0.3 m/s)."""
    walk = kinematic_cues(synthetic_clip("happy", seed=1))
    still = synthetic_clip("sad", seed=1)
    pos = still.positions.copy()
    pos[:, :, [0, 2]] = pos[:, :, [0, 2]] - pos[:, :1, [0, 2]] + pos[:1, :1, [0, 2]]   # pelvis kept in place
    stand = kinematic_cues(still.replace(positions=pos))
    assert walk["locomotion"] > 0.9 and stand["locomotion"] == 0.0
    assert CUES["locomotion"].unit == "ratio"
