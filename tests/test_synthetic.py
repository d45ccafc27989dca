"""Synthetic clips: valid in every layout, deterministic, emotion parameters visible in the cues."""

from __future__ import annotations

import numpy as np
import pytest

from eai_llm.data.synthetic import CONTENTS, EMOTIONS, emotion_params, synthetic_clip, synthetic_dataset, to_layout
from eai_llm.skeleton.cues import kinematic_cues
from eai_llm.skeleton.layouts import UNIFIED, get_layout
from eai_llm.skeleton.unify import to_unified

BUILTIN = ("unified", "bandai_namco_22", "kinect_v2", "h36m_17", "smpl_24", "smpl_22", "emotion_gait_16")
U = UNIFIED.index


@pytest.mark.parametrize("layout", BUILTIN)
@pytest.mark.parametrize("content", CONTENTS)
def test_valid_clip_in_every_builtin_layout(layout, content):
    clip = synthetic_clip("happy", layout, seconds=2.0, fps=30.0, seed=1, content=content)
    lay = get_layout(layout)
    assert clip.layout is lay and clip.positions.shape == (60, lay.num_joints, 3)
    assert clip.positions.dtype == np.float32 and np.isfinite(clip.positions).all()
    assert clip.label == "happy" and clip.fps == 30.0
    assert clip.meta["source"] == "synthetic:happy:1" and clip.meta["synthetic"] is True
    assert clip.meta["content"] == content and set(clip.meta["params"]) >= {"speed", "head_pitch"}
    pos = clip.positions
    assert pos[..., 1].min() >= 0.0  # nothing below the floor
    assert 1.4 < np.percentile(pos[..., 1].max(axis=1), 50) < 1.9  # a person of about 1.7 m
    bones = np.linalg.norm(pos[:, [c for _, c in lay.edges]] - pos[:, [p for p, _ in lay.edges]], axis=-1)
    assert bones.max() < 1.2  # no joint flies away from its parent (a floor root sits ~1 m below the hips)


def test_same_seed_same_clip_other_seed_other_clip():
    a = synthetic_clip("tired", "kinect_v2", seed=7)
    b = synthetic_clip("tired", "kinect_v2", seed=7)
    assert np.array_equal(a.positions, b.positions) and a.meta == b.meta
    c = synthetic_clip("tired", "kinect_v2", seed=8)
    assert not np.allclose(a.positions, c.positions)
    assert not np.allclose(a.positions, synthetic_clip("sad", "kinect_v2", seed=7).positions)
    # variations are small: the seed jitters the parameters by a few percent
    pa, pc = a.meta["params"], c.meta["params"]
    assert pa != pc and abs(pa["speed"] - pc["speed"]) < 0.25 * emotion_params("tired").speed


def test_frames_follow_seconds_and_fps():
    assert synthetic_clip("normal", seconds=1.5, fps=50.0).num_frames == 75
    assert synthetic_clip("normal", seconds=0.01, fps=30.0).num_frames == 1


@pytest.mark.parametrize("layout", BUILTIN)
def test_to_unified_recovers_the_mapped_joints(layout):
    reference = synthetic_clip("angry", "unified", seed=4)
    clip = synthetic_clip("angry", layout, seed=4)
    unified, mask = to_unified(clip)
    assert mask.sum() == len(get_layout(layout).to_unified)
    np.testing.assert_array_equal(unified.positions[:, mask], reference.positions[:, mask])


def test_unmapped_joints_are_placed_sensibly():
    clip = synthetic_clip("proud", "bandai_namco_22", seed=2)
    root, hips = clip.joint("joint_Root"), clip.joint("Hips")
    np.testing.assert_allclose(root[:, [0, 2]], hips[:, [0, 2]], atol=1e-6)
    assert np.all(root[:, 1] == 0.0)

    kinect = synthetic_clip("proud", "kinect_v2", seed=2)
    hand, wrist = kinect.joint("HandLeft"), kinect.joint("WristLeft")
    for tip in ("HandTipLeft", "ThumbLeft"):
        offset = np.linalg.norm(kinect.joint(tip) - hand, axis=1)
        assert np.all((offset > 0.01) & (offset < 0.1))
        assert np.all(np.linalg.norm(kinect.joint(tip) - wrist, axis=1) > np.linalg.norm(hand - wrist, axis=1))
    assert not np.allclose(kinect.joint("HandTipLeft"), kinect.joint("ThumbLeft"))

    h36m = synthetic_clip("proud", "h36m_17", seed=2)
    np.testing.assert_allclose(h36m.joint("Nose"), 0.5 * (h36m.joint("Thorax") + h36m.joint("Head")), atol=1e-6)

    smpl = synthetic_clip("proud", "smpl_24", seed=2)
    np.testing.assert_allclose(smpl.joint("spine2"), 0.5 * (smpl.joint("spine1") + smpl.joint("spine3")), atol=1e-6)


