"""The counterfactual cue check before decoding (explain/causal.py): an editable cue is cited only when
neutralising it in the motion lowers the head's p(label) of the clip more than a cue at random does."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from eai_llm.data.synthetic import synthetic_clip
from eai_llm.explain.causal import REFERENCE, cue_effects, keep_support
from eai_llm.explain.constrained import plan_explanation
from eai_llm.interpreter import EmotionInterpreter


@dataclass(frozen=True)
class _Claim:
    cue: str


def test_keep_support_drops_editable_cues_that_do_not_matter():
    support = [_Claim("walking_speed"), _Claim("head_pitch"), _Claim("jerk"), _Claim("arm_swing")]
    effects = {"walking_speed": 0.20, "head_pitch": -0.05, "arm_swing": 0.01}
    kept = keep_support(support, effects)
    assert [c.cue for c in kept] == ["walking_speed", "arm_swing", "jerk"]       # strongest effect first
    assert keep_support(support, None) == support and keep_support(support, {}) == support
    # too few would remain: the largest effects fill up to two
    assert [c.cue for c in keep_support(support[:2], {"walking_speed": -0.1, "head_pitch": -0.02})] == \
        ["head_pitch", "walking_speed"]
    assert [c.cue for c in keep_support(support[:1], {"walking_speed": -0.1})] == ["walking_speed"]
    # a cue must also matter more than a cue at random (the mean effect of all measured cues) ...
    bar = {**effects, REFERENCE: 0.05}
    assert [c.cue for c in keep_support(support, bar)] == ["walking_speed", "jerk"]
    # ... and the filling-up still takes the strongest
    assert [c.cue for c in keep_support(support[1:], bar)] == ["arm_swing", "jerk"]
    # a negative mean does not let cues that lower nothing through
    assert [c.cue for c in keep_support(support, {**effects, REFERENCE: -0.3})] == ["walking_speed", "arm_swing", "jerk"]


@pytest.fixture(scope="module")
def interp(tiny_model):
    return EmotionInterpreter.from_pretrained(tiny_model)


def test_cue_effects_are_the_heads_drop_of_the_clips_reading(interp):
    from eai_llm.counterfactual import neutral_targets
    from eai_llm.skeleton.edits import edit_cues

    clip = synthetic_clip("sad", seconds=6.0, seed=3)
    labels = interp.label_sets["emotion"]
    eff = cue_effects(interp, clip, ["walking_speed", "head_pitch", "jerk"], labels)
    assert set(eff) == set(labels) and set(eff["sad"]) == {"walking_speed", "head_pitch", REFERENCE}   # jerk: not editable
    # by hand: the head's p(sad) over all windows, before and after neutralising the walking speed
    head = lambda c: interp.model.head_logprobs(interp._skel(interp._windows(c), c.layout.name),
                                                labels).exp().mean(0).numpy()
    edited = edit_cues(clip, {"walking_speed": neutral_targets(["walking_speed"], interp.cue_stats)["walking_speed"]}).clip
    want = head(clip) - head(edited)
    assert eff["sad"]["walking_speed"] == pytest.approx(want[labels.index("sad")], abs=1e-5)
    assert eff["sad"][REFERENCE] == pytest.approx((eff["sad"]["walking_speed"] + eff["sad"]["head_pitch"]) / 2)
    assert sum(eff[l]["walking_speed"] for l in labels) == pytest.approx(0.0, abs=1e-5)   # probabilities move, not vanish
    assert cue_effects(interp, clip, ["jerk"], labels) == {}
    assert eff == cue_effects(interp, clip, ["walking_speed", "head_pitch"], labels, wb=interp._windows(clip))


def test_explanations_cite_only_editable_cues_that_lower_the_label(interp):
    clip = synthetic_clip("sad", seconds=8.0, seed=5)
    labels = interp.label_sets["emotion"]
    res = interp.interpret(clip, attribute=False)
    assert res.well_formed
    eff = interp._cue_effects(clip, interp._windows(clip), res, labels)[res.label]
    cited = {r["cue"] for r in res.evidence if r["role"] == "support"}
    plan = plan_explanation(res.label, res.all_cues, interp.cue_stats, effects=eff)
    plain = plan_explanation(res.label, res.all_cues, interp.cue_stats)
    assert cited and set(plan.support) <= set(plain.support)
    # every cited editable cue matters more than the mean cue, unless it was needed to reach two citations
    refused = [c for c in cited if c in eff and eff[c] <= max(0.0, eff[REFERENCE])]
    assert not refused or len(plan.support) <= 2
    off = interp.interpret(clip, attribute=False, causal=False)
    assert off.well_formed and np.allclose(list(off.probabilities.values()), list(res.probabilities.values()))
