"""Clip readers/writers: BVH (any rig), NPZ, NPY, CSV, bad input, fuzzing, bvhio agreement."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, real_bvh_files
from eai_llm.cli import main
from eai_llm.skeleton.clip import MAX_FRAMES, SkeletonClip
from eai_llm.skeleton.errors import (ClipError, ClipFormatError, ClipLimitError, ClipValueError, ClipWriteError,
                                     LayoutError)
from eai_llm.skeleton.io import _split_name, guess_unified_mapping, load_clip, save_clip
from eai_llm.skeleton.layouts import Layout, get_layout, list_layouts
from eai_llm.skeleton.unify import to_unified

# ---- an independent reference: BVH text writer and per-frame forward kinematics -----------------
# (plain Python lists and math; shares no code with eai_llm.skeleton.io)


def _rot(axis: str, deg: float) -> list[list[float]]:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    if axis == "X":
        return [[1, 0, 0], [0, c, -s], [0, s, c]]
    if axis == "Y":
        return [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    return [[c, -s, 0], [s, c, 0], [0, 0, 1]]


def _mm(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _mv(a: list[list[float]], v: list[float]) -> list[float]:
    return [sum(a[i][k] * v[k] for k in range(3)) for i in range(3)]


def reference_fk(joints: list[dict], motion: np.ndarray) -> np.ndarray:
    """World positions (T, J, 3), one frame and one joint at a time with explicit matrix products."""
    out = np.zeros((motion.shape[0], len(joints), 3))
    index = {j["name"]: k for k, j in enumerate(joints)}
    for t, row in enumerate(motion.tolist()):
        col, world = 0, []
        for k, j in enumerate(joints):
            trans, rot = list(j["offset"]), [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]
            for ch in j["channels"]:
                axis, kind = ch[0], ch[1:]
                if kind == "position":
                    trans["XYZ".index(axis)] = row[col]
                else:
                    rot = _mm(rot, _rot(axis, row[col]))
                col += 1
            if j["parent"] is None:
                wr, wp = rot, trans
            else:
                pr, pp = world[index[j["parent"]]]
                wr = _mm(pr, rot)
                wp = [a + b for a, b in zip(pp, _mv(pr, trans))]
            world.append((wr, wp))
            out[t, k] = wp
    return out


def bvh_text(joints: list[dict], motion: np.ndarray, frame_time: float = 1 / 30,
             end_sites: dict[str, tuple] | None = None, frames: int | None = None) -> str:
    """BVH text for joints given in depth-first order (dicts: name, parent, offset, channels)."""
    end_sites = end_sites or {}
    children: dict[str | None, list[dict]] = {}
    for j in joints:
        children.setdefault(j["parent"], []).append(j)
    lines = ["HIERARCHY"]

    def write(j: dict, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if j['parent'] is None else 'JOINT'} {j['name']}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {' '.join(repr(float(v)) for v in j['offset'])}")
        lines.append(f"{pad}  CHANNELS {len(j['channels'])} {' '.join(j['channels'])}".rstrip())
        for c in children.get(j["name"], []):
            write(c, depth + 1)
        if j["name"] in end_sites:
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET {' '.join(repr(float(v)) for v in end_sites[j['name']])}", f"{pad}  }}"])
        lines.append(pad + "}")

    write(children[None][0], 0)
    lines += ["MOTION", f"Frames: {motion.shape[0] if frames is None else frames}", f"Frame Time: {frame_time:.7f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in motion]
    return "\n".join(lines) + "\n"


ROT = ["Zrotation", "Xrotation", "Yrotation"]
POS = ["Xposition", "Yposition", "Zposition"]


def human_rig(orders: list[str] | None = None, six_everywhere: bool = False, prefix: str = "",
              names: dict[str, str] | None = None, scale: float = 1.0) -> list[dict]:
    """A 16-joint human-like rig in cm (height ~175), rotation orders cycling through ``orders``."""
    spec = [
        ("Hips", None, (0, 95, 0)), ("Spine", "Hips", (0, 12, 0)), ("Chest", "Spine", (0, 20, 0)),
        ("Neck", "Chest", (0, 22, 0)), ("Head", "Neck", (0, 10, 0)),
        ("LeftArm", "Chest", (18, 18, 0)), ("LeftForeArm", "LeftArm", (28, 0, 0)),
        ("LeftHand", "LeftForeArm", (25, 0, 0)),
        ("RightArm", "Chest", (-18, 18, 0)), ("RightForeArm", "RightArm", (-28, 0, 0)),
        ("RightHand", "RightForeArm", (-25, 0, 0)),
        ("LeftUpLeg", "Hips", (9, -5, 0)), ("LeftLeg", "LeftUpLeg", (0, -43, 0)), ("LeftFoot", "LeftLeg", (0, -42, 0)),
        ("RightUpLeg", "Hips", (-9, -5, 0)), ("RightLeg", "RightUpLeg", (0, -43, 0)),
    ]
    orders = orders or ["ZXY"]
    names = names or {}
    out = []
    for k, (name, parent, off) in enumerate(spec):
        rot = [f"{a}rotation" for a in orders[k % len(orders)]]
        chans = POS + rot if parent is None or six_everywhere else rot
        rename = lambda n: None if n is None else prefix + names.get(n, n)  # noqa: E731
        out.append({"name": rename(name), "parent": rename(parent), "offset": tuple(v * scale for v in off),
                    "channels": chans})
    return out


def random_motion(joints: list[dict], frames: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cols = []
    for j in joints:
        for ch in j["channels"]:
            if ch.endswith("position"):
                base = j["offset"]["XYZ".index(ch[0])]
                cols.append(base + rng.normal(0, 3 * scale, frames) if j["parent"] is None else
                            base + rng.normal(0, 0.5 * scale, frames))
            else:
                cols.append(rng.uniform(-60, 60, frames))
    return np.stack(cols, axis=1)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def tiny_bvh(tmp_path: Path) -> tuple[Path, list[dict], np.ndarray]:
    joints = human_rig()
    motion = random_motion(joints, 6)
    path = write(tmp_path / "tiny.bvh", bvh_text(joints, motion, end_sites={"Head": (0, 12, 0)}))
    return path, joints, motion


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


# ---- NPZ / NPY / CSV -----------------------------------------------------------------------------
def test_npz_round_trip_builtin_layout(tmp_path: Path, tiny_bvh) -> None:
    path, _, _ = tiny_bvh
    lay = get_layout("emotion_gait_16")
    rng = np.random.default_rng(0)
    clip = SkeletonClip(rng.normal(size=(7, 16, 3)).astype(np.float32), 25.0, lay, "sad",
                        {"source": "x.bvh", "format": "bvh", "units": "cm", "subject": 3, "tags": ["a", "b"]})
    out = save_clip(clip, tmp_path / "clip.npz")
    back = load_clip(out)
    np.testing.assert_array_equal(back.positions, clip.positions)
    assert back.layout is lay and back.fps == 25.0 and back.label == "sad"
    assert back.meta["subject"] == 3 and back.meta["tags"] == ["a", "b"]
    assert back.meta["source"] == str(out) and back.meta["format"] == "npz" and back.meta["units"] == "m"
    assert back.meta["origin_source"] == "x.bvh" and back.meta["origin_units"] == "cm"
    with np.load(out, allow_pickle=False) as z:  # the documented format
        assert set(z.files) == {"positions", "fps", "layout", "label", "meta"}
        assert z["positions"].dtype == np.float32 and json.loads(str(z["layout"]))["name"] == "emotion_gait_16"
    # a BVH converted and read back is identical
    bvh = load_clip(path)
    again = load_clip(save_clip(bvh, tmp_path / "tiny.npz"))
    np.testing.assert_array_equal(again.positions, bvh.positions)
    assert again.layout == bvh.layout and again.meta["origin_format"] == "bvh"


def test_npz_round_trip_custom_layout(tmp_path: Path) -> None:
    lay = Layout("my_rig", ("root", "spine", "head", "l_arm", "r_arm"), (-1, 0, 1, 1, 1),
                 {"root": "pelvis", "head": "head", "l_arm": "l_shoulder"}, "test rig")
    clip = SkeletonClip(np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3) / 10, 12.5, lay)
    back = load_clip(save_clip(clip, tmp_path / "custom.npz"))
    assert back.layout == lay and back.layout.to_unified == lay.to_unified and back.label is None
    assert "my_rig" not in list_layouts()
    np.testing.assert_array_equal(back.positions, clip.positions)


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lay = get_layout("h36m_17")
    clip = SkeletonClip(np.zeros((3, 17, 3), np.float32), 30, lay)
    target = save_clip(clip, tmp_path / "keep.npz")
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(ClipWriteError, match=r"keep\.npz: cannot write \(disk full\)"):
        save_clip(clip.replace(fps=60.0), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]  # no temp file left behind
    with pytest.raises(ValueError, match="must end in .npz"):
        save_clip(clip, tmp_path / "x.csv")


def test_foreign_npz_and_npy(tmp_path: Path) -> None:
    arr = np.random.default_rng(1).normal(size=(9, 17, 3)).astype(np.float32)
    np.savez(tmp_path / "est.npz", positions=arr)
    with pytest.raises(LayoutError, match=r"est\.npz: layout: .*17 joints.*h36m_17"):
        load_clip(tmp_path / "est.npz")
    clip = load_clip(tmp_path / "est.npz", layout="h36m_17")
    np.testing.assert_array_equal(clip.positions, arr)
    assert clip.fps == 30.0 and clip.meta["fps_assumed"] and clip.meta["units_assumed"]
    np.save(tmp_path / "est.npy", arr)
    with pytest.raises(LayoutError, match=r"est\.npy: layout: the NPY array has 17 joints.*h36m_17"):
        load_clip(tmp_path / "est.npy")
    clip = load_clip(tmp_path / "est.npy", layout="h36m_17", units="cm", fps=50)
    np.testing.assert_allclose(clip.positions, arr * 0.01, rtol=1e-6)
    assert clip.fps == 50.0 and clip.meta["units"] == "cm" and clip.meta["format"] == "npy"
    with pytest.raises(ClipValueError, match=r"est\.npy: positions: 17 joints but layout 'kinect_v2' has 25.*h36m_17"):
        load_clip(tmp_path / "est.npy", layout="kinect_v2")
    arr[4, 2, 1] = np.nan
    np.save(tmp_path / "gap.npy", arr)
    with pytest.raises(ClipValueError, match=r"gap\.npy: frame 4, joint 'RKnee'"):
        load_clip(tmp_path / "gap.npy", layout="h36m_17")
    filled = load_clip(tmp_path / "gap.npy", layout="h36m_17", interpolate_gaps=1)
    assert filled.meta["interpolated_frames"] == 1


def _kinect_csv(path: Path, arr: np.ndarray, lay: Layout, *, shuffle: int | None, time_col: str | None,
                times: np.ndarray | None = None) -> Path:
    cols = [f"{n}_{a}" for n in lay.joint_names for a in "xyz"]
    data = arr.reshape(arr.shape[0], -1)
    order = np.arange(len(cols))
    if shuffle is not None:
        np.random.default_rng(shuffle).shuffle(order)
    header = [cols[i] for i in order]
    rows = [[f"{v:.7g}" for v in r[order]] for r in data]
    if time_col:
        header.insert(0, time_col)
        for r, t in zip(rows, times):
            r.insert(0, f"{t:.6f}")
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def test_csv_any_column_order_and_time_column(tmp_path: Path) -> None:
    lay = get_layout("kinect_v2")
    arr = np.random.default_rng(2).normal(size=(6, 25, 3)).astype(np.float32)
    path = _kinect_csv(tmp_path / "k.csv", arr, lay, shuffle=7, time_col="timestamp", times=np.arange(6) / 15 + 3.0)
    clip = load_clip(path)
    assert clip.layout is lay and clip.fps == 15.0 and clip.meta["time_units"] == "s"
    np.testing.assert_allclose(clip.positions, arr, rtol=1e-6, atol=1e-6)
    assert load_clip(path, fps=30).fps == 30.0
    ms = _kinect_csv(tmp_path / "ms.csv", arr, lay, shuffle=None, time_col="time", times=np.arange(6) * 33.333333)
    assert load_clip(ms).fps == 30.0
    plain = _kinect_csv(tmp_path / "plain.CSV", arr, lay, shuffle=None, time_col="frame", times=np.arange(6))
    clip = load_clip(plain)
    assert clip.fps == 30.0 and clip.meta["fps_assumed"] is True


def test_csv_bad_cells_and_unknown_columns(tmp_path: Path) -> None:
    lay = get_layout("kinect_v2")
    arr = np.random.default_rng(3).normal(size=(5, 25, 3)).astype(np.float32)
    path = _kinect_csv(tmp_path / "bad.csv", arr, lay, shuffle=None, time_col=None)
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[4] = "abc"
    lines[3] = ",".join(cells)
    write(tmp_path / "bad.csv", "\n".join(lines) + "\n")
    with pytest.raises(ClipFormatError, match=r"bad\.csv: line 4, column 5 \('SpineMid_y'\): 'abc' is not a number"):
        load_clip(tmp_path / "bad.csv")
    cells[4] = ""
    lines[3] = ",".join(cells)
    write(tmp_path / "gap.csv", "\n".join(lines) + "\n")
    with pytest.raises(ClipValueError, match=r"gap\.csv: line 4, joint 'SpineMid'"):
        load_clip(tmp_path / "gap.csv")
    assert load_clip(tmp_path / "gap.csv", interpolate_gaps=1).meta["interpolated_frames"] == 1
    write(tmp_path / "odd.csv", "frame,Foo_x,Foo_y,Foo_z,Bar_x,Bar_y,Bar_z\n0,1,2,3,4,5,6\n")
    with pytest.raises(LayoutError, match=r"odd\.csv: columns: no registered layout has the joints Foo, Bar"):
        load_clip(tmp_path / "odd.csv")


def test_format_sniffing(tmp_path: Path, tiny_bvh) -> None:
    path, _, _ = tiny_bvh
    other = write(tmp_path / "clip.mocap", path.read_bytes())
    upper = write(tmp_path / "CLIP.BVH", path.read_bytes())
    ref = load_clip(path)
    assert load_clip(other).meta["format"] == "bvh" and load_clip(upper).meta["format"] == "bvh"
    npz = save_clip(ref, tmp_path / "c.npz")
    renamed = write(tmp_path / "c.dat", npz.read_bytes())
    np.testing.assert_array_equal(load_clip(renamed).positions, ref.positions)
    np.save(tmp_path / "a.npy", np.zeros((2, 17, 3)))
    sniffed = load_clip(write(tmp_path / "a.bin", (tmp_path / "a.npy").read_bytes()), layout="h36m_17")
    assert sniffed.meta["format"] == "npy"


# ---- bad input: every case is one clean line naming the file ------------------------------------
def _tiny_text(**kw) -> str:
    joints = human_rig()
    return bvh_text(joints, random_motion(joints, 4, seed=9), **kw)


def _replace_first(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _set_value(text: str, frame: int, col: int, token: str) -> str:
    """Replace one motion value (0-based frame and column) by ``token``."""
    lines = text.splitlines()
    row = lines.index(next(l for l in lines if l.startswith("Frame Time"))) + 1 + frame
    vals = lines[row].split()
    vals[col] = token
    lines[row] = " ".join(vals)
    return "\n".join(lines) + "\n"


BAD_CASES = {
    "no_motion": (lambda t: t.split("MOTION")[0], ClipFormatError, "missing MOTION"),
    "cut_in_hierarchy": (lambda t: t[:t.index("JOINT LeftArm")], ClipFormatError, "unexpected end of the hierarchy"),
    "fewer_rows": (lambda t: "\n".join(t.splitlines()[:-2]) + "\n", ClipFormatError,
                   "truncated: expected 4 frames"),
    "cut_mid_row": (lambda t: t[:-40], ClipFormatError, r"line \d+: expected 51 values per row, got \d+"),
    "channels_4": (lambda t: _replace_first(t, "CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation"), ClipFormatError,
                   r"line 9: CHANNELS 4 but 3 channel names follow"),
    "row_too_long": (lambda t: t.rstrip("\n") + " 1.0\n", ClipFormatError, r"expected 51 values per row, got 52"),
    "non_numeric": (lambda t: _set_value(t, 1, 10, "x1.5"), ClipFormatError,
                    r"line \d+, value 11 \(Chest Xrotation\): 'x1.5' is not a number"),
    "zero_frames": (lambda t: _replace_first(t, "Frames: 4", "Frames: 0"), ClipValueError, "Frames: 0"),
    "nan": (lambda t: _set_value(t, 2, 0, "nan"), ClipValueError, r"line \d+, value 1 \(Hips Xposition\): non-finite"),
    "inf": (lambda t: _set_value(t, 0, 50, "-inf"), ClipValueError,
            r"line \d+, value 51 \(RightLeg Yrotation\): non-finite"),
    "overflow": (lambda t: _set_value(t, 0, 1, "1e300"), ClipValueError,
                 r"line \d+ \(frame 0\), joint 'Hips': non-finite"),
    "bad_channel": (lambda t: _replace_first(t, "Xrotation", "Wrotation"), ClipFormatError,
                    r"unknown channel 'Wrotation'"),
    "bad_offset": (lambda t: _replace_first(t, "OFFSET 0.0 12.0", "OFFSET 0.0 twelve"), ClipFormatError,
                   r"OFFSET needs 3 numbers"),
    "frame_time_0": (lambda t: t.replace("Frame Time: 0.0333333", "Frame Time: 0"), ClipValueError,
                     "expected a positive number of seconds"),
    "too_many_frames": (lambda t: _replace_first(t, "Frames: 4", f"Frames: {MAX_FRAMES + 1}"), ClipLimitError,
                        "the limit is"),
    "huge_frame_number": (lambda t: _replace_first(t, "Frames: 4", "Frames: " + "9" * 5000), ClipLimitError,
                          "the limit is"),
    "not_bvh": (lambda t: "HELLO\n" + t, ClipFormatError, "expected 'HIERARCHY'"),
    "empty": (lambda t: "", ClipFormatError, "empty file"),
    "blank": (lambda t: "  \n\n", ClipFormatError, "empty file"),
    "binary": (lambda t: bytes(random.Random(0).randrange(256) for _ in range(3000)), ClipFormatError,
               "binary data|expected 'HIERARCHY'"),
    "binary_no_nul": (lambda t: bytes(random.Random(1).randrange(128, 256) for _ in range(3000)), ClipFormatError,
                      "expected 'HIERARCHY'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_bvh_raises_one_clean_line(tmp_path: Path, case: str, capsys: pytest.CaptureFixture) -> None:
    mutate, err_type, pattern = BAD_CASES[case]
    path = write(tmp_path / f"bad_{case}.bvh", mutate(_tiny_text()))
    with pytest.raises(err_type, match=pattern) as info:
        load_clip(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ": ") and "\n" not in msg
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_other_bad_inputs(tmp_path: Path, tiny_bvh, capsys: pytest.CaptureFixture) -> None:
    path, _, _ = tiny_bvh
    with pytest.raises(ClipLimitError, match=r"tiny\.bvh: size: \d+ bytes, the limit is 100"):
        load_clip(path, max_bytes=100)
    with pytest.raises(ClipLimitError, match=r"tiny\.bvh: line \d+: Frames: 6, the limit is 5"):
        load_clip(path, max_frames=5)
    with pytest.raises(FileNotFoundError):
        load_clip(tmp_path / "missing.bvh")
    assert main(["inspect", str(tmp_path / "missing.bvh")]) == 2
    assert "missing.bvh: file not found" in capsys.readouterr().err
    with pytest.raises(ClipFormatError, match="is a directory"):
        load_clip(tmp_path)
    with pytest.raises(ClipFormatError, match=r"junk\.xyz: format: unknown file type '.xyz'"):
        load_clip(write(tmp_path / "junk.xyz", b"hello world"))
    with pytest.raises(ClipFormatError, match=r"junk\.npz: not a readable NPZ"):
        load_clip(write(tmp_path / "junk.npz", b"PK\x03\x04 not really a zip"))
    with pytest.raises(ClipFormatError, match=r"junk\.npy: not a readable NPY"):
        load_clip(write(tmp_path / "junk.npy", b"\x93NUMPY garbage"))
    np.save(tmp_path / "flat.npy", np.zeros((4, 5)))
    with pytest.raises(ClipFormatError, match=r"flat\.npy: array: expected shape \(frames, joints, 3\)"):
        load_clip(tmp_path / "flat.npy", layout="h36m_17")
    np.save(tmp_path / "empty.npy", np.zeros((0, 17, 3)))
    with pytest.raises(ClipValueError, match="zero frames"):
        load_clip(tmp_path / "empty.npy", layout="h36m_17")
    with pytest.raises(ClipValueError, match=r"tiny\.bvh: units argument: unknown units 'furlong'"):
        load_clip(path, units="furlong")
    for bad in ([str(path), "--units", "furlong"], [str(path), "--layout", "nope"],
                [str(tmp_path / "flat.npy"), "--layout", "h36m_17"]):
        assert main(["inspect", *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


# ---- fuzz: mutated files give a valid clip or one clean ClipError -------------------------------
def _fuzz_base() -> bytes:
    files = real_bvh_files()
    if files:
        return min(files, key=lambda p: p.stat().st_size).read_bytes()
    example = ROOT / "demo" / "examples" / "dataset-1_walk_sad_001.bvh"
    if example.exists():
        return example.read_bytes()
    return _tiny_text().encode()


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    header_end = data.find(b"MOTION") + 200 if b"MOTION" in data else len(data)
    for _ in range(rng.randint(1, 3)):
        hi = header_end if rng.random() < 0.5 else len(buf)
        i = rng.randrange(max(1, min(hi, len(buf))))
        op = rng.choice(("flip", "insert", "delete", "special", "truncate", "dupline", "digit", "digit"))
        if op == "digit":  # keeps the file valid when it hits a number: exercises the success path
            digits = [m.start() for m in re.finditer(rb"[0-9]", bytes(buf[i:i + 64]))]
            if digits:
                buf[i + digits[0]] = ord(str(rng.randrange(10)))
        elif op == "flip" and buf:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == "insert":
            buf[i:i] = bytes([rng.randrange(256)])
        elif op == "delete":
            del buf[i:i + rng.randint(1, 24)]
        elif op == "special":
            buf[i:i + 1] = rng.choice([b"{", b"}", b"\n", b" ", b"-", b".", b"e", b"9", b"nan", b"\x00", b"\xff", b"#"])
        elif op == "truncate":
            del buf[i:]
        else:
            start = buf.rfind(b"\n", 0, i) + 1
            end = buf.find(b"\n", i)
            end = len(buf) if end < 0 else end + 1
            buf[end:end] = buf[start:end]
    return bytes(buf)


def test_fuzz_mutants_fail_cleanly_or_load(tmp_path: Path) -> None:
    base = _fuzz_base()
    rng = random.Random(1234)
    outcomes = {"ok": 0, "error": 0}
    for k in range(200):
        path = write(tmp_path / f"mutant_{k:03d}.bvh", _mutate(base, rng))
        try:
            clip = load_clip(path)
        except ClipError as err:
            msg = str(err)
            assert msg.startswith(str(path) + ": ") and "\n" not in msg, msg
            outcomes["error"] += 1
            continue
        assert np.isfinite(clip.positions).all() and clip.positions.shape[2] == 3 and clip.fps > 0
        outcomes["ok"] += 1
    assert outcomes["ok"] > 10 and outcomes["error"] > 10, outcomes
