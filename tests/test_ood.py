"""The out-of-distribution check (eai_llm/ood.py): each check fires on the corruption it is for, the cue-space
reference fits, saves and loads, and the interpreter, CLI and batch report carry the result."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from eai_llm.data.synthetic import synthetic_clip
from eai_llm.evaluation.ood import CORRUPTIONS, auroc, corrupt
from eai_llm.ood import OOD_FILE, THRESHOLD_MARGIN, CueReference, assess, fit_cue_reference
from eai_llm.skeleton.cues import kinematic_cues

from conftest import real_bvh_files


@pytest.fixture(scope="module")
def walk():
    return synthetic_clip("sad", seconds=4.0, seed=3)


def test_a_plausible_clip_passes_every_geometric_check(walk):
    rep = assess(walk)
    assert rep.in_distribution and rep.reasons == []
    assert set(rep.components) == {"body_size", "coverage", "bone_stretch", "motionless"}
    assert rep.components["coverage"] == 0.0 and rep.components["bone_stretch"] < 0.2


@pytest.mark.parametrize("kind, component", [
    ("body 23 cm tall", "body_size"), ("centimetres read as metres", "body_size"),
    ("random-walk joints (3)", "bone_stretch"), ("every joint a random walk", "bone_stretch"),
    ("frozen clip", "motionless"), ("tracker rig (6 joints)", "coverage"), ("upper body only", "coverage"),
])
def test_each_corruption_is_flagged_by_its_check(walk, kind, component):
    rep = assess(corrupt(walk, kind, seed=1))
    assert not rep.in_distribution
    assert rep.components[component] >= 1.0 and rep.score == max(rep.components.values())
    assert rep.reasons and all(isinstance(r, str) and r for r in rep.reasons)


def test_units_the_reader_could_not_tell_count_as_out(walk):
    unclear = type(walk)(walk.positions, walk.fps, walk.layout, walk.label, dict(walk.meta, units_unclear=True))
    rep = assess(unclear)
    assert rep.components["body_size"] == 1.0 and not rep.in_distribution


def test_corrupt_refuses_an_unknown_kind(walk):
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(walk, "melted")
    assert len(CORRUPTIONS) >= 8


def _training_cues():
    clips = [synthetic_clip(e, seconds=3.0, seed=s, content=c) for e in ("sad", "happy", "angry")
             for c in ("walk", "gesture") for s in range(3)]
    return [kinematic_cues(c) for c in clips], [f"{c.meta['content']}" for c in clips]


def test_the_cue_reference_fits_saves_and_loads(tmp_path):
    cues, groups = _training_cues()
    ref = fit_cue_reference(cues, groups, source="test")
    assert ref.points.shape == (len(cues), len(ref.cues)) and ref.threshold > 0 and ref.margin >= THRESHOLD_MARGIN
    assert ref.distance(cues[0]) == pytest.approx(0.0, abs=1e-6)
    far = {k: v * 10 + 5 for k, v in cues[0].items()}
    assert ref.distance(far) > ref.threshold
    ref.save(tmp_path)
    back = CueReference.load(tmp_path)
    assert back.cues == ref.cues and back.threshold == pytest.approx(ref.threshold, rel=1e-5)
    assert back.distance(far) == pytest.approx(ref.distance(far), rel=1e-3)
    assert CueReference.load(tmp_path / "nowhere") is None


def test_the_reference_threshold_covers_every_training_content_type():
    cues, groups = _training_cues()
    ref = fit_cue_reference(cues, groups)
    g = np.asarray(groups)
    for i, c in enumerate(cues):        # each clip is within the threshold of the clips of the other type
        z = ref.standardise([c])[0]
        other = ref.points[g != g[i]]
        assert np.sqrt(((other - z) ** 2).sum(1).min()) <= ref.threshold


def test_a_broken_reference_file_is_refused_with_its_path(tmp_path):
    (tmp_path / OOD_FILE).write_text(json.dumps({"cues": ["a"], "centre": [0], "scale": [0], "points": [[0]],
                                                 "threshold": 1}))
    with pytest.raises(ValueError, match=str(tmp_path / OOD_FILE)):
        CueReference.load(tmp_path)
    (tmp_path / OOD_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not an out-of-distribution reference"):
        CueReference.load(tmp_path)


def test_fitting_needs_two_content_types():
    cues, _ = _training_cues()
    with pytest.raises(ValueError, match="two content types"):
        fit_cue_reference(cues, ["one"] * len(cues))


def test_auroc():
    assert auroc([0.1, 0.2], [0.9, 1.5]) == 1.0
    assert auroc([0.5], [0.5]) == 0.5
    assert auroc([0.9, 1.5], [0.1, 0.2]) == 0.0
    with pytest.raises(ValueError):
        auroc([], [1.0])


def test_real_mocap_clips_are_in_distribution_for_the_bundled_reference(real_data):
    ref = CueReference.load(__import__("eai_llm.interpreter", fromlist=["x"]).BUNDLED_DIR)
    assert ref is not None
    from eai_llm.skeleton.io import load_clip

    for path in real_bvh_files("dataset-1_*_00[1]*.bvh")[:6]:
        clip = load_clip(path)
        rep = assess(clip, kinematic_cues(clip), ref)
        assert rep.in_distribution, (path.name, rep)
        assert not assess(corrupt(clip, "body 23 cm tall"), reference=ref).in_distribution


def test_the_interpreter_reports_in_distribution_and_warns_when_out(tiny_model, tmp_path, walk):
    from eai_llm.cli.report import result_row
    from eai_llm.interpreter import EmotionInterpreter

    assert (tiny_model / OOD_FILE).is_file()          # training writes the reference
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    interp = EmotionInterpreter.from_pretrained(model)
    assert interp.ood_reference is not None
    tiny = interp.interpret(corrupt(walk, "body 23 cm tall"), explain=True, attribute=False, max_new_tokens=8)
    assert tiny.in_distribution is False and tiny.ood_score >= 1.0 and tiny.ood_components["body_size"] >= 1.0
    assert any("out of distribution" in w and "body size" in w for w in tiny.warnings)
    assert tiny.explanation is None or "unreliable reading" in tiny.explanation
    row = result_row("x.npz", tiny)
    assert row["in_distribution"] is False and row["ood_score"] == tiny.ood_score
    d = json.loads(tiny.to_json())
    assert d["in_distribution"] is False and d["ood_components"]["body_size"] >= 1.0
    (model / OOD_FILE).unlink()                        # an older model folder: the geometric checks still run
    old = EmotionInterpreter.from_pretrained(model).interpret(walk, explain=False)
    assert old.ood_score is not None and "motion" not in old.ood_components


def test_the_demo_says_when_a_reading_is_unreliable():
    from types import SimpleNamespace

    from eai_llm.demo.format import checks_markdown, warnings_markdown

    base = dict(well_formed=None, plausible=None, prediction_set=None, contrast=None)
    out = checks_markdown(SimpleNamespace(**base, ood_score=3.0, in_distribution=False))
    assert "score 3.00" in out and "reading is unreliable" in out
    assert "like the training clips." in checks_markdown(SimpleNamespace(**base, ood_score=0.3, in_distribution=True))
    assert "out of distribution" in warnings_markdown(["out of distribution (score 3.00, threshold 1.00): x"])
