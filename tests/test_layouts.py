import json

import numpy as np
import pytest

from eai_llm.skeleton.errors import ClipLimitError, LayoutError
from eai_llm.skeleton.layouts import (
    BODY_PARTS, UNIFIED, UNIFIED_CORE_JOINTS, Layout, get_layout, list_layouts, load_layout_file, match_layout,
    mirror_name,
)

BUILTINS = ["unified", "bandai_namco_22", "kinect_v2", "h36m_17", "smpl_22", "smpl_24", "emotion_gait_16",
            "coco_17", "mediapipe_33", "openpose_25"]
SIZES = {"unified": 23, "bandai_namco_22": 22, "kinect_v2": 25, "h36m_17": 17, "smpl_22": 22, "smpl_24": 24,
         "emotion_gait_16": 16, "coco_17": 17, "mediapipe_33": 33, "openpose_25": 25}


def test_builtins_registered_with_expected_sizes():
    assert set(BUILTINS) <= set(list_layouts())
    for name, n in SIZES.items():
        assert get_layout(name).num_joints == n


@pytest.mark.parametrize("name", BUILTINS)
def test_every_layout_is_a_tree_with_unique_names(name):
    lay = get_layout(name)
    assert len(set(lay.joint_names)) == lay.num_joints
    assert sum(p < 0 for p in lay.parents) == 1
    assert len(lay.edges) == lay.num_joints - 1  # a connected tree has J-1 bones
    # every joint reaches the root: depth is finite and parents come first in topological order
    order = {j: k for k, j in enumerate(lay.topological_order)}
    for parent, child in lay.edges:
        assert order[parent] < order[child]
    adj = lay.adjacency
    assert np.array_equal(adj, adj.T) and adj.sum() == 2 * (lay.num_joints - 1)


@pytest.mark.parametrize("name", BUILTINS)
def test_mirror_pairs_consistent(name):
    lay = get_layout(name)
    assert lay.mirror_pairs, "every built-in layout has left/right limbs"
    seen = set()
    for left, right in lay.mirror_pairs:
        assert mirror_name(lay.joint_names[left]) == lay.joint_names[right]
        assert mirror_name(lay.joint_names[right]) == lay.joint_names[left]
        assert not {left, right} & seen
        seen |= {left, right}
    perm = lay.mirror_permutation
    assert np.array_equal(perm[perm], np.arange(lay.num_joints))  # an involution
    # mirrored joints of a pair have mirrored parents (or share a central parent)
    for left, right in lay.mirror_pairs:
        pl, pr = lay.parents[left], lay.parents[right]
        assert perm[pl] == pr


@pytest.mark.parametrize("name", BUILTINS)
def test_mapping_to_unified_is_total_for_core_joints(name):
    lay = get_layout(name)
    mapped = set(lay.to_unified.values()) | set(lay.midpoints)  # midpoints: pose estimators' pelvis, neck, head
    assert set(UNIFIED_CORE_JOINTS) <= mapped, set(UNIFIED_CORE_JOINTS) - mapped
    # the mapping respects sides: a left joint never maps onto a right unified joint
    for joint, target in lay.to_unified.items():
        m = mirror_name(joint)
        if m is not None and m in lay.to_unified:
            assert lay.to_unified[m] == mirror_name(target)


def test_body_parts_cover_unified():
    covered = {j for part in BODY_PARTS.values() for j in part}
    assert covered == set(UNIFIED.joint_names)


def test_user_layout_from_json_and_yaml(tmp_path):
    spec = {"name": "my_rig_registered", "joints": [
        {"name": "root", "parent": None, "unified": "pelvis"},
        {"name": "LeftLeg", "parent": "root", "unified": "l_hip"},
        {"name": "RightLeg", "parent": "root", "unified": "r_hip"},
    ]}
    path = tmp_path / "rig.json"
    path.write_text(json.dumps(spec))
    lay = load_layout_file(path, register=True)  # registering is the caller's explicit choice
    assert get_layout("my_rig_registered") is lay
    assert lay.mirror_pairs == ((1, 2),)
    assert Layout.from_dict(lay.to_dict()) == lay
    yml = tmp_path / "rig.yaml"
    yml.write_text("name: my_rig_yaml\njoints:\n  - {name: a, parent: null, unified: pelvis}\n  - {name: b, parent: a}\n")
    assert get_layout(str(yml)).joint_names == ("a", "b")
    assert match_layout(("a", "b")) is None  # a layout file passed by name is read, not registered
    load_layout_file(yml, register=True)
    assert match_layout(("a", "b")).name == "my_rig_yaml"


@pytest.mark.parametrize("bad, fragment", [
    ({"name": "x", "joints": [{"name": "a", "parent": None}, {"name": "a", "parent": "a"}]}, "unique"),
    ({"name": "x", "joints": [{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}]}, "root"),
    ({"name": "x", "joints": [{"name": "a", "parent": None}, {"name": "b", "parent": "zz"}]}, "unknown parent"),
    ({"name": "x", "joints": [{"name": "a", "parent": None, "unified": "tail"}]}, "unknown unified joint"),
    ({"joints": []}, "name"),
])
def test_bad_layout_files_raise_one_line_errors(tmp_path, bad, fragment):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(LayoutError) as info:
        load_layout_file(path, register=False)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and fragment in msg


def test_unknown_layout_and_builtin_protection(tmp_path):
    with pytest.raises(LayoutError, match="unknown layout"):
        get_layout("no_such_rig")
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"name": "kinect_v2", "joints": [{"name": "a", "parent": None, "unified": "pelvis"}]}))
    with pytest.raises(LayoutError, match="built-in"):
        load_layout_file(path, register=True)
    with pytest.raises(LayoutError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("{nope")
        load_layout_file(tmp_path / "broken.json")


def test_layout_file_limits_and_encoding(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(" " * (5 * 1024 * 1024))
    with pytest.raises(ClipLimitError, match=r"big\.json: .*limit for a layout file"):
        load_layout_file(big)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe{\x00")
    with pytest.raises(LayoutError, match=r"bin\.json: not UTF-8"):
        load_layout_file(binary)
