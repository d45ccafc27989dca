import numpy as np
import pytest

from eai_llm.skeleton.clip import SkeletonClip, interpolate_gaps
from eai_llm.skeleton.errors import ClipValueError
from eai_llm.skeleton.layouts import UNIFIED, get_layout
from eai_llm.skeleton.unify import (
    body_height, facing_angle, make_windows, mirror, normalise, prepare_windows, resample, to_unified,
)

U = UNIFIED.index


def standing_pose() -> np.ndarray:
    """A unified T-ish standing pose, facing +Z (left = +X), metres, pelvis at 0.95 m."""
    p = {
        "pelvis": (0, 0.95, 0), "spine": (0, 1.10, 0), "chest": (0, 1.30, 0), "neck": (0, 1.50, 0),
        "head": (0, 1.62, 0),
        "l_collar": (0.05, 1.45, 0), "l_shoulder": (0.18, 1.45, 0), "l_elbow": (0.20, 1.17, 0),
        "l_wrist": (0.21, 0.92, 0), "l_hand": (0.21, 0.84, 0),
        "r_collar": (-0.05, 1.45, 0), "r_shoulder": (-0.18, 1.45, 0), "r_elbow": (-0.20, 1.17, 0),
        "r_wrist": (-0.21, 0.92, 0), "r_hand": (-0.21, 0.84, 0),
        "l_hip": (0.09, 0.92, 0), "l_knee": (0.10, 0.50, 0), "l_ankle": (0.10, 0.08, 0), "l_foot": (0.10, 0.02, 0.12),
        "r_hip": (-0.09, 0.92, 0), "r_knee": (-0.10, 0.50, 0), "r_ankle": (-0.10, 0.08, 0), "r_foot": (-0.10, 0.02, 0.12),
    }
    return np.array([p[n] for n in UNIFIED.joint_names], dtype=np.float32)


def walking_clip(frames=90, fps=30.0, speed=1.2, yaw=0.0, offset=(3.0, 0.1, -2.0)) -> SkeletonClip:
    pose = standing_pose()
    t = np.arange(frames) / fps
    pos = np.repeat(pose[None], frames, axis=0)
    pos[:, :, 2] += speed * t[:, None]
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float32)
    pos = pos @ rot.T + np.array(offset, dtype=np.float32)
    return SkeletonClip(pos, fps, UNIFIED)


def test_to_unified_maps_and_masks():
    h36m = get_layout("h36m_17")
    pose = standing_pose()
    src = np.zeros((5, 17, 3), dtype=np.float32)
    for joint, target in h36m.to_unified.items():
        src[:, h36m.index[joint]] = pose[U[target]]
    src[:, h36m.index["Nose"]] = pose[U["head"]] + [0, 0, 0.1]
    uni, mask = to_unified(SkeletonClip(src, 30, h36m))
    assert uni.layout is UNIFIED and uni.positions.shape == (5, 23, 3)
    assert mask.sum() == len(h36m.to_unified)
    assert not mask[U["l_collar"]] and not mask[U["l_hand"]] and mask[U["l_wrist"]]
    # missing joints sit on their nearest present ancestor: the collar on the chest... which h36m lacks,
    # so the chest sits on the spine
    np.testing.assert_allclose(uni.positions[:, U["chest"]], uni.positions[:, U["spine"]])
    np.testing.assert_allclose(uni.positions[:, U["l_hand"]], uni.positions[:, U["l_wrist"]])
    np.testing.assert_allclose(uni.positions[:, U["l_elbow"]], np.broadcast_to(pose[U["l_elbow"]], (5, 3)))


