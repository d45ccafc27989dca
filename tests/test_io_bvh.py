"""BVH reading: real files against bvhio, hand-written rigs against an independent forward kinematics,
rotation orders, units, frame rates, rig mapping, gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bvh_reference import ROT, bvh_text, human_rig, random_motion, reference_fk, write
from conftest import real_bvh_files
from eai_llm.skeleton.errors import ClipValueError, LayoutError
from eai_llm.skeleton.io import _split_name, guess_unified_mapping, load_clip
from eai_llm.skeleton.layouts import Layout, get_layout, list_layouts
from eai_llm.skeleton.unify import to_unified


# ---- real data -----------------------------------------------------------------------------------
def _bvhio_positions(path: Path, frames: range) -> tuple[list[str], np.ndarray]:
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    joints = [j for j, _, _ in root.layout()]
    out = np.empty((len(frames), len(joints), 3))
    for k, f in enumerate(frames):
        root.loadPose(f)
        for i, j in enumerate(joints):
            p = j.PositionWorld
            out[k, i] = (p.x, p.y, p.z)
    return [j.Name for j in joints], out


def test_real_files_agree_with_bvhio(real_data: Path) -> None:
    pytest.importorskip("bvhio")
    files = real_bvh_files()
    picks = [files[i] for i in np.linspace(0, len(files) - 1, 5).round().astype(int)]
    worst = 0.0
    for path in picks:
        clip = load_clip(path)
        frames = range(0, clip.num_frames, 3)
        names, ref_cm = _bvhio_positions(path, frames)
        assert names == list(clip.layout.joint_names)
        ours_cm = clip.positions[list(frames)].astype(np.float64) * 100.0
        worst = max(worst, float(np.abs(ours_cm - ref_cm).max()))
    assert worst < 1e-3, f"max |ours - bvhio| = {worst:.2e} cm"


def test_real_files_layout_units_and_rigid_bones(real_data: Path) -> None:
    files = real_bvh_files()
    assert len(files) > 100
    for path in files:
        clip = load_clip(path)
        assert clip.layout is get_layout("bandai_namco_22"), path
        assert clip.meta["units"] == "cm" and not clip.meta["units_assumed"], (path, clip.meta)
        assert clip.fps == 30.0 and clip.meta["format"] == "bvh" and clip.meta["derived_layout"] is False
        assert clip.meta["source"] == str(path)
        pos = clip.positions.astype(np.float64)
        # joint_Root is a floor projection that the hips move away from: not a bone
        edges = np.array([e for e in clip.layout.edges if e[0] != clip.layout.index["joint_Root"]])
        lengths = np.linalg.norm(pos[:, edges[:, 1]] - pos[:, edges[:, 0]], axis=-1)
        assert (lengths.max(0) - lengths.min(0)).max() < 1e-4, path  # metres
        head_y = clip.joint("Head")[:, 1]
        assert 1.0 < float(np.median(head_y)) < 1.9, path  # Y up, metres (head joint, sad walks bow it)


# ---- tiny hand-written BVHs against the reference ------------------------------------------------
@pytest.mark.parametrize("orders", [["ZXY"], ["XYZ"], ["YXZ"], ["ZYX", "XZY", "YZX", "ZXY", "XYZ", "YXZ"]])
def test_rotation_orders_match_reference(tmp_path: Path, orders: list[str]) -> None:
    joints = human_rig(orders)
    motion = random_motion(joints, 5, seed=len(orders))
    sites = {"Head": (0, 12, 0), "LeftHand": (8, 0, 0)}
    path = write(tmp_path / "orders.bvh", bvh_text(joints, motion, end_sites=sites))
    clip = load_clip(path)
    ref = reference_fk(joints, np.loadtxt(path.read_text().split("Frame Time")[1].splitlines()[1:]))
    assert clip.positions.shape == (5, len(joints), 3)
    np.testing.assert_allclose(clip.positions, ref / 100.0, atol=2e-6)
    assert clip.meta["units"] == "cm" and clip.meta["units_assumed"] is False
    assert clip.meta["end_sites"] == 2 and clip.num_joints == len(joints)  # end sites are not joints
    assert clip.fps == 30.0


def test_positions_on_every_joint_replace_offsets(tmp_path: Path) -> None:
    joints = human_rig(["ZXY", "YXZ"], six_everywhere=True)
    for j in joints[3:6]:  # rotations before positions, and partial channel sets
        j["channels"] = ["Yrotation", "Xposition", "Zrotation", "Zposition"] if j is joints[3] else j["channels"][::-1]
    joints[6]["channels"] = ["Yposition"]
    joints[7]["channels"] = []
    motion = random_motion(joints, 4, seed=3)
    path = write(tmp_path / "sixes.bvh", bvh_text(joints, motion))
    ref = reference_fk(joints, np.loadtxt(path.read_text().split("Frame Time")[1].splitlines()[1:]))
    clip = load_clip(path, units="cm")
    np.testing.assert_allclose(clip.positions, ref / 100.0, atol=2e-6)


def test_root_rotation_then_position_channels(tmp_path: Path) -> None:
    joints = human_rig()
    joints[0]["channels"] = ["Zrotation", "Xrotation", "Yrotation", "Xposition", "Yposition", "Zposition"]
    motion = random_motion(joints, 3, seed=5)
    path = write(tmp_path / "rootorder.bvh", bvh_text(joints, motion))
    ref = reference_fk(joints, np.loadtxt(path.read_text().split("Frame Time")[1].splitlines()[1:]))
    np.testing.assert_allclose(load_clip(path).positions, ref / 100.0, atol=2e-6)


@pytest.mark.parametrize("scale,units", [(1 / 2.54, "inch"), (10.0, "mm"), (0.01, "m"), (0.05, None)])
def test_units_detected_or_assumed(tmp_path: Path, scale: float, units: str | None) -> None:
    joints = human_rig(scale=scale)
    motion = random_motion(joints, 4, seed=1, scale=scale)
    path = write(tmp_path / "units.bvh", bvh_text(joints, motion))
    clip = load_clip(path)
    ref = reference_fk(joints, np.loadtxt(path.read_text().split("Frame Time")[1].splitlines()[1:]))
    if units is None:  # ~9 file units tall: no human unit fits, cm assumed and said so
        assert clip.meta["units"] == "cm" and clip.meta["units_assumed"] is True
    else:
        assert clip.meta["units"] == units and clip.meta["units_assumed"] is False
        np.testing.assert_allclose(clip.positions, ref * {"inch": 0.0254, "mm": 0.001, "m": 1.0}[units], atol=1e-5)
    forced = load_clip(path, units="mm")
    np.testing.assert_allclose(forced.positions, ref * 0.001, atol=1e-6)
    assert forced.meta["units"] == "mm" and forced.meta["units_detected"] is False


def test_fps_from_frame_time_and_override(tmp_path: Path) -> None:
    joints = human_rig()
    path = write(tmp_path / "fps.bvh", bvh_text(joints, random_motion(joints, 3), frame_time=1 / 120))
    assert load_clip(path).fps == 120.0
    over = load_clip(path, fps=60)
    assert over.fps == 60.0 and over.meta["original_fps"] == 120.0 and over.meta["fps_overridden"]


def test_mixamo_rig_gets_a_derived_layout(tmp_path: Path) -> None:
    names = {"Chest": "Spine2", "Spine": "Spine1"}
    joints = human_rig(prefix="mixamorig:", names=names)
    # a Spine between Hips and Spine1, collars between Spine2 and the arms, toes
    joints.insert(1, {"name": "mixamorig:Spine", "parent": "mixamorig:Hips", "offset": (0, 8, 0), "channels": ROT})
    joints[2]["parent"] = "mixamorig:Spine"
    for side, sx in (("Left", 1), ("Right", -1)):
        k = next(i for i, j in enumerate(joints) if j["name"] == f"mixamorig:{side}Arm")
        joints.insert(k, {"name": f"mixamorig:{side}Shoulder", "parent": "mixamorig:Spine2",
                          "offset": (sx * 5, 16, 0), "channels": ROT})
        joints[k + 1]["parent"] = f"mixamorig:{side}Shoulder"
        joints[k + 1]["offset"] = (sx * 13, 2, 0)
    joints.append({"name": "mixamorig:LeftToeBase", "parent": "mixamorig:LeftFoot", "offset": (0, -5, 12),
                   "channels": ROT})
    joints.append({"name": "mixamorig:HeadTop_End", "parent": "mixamorig:Head", "offset": (0, 18, 0), "channels": ROT})
    order = _dfs(joints)
    motion = random_motion(order, 4, seed=2)
    path = write(tmp_path / "mixamo_walk.bvh", bvh_text(order, motion))
    clip = load_clip(path)
    lay = clip.layout
    assert lay.name == "bvh:mixamo_walk" and clip.meta["derived_layout"] is True
    assert lay.name not in list_layouts()  # attached to the clip, never registered
    u = {k.removeprefix("mixamorig:"): v for k, v in lay.to_unified.items()}
    assert u == {
        "Hips": "pelvis", "Spine": "spine", "Spine2": "chest", "Neck": "neck", "Head": "head",
        "LeftShoulder": "l_collar", "LeftArm": "l_shoulder", "LeftForeArm": "l_elbow", "LeftHand": "l_wrist",
        "RightShoulder": "r_collar", "RightArm": "r_shoulder", "RightForeArm": "r_elbow", "RightHand": "r_wrist",
        "LeftUpLeg": "l_hip", "LeftLeg": "l_knee", "LeftFoot": "l_ankle", "LeftToeBase": "l_foot",
        "RightUpLeg": "r_hip", "RightLeg": "r_knee",
    }
    unified, mask = to_unified(clip)
    assert mask.sum() == len(u)
    ref = reference_fk(order, np.loadtxt(path.read_text().split("Frame Time")[1].splitlines()[1:]))
    np.testing.assert_allclose(clip.positions, ref / 100.0, atol=2e-6)


def _dfs(joints: list[dict]) -> list[dict]:
    kids: dict[str | None, list[dict]] = {}
    for j in joints:
        kids.setdefault(j["parent"], []).append(j)
    out: list[dict] = []
    stack = list(reversed(kids[None]))
    while stack:
        j = stack.pop()
        out.append(j)
        stack.extend(reversed(kids.get(j["name"], [])))
    return out


def _tree(pairs: list[tuple[str, str | None]]) -> tuple[list[str], list[int]]:
    names = [n for n, _ in pairs]
    return names, [-1 if p is None else names.index(p) for _, p in pairs]


def test_guess_mapping_reproduces_registered_layouts() -> None:
    for name in ("bandai_namco_22", "kinect_v2", "smpl_24", "smpl_22", "emotion_gait_16"):
        lay = get_layout(name)
        assert guess_unified_mapping(lay.joint_names, lay.parents) == dict(lay.to_unified), name


def test_guess_mapping_cmu_and_blender_names() -> None:
    cmu = _tree([
        ("Hips", None), ("LHipJoint", "Hips"), ("LeftUpLeg", "LHipJoint"), ("LeftLeg", "LeftUpLeg"),
        ("LeftFoot", "LeftLeg"), ("LeftToeBase", "LeftFoot"), ("RHipJoint", "Hips"), ("RightUpLeg", "RHipJoint"),
        ("RightLeg", "RightUpLeg"), ("RightFoot", "RightLeg"), ("RightToeBase", "RightFoot"),
        ("LowerBack", "Hips"), ("Spine", "LowerBack"), ("Spine1", "Spine"), ("Neck", "Spine1"), ("Neck1", "Neck"),
        ("Head", "Neck1"), ("LeftShoulder", "Spine1"), ("LeftArm", "LeftShoulder"), ("LeftForeArm", "LeftArm"),
        ("LeftHand", "LeftForeArm"), ("LeftFingerBase", "LeftHand"), ("LThumb", "LeftHand"),
        ("RightShoulder", "Spine1"), ("RightArm", "RightShoulder"), ("RightForeArm", "RightArm"),
        ("RightHand", "RightForeArm"),
    ])
    m = guess_unified_mapping(*cmu)
    assert m["Hips"] == "pelvis" and m["Spine1"] == "chest" and m["LowerBack"] == "spine"
    assert m["Neck"] == "neck" and m["Head"] == "head" and "LHipJoint" not in m and "LThumb" not in m
    arm = [m[k] for k in ("LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand")]
    leg = [m[k] for k in ("RightUpLeg", "RightLeg", "RightFoot", "RightToeBase")]
    assert arm == ["l_collar", "l_shoulder", "l_elbow", "l_wrist"] and leg == ["r_hip", "r_knee", "r_ankle", "r_foot"]
    blender = _tree([
        ("root", None), ("hips", "root"), ("spine", "hips"), ("chest", "spine"), ("neck", "chest"), ("head", "neck"),
        ("shoulder.L", "chest"), ("upper_arm.L", "shoulder.L"), ("forearm.L", "upper_arm.L"), ("hand.L", "forearm.L"),
        ("shoulder.R", "chest"), ("upper_arm.R", "shoulder.R"), ("forearm.R", "upper_arm.R"), ("hand.R", "forearm.R"),
        ("thigh.L", "hips"), ("shin.L", "thigh.L"), ("foot.L", "shin.L"), ("toe.L", "foot.L"),
        ("thigh.R", "hips"), ("shin.R", "thigh.R"), ("foot.R", "shin.R"), ("toe.R", "foot.R"),
    ])
    m = guess_unified_mapping(*blender)
    assert m == {
        "hips": "pelvis", "spine": "spine", "chest": "chest", "neck": "neck", "head": "head",
        "shoulder.L": "l_collar", "upper_arm.L": "l_shoulder", "forearm.L": "l_elbow", "hand.L": "l_wrist",
        "shoulder.R": "r_collar", "upper_arm.R": "r_shoulder", "forearm.R": "r_elbow", "hand.R": "r_wrist",
        "thigh.L": "l_hip", "shin.L": "l_knee", "foot.L": "l_ankle", "toe.L": "l_foot",
        "thigh.R": "r_hip", "shin.R": "r_knee", "foot.R": "r_ankle", "toe.R": "r_foot",
    }
    Layout("blender", blender[0], blender[1], m)  # injective and valid
    assert _split_name("Bip01 L Thigh") == ("l", "thigh")
    assert _split_name("mixamorig1:RightToeBase") == ("r", "toebase")
    assert _split_name("l_elbow") == ("l", "elbow") and _split_name("LowerBack") == (None, "lowerback")


def test_interpolate_gaps_in_bvh(tmp_path: Path) -> None:
    joints = human_rig()
    motion = random_motion(joints, 8, seed=4)
    text = bvh_text(joints, motion).splitlines()
    row = len(text) - 8 + 3  # frame 3
    vals = text[row].split()
    vals[7] = "nan"
    text[row] = " ".join(vals)
    path = write(tmp_path / "gap.bvh", "\n".join(text) + "\n")
    with pytest.raises(ClipValueError, match=rf"gap\.bvh: line {row + 1}, value 8 \(Spine Xrotation\)"):
        load_clip(path)
    clip = load_clip(path, interpolate_gaps=2)
    assert clip.meta["interpolated_frames"] > 0 and np.isfinite(clip.positions).all()
    assert clip.meta["interpolate_gaps"] == 2


def test_layout_argument_for_bvh(tmp_path: Path, tiny_bvh) -> None:
    path, joints, _ = tiny_bvh
    sub = Layout("upper", ("Hips", "Spine", "Chest", "Neck", "Head"), (-1, 0, 1, 2, 3),
                 {"Hips": "pelvis", "Head": "head"})
    clip = load_clip(path, layout=sub)
    full = load_clip(path)
    np.testing.assert_array_equal(clip.positions, full.positions[:, :5])
    with pytest.raises(LayoutError, match="tiny.bvh: layout: layout 'bandai_namco_22' needs joints"):
        load_clip(path, layout="bandai_namco_22")
    with pytest.raises(LayoutError, match="tiny.bvh: layout argument: .*unknown layout"):
        load_clip(path, layout="no_such_layout")
