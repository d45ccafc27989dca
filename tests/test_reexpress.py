"""Re-expression of the 22-joint Bandai rig in smaller layouts, through the normal readers."""

from __future__ import annotations

import numpy as np
import pytest

from eai_llm.skeleton.errors import LayoutError
from eai_llm.skeleton.layouts import UNIFIED, get_layout
from eai_llm.skeleton.reexpress import REEXPRESS_LAYOUTS, reexpress, reexpress_array, reexpress_windows
from eai_llm.skeleton.unify import to_unified

from conftest import real_bvh_files

# cues averaged over every joint a rig has (energy, jerk, stillness) change with the joint set; the rest are
# measured on joints all these rigs share and must survive re-expression
JOINT_SET_CUES = {"energy", "jerk", "stillness_ratio"}


@pytest.fixture(scope="module")
def real_clips(real_data):
    from eai_llm.skeleton.io import load_clip

    files = real_bvh_files()
    return [load_clip(f) for f in files[:: max(1, len(files) // 6)][:6]]


@pytest.mark.realdata
@pytest.mark.parametrize("name", REEXPRESS_LAYOUTS)
def test_reexpressed_clip_has_the_layouts_joints_and_goes_through_the_reader(real_clips, name, tmp_path):
    from eai_llm.skeleton.io import load_clip

    clip = real_clips[0]
    out = reexpress(clip, name, folder=tmp_path)
    layout = get_layout(name)
    assert out.layout.name == name and out.layout.joint_names == layout.joint_names
    assert out.positions.shape == (clip.num_frames, layout.num_joints, 3) and out.fps == clip.fps
    assert out.meta["reexpressed_from"] == "bandai_namco_22"
    saved = sorted(tmp_path.glob("*.npz"))
    assert len(saved) == 1 and load_clip(saved[0]).layout.name == name          # a file of that rig
    # every joint the layout maps is the original joint's trajectory, exactly
    u_orig, m_orig = to_unified(clip)
    u_new, m_new = to_unified(out)
    assert (m_new == (layout.unified_index >= 0)).all()
    shared = m_new & m_orig
    np.testing.assert_allclose(u_new.positions[:, shared], u_orig.positions[:, shared], atol=1e-6)


@pytest.mark.realdata
@pytest.mark.parametrize("name", REEXPRESS_LAYOUTS)
def test_a_rig_without_feet_stands_on_the_same_floor(real_clips, name):
    """The floor of a rig without feet is estimated below its ankles: the model windows of every rig put the
    body at the same height (the floor at the lowest toe had lowered every joint of a feetless rig by 5% of
    body height, and the tokenizer read h36m_17 / emotion_gait_16 clips 30 points worse)."""
    from eai_llm.skeleton.unify import prepare_windows

    for clip in real_clips[:3]:
        full = prepare_windows(clip, fps=20.0, window=64, stride=16)
        small = prepare_windows(reexpress(clip, name), fps=20.0, window=64, stride=16)
        shared = full.joint_mask & small.joint_mask
        np.testing.assert_allclose(small.positions[:, :, shared], full.positions[:, :, shared], atol=2e-3)


@pytest.mark.realdata
@pytest.mark.parametrize("name", REEXPRESS_LAYOUTS)
def test_unified_cues_stay_close(real_clips, name):
    from eai_llm.skeleton.cues import kinematic_cues

    for clip in real_clips:
        base, cues = kinematic_cues(clip), kinematic_cues(reexpress(clip, name))
        missing = set(base) - set(cues)
        assert missing <= ({"shoulder_slump"} if name == "h36m_17" else set())   # h36m has no collar joints
        for k in set(base) & set(cues) - JOINT_SET_CUES:
            assert abs(cues[k] - base[k]) <= 0.02 * max(abs(base[k]), 0.05), (clip.source, name, k, base[k], cues[k])


def test_derived_joints_and_missing_ones():
    from eai_llm.skeleton.builtin_layouts import BANDAI_NAMCO_22, H36M_17, KINECT_V2

    rng = np.random.default_rng(0)
    pos = rng.normal(size=(5, BANDAI_NAMCO_22.num_joints, 3)).astype(np.float32)
    b = BANDAI_NAMCO_22.index
    h36 = reexpress_array(pos, BANDAI_NAMCO_22, H36M_17)
    np.testing.assert_allclose(h36[:, H36M_17.index["Nose"]], (pos[:, b["Neck"]] + pos[:, b["Head"]]) / 2, atol=1e-6)
    kin = reexpress_array(pos, BANDAI_NAMCO_22, KINECT_V2)
    wrist, elbow = pos[:, b["Hand_L"]], pos[:, b["LowerArm_L"]]
    np.testing.assert_allclose(kin[:, KINECT_V2.index["HandLeft"]], wrist + 0.3 * (wrist - elbow), atol=1e-6)
    np.testing.assert_allclose(kin[:, KINECT_V2.index["SpineShoulder"]], pos[:, b["Chest"]])
    # a rig without a counterpart and without a rule: refused, naming the joint
    with pytest.raises(LayoutError, match="joint 'WristLeft': has no counterpart in the source rig"):
        reexpress_array(h36[:, [i for i, n in enumerate(H36M_17.joint_names) if "Wrist" not in n]],
                        _without_wrists(H36M_17), KINECT_V2)


def _without_wrists(layout):
    from eai_llm.skeleton.layouts import Layout

    keep = [i for i, n in enumerate(layout.joint_names) if "Wrist" not in n]
    names = tuple(layout.joint_names[i] for i in keep)
    parents = tuple(-1 if layout.parents[i] < 0 else names.index(layout.joint_names[layout.parents[i]]) for i in keep)
    return Layout("h36m_no_wrists", names, parents, {n: u for n, u in layout.to_unified.items() if n in names}, "test")


def test_window_augmentation_matches_the_file_path():
    """reexpress_windows on unified windows = to_unified of the re-expressed clip (same masks and joints)."""
    from eai_llm.skeleton.clip import SkeletonClip
    from eai_llm.skeleton.builtin_layouts import BANDAI_NAMCO_22

    rng = np.random.default_rng(1)
    pos = rng.normal(size=(8, BANDAI_NAMCO_22.num_joints, 3)).astype(np.float32)
    clip = SkeletonClip(pos, 20.0, BANDAI_NAMCO_22)
    unified, mask = to_unified(clip)
    for name in REEXPRESS_LAYOUTS:
        want, want_mask = to_unified(reexpress(clip, name))
        got, got_mask = reexpress_windows(unified.positions[None], mask[None], name)
        assert got.shape == (1, 8, UNIFIED.num_joints, 3)
        assert (got_mask[0] == (want_mask | (mask & want_mask))).all()
        np.testing.assert_allclose(got[0][:, got_mask[0]], want.positions[:, want_mask], atol=1e-5)
        assert not got_mask[0][UNIFIED.index["l_collar"]] or name == "unified"


def test_reexpress_batch_probability_and_off_by_default():
    from eai_llm.training.data import reexpress_batch

    pos = np.zeros((400, 4, UNIFIED.num_joints, 3), np.float32)
    mask = np.ones((400, UNIFIED.num_joints), bool)
    rng = np.random.default_rng(0)
    p, m, lay = reexpress_batch(pos, mask, ["bandai_namco_22"] * 400, rng, 0.0, list(REEXPRESS_LAYOUTS))
    assert p is pos and lay == ["bandai_namco_22"] * 400
    assert rng.random() == np.random.default_rng(0).random()        # p = 0 draws nothing: training unchanged
    p, m, lay = reexpress_batch(pos, mask, ["bandai_namco_22"] * 400, rng, 0.5, list(REEXPRESS_LAYOUTS))
    changed = np.array([l != "bandai_namco_22" for l in lay])
    assert 0.4 < changed.mean() < 0.6 and set(np.array(lay)[changed]) == set(REEXPRESS_LAYOUTS)
    assert (m[~changed]).all() and not m[changed].all(axis=1).any()


def test_training_with_smaller_rig_augmentation(tmp_path):
    """reexpress_p > 0 runs through both stages (re-expressed windows with their rig's layout id) and is recorded
    in the checkpoint's recipe key; p = 0 leaves the key as recipes from before the option had it."""
    import json
    from pathlib import Path

    from eai_llm.cli import main
    from eai_llm.training.recipe import load_recipe
    from eai_llm.training.train import recipe_key

    tiny = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    out = tmp_path / "run"
    assert main(["train", "--config", str(tiny), "--output-dir", str(out), "--no-progress", "--override",
                 f"cache_dir={tmp_path / 'cache'}", "reexpress_p=0.5", "stage1.epochs=2", "stage2.max_steps=2"]) == 0
    losses = [json.loads(l)["loss"] for l in (out / "log.jsonl").read_text().splitlines()]
    assert losses and all(np.isfinite(losses))
    saved = json.loads((out / "checkpoints" / "stage1_tokenizer" / "recipe.json").read_text())
    assert saved["reexpress_p"] == 0.5 and saved["reexpress_layouts"] == list(REEXPRESS_LAYOUTS)
    assert "reexpress_p" not in recipe_key(load_recipe(tiny), 1)