def test_normalise_faces_plus_z_floor_zero_unit_height():
    yaw = np.deg2rad(70)
    clip = walking_clip(yaw=yaw)
    assert np.isclose(facing_angle(clip.positions)[0], yaw, atol=1e-4)
    norm = normalise(clip)
    assert np.allclose(facing_angle(norm.positions), 0, atol=1e-4)
    np.testing.assert_allclose(norm.positions[0, U["pelvis"], [0, 2]], 0, atol=1e-5)
    assert abs(norm.positions[..., 1].min()) < 1e-5
    # the trajectory is kept (walking along +Z after rotation) and the body is unit height
    assert norm.positions[-1, U["pelvis"], 2] > 0.5
    assert 0.9 < norm.positions[0, U["head"], 1] < 1.05
    assert 1.5 < norm.meta["body_height_m"] < 1.9
    assert np.isclose(body_height(clip.positions), norm.meta["body_height_m"], rtol=1e-5)


def test_normalise_is_invariant_to_placement():
    a = normalise(walking_clip(yaw=0.3, offset=(1, 0.2, 1)))
    b = normalise(walking_clip(yaw=-2.0, offset=(-4, 0.0, 7)))
    np.testing.assert_allclose(a.positions, b.positions, atol=1e-4)


def test_resample_linear_and_exact():
    clip = walking_clip(frames=91, fps=30)
    r = resample(clip, 15)
    assert r.fps == 15 and r.num_frames == 46
    np.testing.assert_allclose(r.positions, clip.positions[::2], atol=1e-5)
    up = resample(clip, 60)
    np.testing.assert_allclose(up.positions[1], (clip.positions[0] + clip.positions[1]) / 2, atol=1e-5)
    assert resample(clip, 30) is clip


def test_windows_cover_clip_and_mask_padding():
    pos = np.arange(100, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    wins, mask, starts = make_windows(pos, 32, 16)
    assert wins.shape == (len(starts), 32, 2, 3) and mask.all()
    assert starts[0] == 0 and starts[-1] == 100 - 32  # aligned to the end, nothing lost
    short, smask, sstarts = make_windows(pos[:10], 32, 16)
    assert short.shape[0] == 1 and smask.sum() == 10 and list(sstarts) == [0]
    np.testing.assert_array_equal(short[0, 10:], np.broadcast_to(pos[9], (22, 2, 3)))  # padded with last frame


def test_mirror_swaps_sides_and_is_involution():
    pose = normalise(walking_clip()).positions
    m = mirror(pose)
    np.testing.assert_allclose(m[:, U["l_wrist"], 0], -pose[:, U["r_wrist"], 0])
    np.testing.assert_allclose(mirror(m), pose)
    # a symmetric pose is its own mirror
    np.testing.assert_allclose(m, pose, atol=1e-5)


def test_prepare_windows_pipeline():
    batch = prepare_windows(walking_clip(frames=150), fps=20, window=32, stride=16)
    assert batch.positions.shape[1:] == (32, 23, 3)
    assert batch.joint_mask.all() and batch.fps == 20
    assert batch.frame_mask.shape == batch.positions.shape[:2]


def test_interpolate_gaps_only_short_inner_gaps():
    pos = walking_clip(frames=20).positions.copy()
    pos[5:7, 3] = np.nan
    filled, n = interpolate_gaps(pos, max_gap=2)
    assert n == 2 and np.isfinite(filled).all()
    np.testing.assert_allclose(filled[5, 3], pos[4, 3] + (pos[7, 3] - pos[4, 3]) / 3, atol=1e-5)
    with pytest.raises(ClipValueError, match="exceeds"):
        interpolate_gaps(pos, max_gap=1)
    pos[0, 0] = np.nan
    with pytest.raises(ClipValueError, match="start or end"):
        interpolate_gaps(pos, max_gap=5)


def test_clip_validation_messages():
    with pytest.raises(ClipValueError, match="NaN"):
        SkeletonClip(np.full((3, 23, 3), np.nan), 30, UNIFIED, meta={"source": "x.npz"})
    with pytest.raises(ClipValueError, match="zero frames"):
        SkeletonClip(np.zeros((0, 23, 3)), 30, UNIFIED)
    with pytest.raises(ClipValueError, match="layout 'h36m_17' has 17"):
        SkeletonClip(np.zeros((3, 23, 3)), 30, "h36m_17")
    with pytest.raises(ClipValueError, match="fps"):
        SkeletonClip(np.zeros((3, 23, 3)), 0, UNIFIED)