def test_to_layout_accepts_plain_arrays():
    unified = synthetic_clip("sad", seed=0).positions
    out = to_layout(unified, "h36m_17")
    assert out.shape == (unified.shape[0], 17, 3)


def mean_cues(emotion: str, content: str = "walk", seeds=(0, 1, 2)) -> dict[str, float]:
    cues = [kinematic_cues(synthetic_clip(emotion, seed=s, content=content)) for s in seeds]
    return {n: float(np.mean([c[n] for c in cues if n in c])) for n in cues[0]}


@pytest.fixture(scope="module")
def walk_cues() -> dict[str, dict[str, float]]:
    return {e: mean_cues(e) for e in EMOTIONS}


def test_emotion_parameters_show_up_in_the_cues(walk_cues):
    m = walk_cues
    assert m["sad"]["walking_speed"] < 0.6 * m["happy"]["walking_speed"]
    assert m["sad"]["walking_speed"] < 0.6 * m["normal"]["walking_speed"]
    assert m["not-confident"]["hands_distance"] < m["proud"]["hands_distance"] - 0.15
    assert m["tired"]["stance_width"] > m["normal"]["stance_width"] + 0.07
    assert m["angry"]["jerk"] > 3 * m["sad"]["jerk"]
    assert m["sad"]["head_pitch"] > m["proud"]["head_pitch"] + 30
    assert m["proud"]["trunk_lean"] < 0 < m["sad"]["trunk_lean"]
    assert m["happy"]["vertical_bounce"] > 1.5 * m["normal"]["vertical_bounce"]
    assert m["not-confident"]["arm_swing"] < 0.3 * m["normal"]["arm_swing"]
    assert m["not-confident"]["elbow_bend"] > m["normal"]["elbow_bend"] + 30
    assert m["proud"]["cadence"] < m["normal"]["cadence"] - 20
    for e in EMOTIONS:  # every walk takes steps at a human rate
        assert 60 < m[e]["cadence"] < 140, e
        assert m[e]["walking_speed"] == pytest.approx(emotion_params(e).speed, rel=0.2), e


def test_gesturing_stands_still_and_keeps_the_posture():
    sad, angry = mean_cues("sad", "gesture", (0,)), mean_cues("angry", "gesture", (0,))
    for cues in (sad, angry):
        assert cues["walking_speed"] < 0.15 and cues["cadence"] == 0.0
    assert sad["stillness_ratio"] > angry["stillness_ratio"] + 0.5
    assert angry["hand_speed"] > 3 * sad["hand_speed"]
    assert sad["head_pitch"] > 15


def test_synthetic_dataset_cycles_layouts_and_contents():
    clips = synthetic_dataset(4, layouts=("unified", "h36m_17"), seed=1, contents=("walk", "gesture"), seconds=1.0)
    assert len(clips) == 4 * len(EMOTIONS)
    assert [c.label for c in clips[:4]] == ["happy"] * 4
    assert [c.layout.name for c in clips[:4]] == ["unified", "h36m_17"] * 2
    assert [c.meta["content"] for c in clips[:4]] == ["walk", "walk", "gesture", "gesture"]
    assert len({c.source for c in clips}) == len(clips)
    assert synthetic_dataset(0) == []


@pytest.mark.parametrize("kwargs", [
    {"emotion": "bored"}, {"emotion": "sad", "content": "dance"}, {"emotion": "sad", "seconds": 0},
    {"emotion": "sad", "fps": -1.0},
])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        synthetic_clip(**kwargs)
