"""Counterfactual motion edits (issue 12 item 7): each edit moves its cue to the target, verified by re-measuring
the cues, and leaves the cues it has no reason to touch where they were; `what_if` re-reads the edited clip."""

from __future__ import annotations

import numpy as np
import pytest

from eai_llm.data.synthetic import synthetic_clip
from eai_llm.skeleton.cues import CUES, cue_statistics, kinematic_cues
from eai_llm.skeleton.edits import EDITABLE_CUES, RELATED, edit_cues
from eai_llm.skeleton.errors import ClipValueError

from conftest import real_bvh_files

# how far an unrelated cue may move, in standard deviations of the clip population (plus a small floor)
UNRELATED_Z = 0.25


def _population(clips):
    return cue_statistics([kinematic_cues(c) for c in clips])


def _check(clip, stats, cue, target):
    base = kinematic_cues(clip)
    edit = edit_cues(clip, {cue: target})
    assert edit.reached(cue), (cue, base[cue], target, edit.after[cue])
    assert edit.before == base and edit.clip.layout == clip.layout and edit.clip.num_frames == clip.num_frames
    for name, value in base.items():
        if name == cue or name in RELATED[cue] or name not in edit.after:
            continue
        scale = max(stats[name]["std"], 1e-3)
        assert abs(edit.after[name] - value) <= UNRELATED_Z * scale + 1e-3, (cue, name, value, edit.after[name])
    return edit


@pytest.fixture(scope="module")
def synthetic():
    return [synthetic_clip(label, seed=s) for label in ("happy", "sad", "angry") for s in (1, 2)]


@pytest.mark.parametrize("cue", EDITABLE_CUES)
def test_each_edit_moves_its_cue_and_nothing_unrelated_synthetic(synthetic, cue):
    stats = _population(synthetic)
    for clip in synthetic[:3]:
        value = kinematic_cues(clip)[cue]
        spread = max(stats[cue]["std"], 0.05 * abs(value), 0.5 if CUES[cue].unit == "deg" else 0.02)
        for target in (value + 1.5 * spread, max(value - 1.0 * spread, 0.02 if cue != "trunk_lean" else -5.0)):
            _check(clip, stats, cue, target)


@pytest.mark.realdata
@pytest.mark.parametrize("cue", EDITABLE_CUES)
def test_each_edit_moves_its_cue_and_nothing_unrelated_real(real_data, cue):
    from eai_llm.skeleton.io import load_clip

    files = [f for f in real_bvh_files() if "_walk_" in f.name][::9][:4]
    clips = [load_clip(f) for f in files]
    stats = _population(clips)
    for clip in clips[:3]:
        _check(clip, stats, cue, stats[cue]["mean"])       # "neutralised": moved to the typical value


def test_several_edits_at_once_and_the_standing_clip():
    clip = synthetic_clip("sad", seed=4)
    base = kinematic_cues(clip)
    targets = {"head_pitch": base["head_pitch"] - 10.0, "trunk_lean": base["trunk_lean"] + 6.0,
               "walking_speed": base["walking_speed"] * 1.4}
    edit = edit_cues(clip, targets)
    assert all(edit.reached(c) for c in targets), edit.after
    assert edit.clip.meta["edited_cues"] == pytest.approx(targets)
    assert np.isfinite(edit.clip.positions).all()
    standing = clip.replace(positions=np.repeat(clip.positions[:1], clip.num_frames, axis=0))
    with pytest.raises(ClipValueError, match="walking_speed.*no motion to scale"):
        edit_cues(standing, {"walking_speed": 1.0})
    with pytest.raises(ClipValueError, match="cannot edit.*'jerk'"):
        edit_cues(clip, {"jerk": 1.0})


def test_what_if_re_reads_the_edited_clip(tiny_model):
    from eai_llm.counterfactual import comprehensiveness
    from eai_llm.interpreter import EmotionInterpreter

    interp = EmotionInterpreter.from_pretrained(tiny_model)
    clip = synthetic_clip("sad", seed=3)
    out = interp.what_if(clip, ["head_pitch", "walking_speed"])
    assert out.label in interp.label_sets["emotion"] and 0 <= out.edited_probability <= 1
    assert sum(out.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert [e["cue"] for e in out.edits] == ["head_pitch", "walking_speed"] and all(e["reached"] for e in out.edits)
    assert out.edits[0]["target"] == pytest.approx(interp.cue_stats["head_pitch"]["mean"])
    assert out.to_dict()["drop"] == pytest.approx(out.probability - out.edited_probability)
    cited, uncited = comprehensiveness(interp, clip, ["head_pitch"])
    assert -1 <= cited <= 1 and -1 <= uncited <= 1
    assert comprehensiveness(interp, clip, ["jerk"]) is None          # nothing editable cited
    with pytest.raises(ValueError, match="no reference statistics"):
        interp.what_if(clip, ["no_such_cue"])
