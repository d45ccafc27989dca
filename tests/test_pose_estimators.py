"""Pose-estimator inputs (issue 14, item 3): MediaPipe 33, COCO-17, OpenPose BODY_25 arrays, confidence gaps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eai_llm.cli import main
from eai_llm.data.synthetic import synthetic_clip, to_layout
from eai_llm.skeleton.cues import kinematic_cues
from eai_llm.skeleton.errors import ClipValueError, LayoutError
from eai_llm.skeleton.io import load_clip, save_clip
from eai_llm.skeleton.layouts import UNIFIED, get_layout
from eai_llm.skeleton.unify import to_unified

U = UNIFIED.index
ESTIMATORS = {"mediapipe_33": 33, "coco_17": 17, "openpose_25": 25}


def _walk(layout: str, seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(unified positions, the same motion in ``layout``), metres."""
    unified = synthetic_clip("happy", "unified", seconds=seconds, seed=3).positions
    return unified, to_layout(unified, layout)


@pytest.mark.parametrize("name, joints", sorted(ESTIMATORS.items()))
def test_estimator_arrays_unify_with_midpoints(tmp_path: Path, name: str, joints: int) -> None:
    lay = get_layout(name)
    unified, arr = _walk(name)
    assert arr.shape[1] == joints == lay.num_joints
    path = tmp_path / f"{name}.npy"
    np.save(path, arr)
    clip = load_clip(path, layout=name, fps=30)
    uni, mask = to_unified(clip)
    for joint, target in lay.to_unified.items():  # mapped joints land exactly on their unified joint
        np.testing.assert_allclose(uni.positions[:, U[target]], arr[:, lay.index[joint]], atol=1e-6)
    for target, (a, b) in lay.midpoints.items():  # pelvis / neck / head of estimators are midpoints
        expected = 0.5 * (arr[:, lay.index[a]] + arr[:, lay.index[b]])
        np.testing.assert_allclose(uni.positions[:, U[target]], expected, atol=1e-6)
        assert mask[U[target]]
    for core in ("pelvis", "neck", "head", "l_wrist", "r_ankle"):
        assert mask[U[core]], core
    cues = kinematic_cues(clip)
    reference = kinematic_cues(synthetic_clip("happy", "unified", seconds=3.0, seed=3))
    assert cues["walking_speed"] == pytest.approx(reference["walking_speed"], rel=0.05)
    assert cues["cadence"] == pytest.approx(reference["cadence"], rel=0.05)
    back = load_clip(save_clip(clip, tmp_path / f"{name}.npz"))  # the layout (with midpoints) travels as JSON
    assert back.layout == lay and back.layout.midpoints == lay.midpoints


def test_vendor_orders() -> None:
    mp = get_layout("mediapipe_33").joint_names
    assert (mp[0], mp[11], mp[12], mp[23], mp[24], mp[32]) == (
        "nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip", "right_foot_index")
    op = get_layout("openpose_25").joint_names
    assert (op[0], op[1], op[8], op[15], op[24]) == ("Nose", "Neck", "MidHip", "REye", "RHeel")
    coco = get_layout("coco_17").joint_names
    assert (coco[0], coco[5], coco[16]) == ("nose", "left_shoulder", "right_ankle")


def _with_confidence(arr: np.ndarray, low: list[tuple[int, int]], value: float = 0.1) -> np.ndarray:
    conf = np.ones(arr.shape[:2] + (1,), np.float32)
    for t, j in low:
        conf[t, j] = value
    return np.concatenate([arr, conf], axis=2)


def test_low_confidence_joints_become_gaps(tmp_path: Path) -> None:
    _, arr = _walk("mediapipe_33")
    lay = get_layout("mediapipe_33")
    wrist = lay.index["left_wrist"]
    low = [(10, wrist), (11, wrist), (40, lay.index["nose"])]
    path = tmp_path / "mp.npy"
    np.save(path, _with_confidence(arr, low))
    with pytest.raises(ClipValueError) as err:
        load_clip(path, layout="mediapipe_33")
    msg = str(err.value)
    assert "low-confidence (< 0.5)" in msg and str(path) in msg and "interpolate_gaps" in msg and "\n" not in msg
    clip = load_clip(path, layout="mediapipe_33", interpolate_gaps=3)
    assert clip.meta["low_confidence_joint_frames"] == 3 and clip.meta["min_confidence"] == 0.5
    assert clip.meta["interpolated_frames"] == 3
    np.testing.assert_allclose(clip.positions[10:12, wrist], arr[10:12, wrist], atol=0.02)  # a smooth walk
    assert not np.array_equal(clip.positions[10:12, wrist], arr[10:12, wrist])  # filled, not the original
    lenient = load_clip(path, layout="mediapipe_33", min_confidence=0.05)  # the threshold is configurable
    np.testing.assert_allclose(lenient.positions, arr, atol=1e-6)
    with pytest.raises(ClipValueError, match="min_confidence argument"):
        load_clip(path, layout="mediapipe_33", min_confidence=2)
    np.save(path, _with_confidence(arr, [(10, wrist)] + [(t, wrist) for t in range(30, 40)]))
    with pytest.raises(ClipValueError, match=r"joint 'left_wrist', frames 30\.\.39: gap of 10"):
        load_clip(path, layout="mediapipe_33", interpolate_gaps=3)  # the longest gap, by joint name


def test_foreign_npz_with_confidence(tmp_path: Path) -> None:
    _, arr = _walk("openpose_25")
    path = tmp_path / "op.npz"
    np.savez(path, keypoints=_with_confidence(arr, []), fps=np.array(25.0))
    clip = load_clip(path, layout="openpose_25")
    assert clip.fps == 25.0 and clip.meta["confidence_channel"] and clip.meta["low_confidence_joint_frames"] == 0
    np.testing.assert_allclose(clip.positions, arr, atol=1e-6)


def test_layout_from_joint_count_only_when_unambiguous(tmp_path: Path) -> None:
    _, arr = _walk("mediapipe_33")
    path = tmp_path / "pose.npy"
    np.save(path, arr)
    clip = load_clip(path)  # 33 joints: only mediapipe_33
    assert clip.layout.name == "mediapipe_33" and clip.meta["layout_from_joint_count"]
    assert any("chosen from the joint count (33)" in w for w in clip.meta["warnings"])
    for name, others in (("openpose_25", "kinect_v2"), ("coco_17", "h36m_17")):
        _, arr = _walk(name)
        path = tmp_path / f"{name}.npy"
        np.save(path, arr)
        with pytest.raises(LayoutError) as err:
            load_clip(path)
        assert name in str(err.value) and others in str(err.value)


def test_cli_inspect_of_estimator_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _, arr = _walk("mediapipe_33")
    path = tmp_path / "landmarks.npy"
    np.save(path, _with_confidence(arr, []))
    assert main(["inspect", str(path), "--layout", "mediapipe_33", "--fps", "30", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layout"] == "mediapipe_33" and info["joints"] == 33 and info["cues"]["walking_speed"] > 0
