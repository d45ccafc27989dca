"""Decoding inside the explanation grammar (issue 12 item 1): whatever the model prefers, the text it can produce
is a whole-phrase explanation that parses, cites only what the clip supports and names the right label."""

from __future__ import annotations

import random

import pytest
import torch

from eai_llm import explain as T
from eai_llm.explain.constrained import ExplanationAutomaton, GrammarLogitsProcessor, plan_explanation
from eai_llm.explain.decode import answer_prefix, explanation_automaton

EMOTIONS = ["happy", "sad", "angry", "proud", "not-confident", "tired", "normal"]
EOS = [2]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from eai_llm.model.llm import smollm2_tokenizer_dir

    return AutoTokenizer.from_pretrained(smollm2_tokenizer_dir())


def _stats():
    return {c: {"mean": 1.0, "std": 0.5, "p10": 0.5, "p90": 1.5, "n": 10.0} for c in T.CUE_PHRASES}


def _cues(**z):
    out = {c: 1.0 for c in T.CUE_PHRASES}
    out.update({c: 1.0 + 0.5 * v for c, v in z.items()})
    out["locomotion"] = 0.9
    return out


def _run(auto: ExplanationAutomaton, tokenizer, rng: random.Random, max_new: int = 40) -> str:
    """Greedy decoding of random scores through the logits processor, as generate() would run it."""
    proc = GrammarLogitsProcessor([auto], EOS, max_new)
    ids = torch.zeros(1, 0, dtype=torch.long)
    for _ in range(max_new):
        scores = torch.tensor([[rng.random() for _ in range(len(tokenizer))]])
        tok = int(proc(ids, scores).argmax())
        if tok in EOS:
            break
        ids = torch.cat([ids, torch.tensor([[tok]])], 1)
    return tokenizer.decode(ids[0])


def test_random_preferences_still_give_explanations_that_parse(tokenizer):
    cues = _cues(walking_speed=-2.0, head_pitch=2.5, step_length=-1.5, arm_swing=1.8, jerk=3.0)
    stats = _stats()
    plan = plan_explanation("sad", cues, stats)
    assert set(plan.support) == {"slow pace", "head bowed", "short steps"} and plan.against == ("large arm swing",)
    seen = set()
    for seed in range(25):
        auto = explanation_automaton(tokenizer, EMOTIONS, cues, stats, label="sad")
        text = _run(auto, tokenizer, random.Random(seed)).strip()
        parsed = T.parse_explanation(text, EMOTIONS)
        assert parsed.ok and parsed.label == "sad", (text, parsed.error)
        assert {T.cue_phrase(*c) for c in parsed.support} <= set(plan.support)
        assert {T.cue_phrase(*c) for c in parsed.against} <= set(plan.against)
        assert len(parsed.support) == len(set(parsed.support)) <= 3
        check = T.check_explanation(text, "sad", EMOTIONS, cues, stats)
        assert check.plausible and check.applicable and check.supported >= 1
        seen.add(text)
    assert len(seen) > 5           # the model's preferences choose among the allowed explanations


def test_free_answers_name_one_label_and_explain_that_label(tokenizer):
    cues = _cues(walking_speed=2.5, hand_speed=2.0, jerk=2.2)
    stats = _stats()
    labels = set()
    for seed in range(20):
        auto = explanation_automaton(tokenizer, EMOTIONS, cues, stats)
        answer = _run(auto, tokenizer, random.Random(seed), max_new=48)
        parsed = T.parse_answer(answer, EMOTIONS)
        assert parsed.ok, (answer, parsed.error)
        check = T.check_explanation(parsed.explanation, parsed.label, EMOTIONS, cues, stats)
        assert check.well_formed and check.label == parsed.label and check.plausible is not False, answer
        assert T.label_consistency(answer, parsed.label, EMOTIONS)
        labels.add(parsed.label)
    assert len(labels) > 1


def test_nothing_to_cite_allows_only_the_no_cue_sentence(tokenizer):
    auto = explanation_automaton(tokenizer, EMOTIONS, _cues(), _stats(), label="tired")
    text = _run(auto, tokenizer, random.Random(0)).strip()
    assert text == "no measured cue is typical of fatigue."
    style = explanation_automaton(tokenizer, ["elderly", "normal"], _cues(knee_bend=3.0), _stats(), task="style2",
                                  label="elderly")
    assert _run(style, tokenizer, random.Random(1)).strip() == "bent knees, read as an elderly way of moving."


def test_the_budget_finishes_the_explanation_in_time(tokenizer):
    cues = _cues(walking_speed=-2.0, head_pitch=2.5, step_length=-1.5, trunk_lean=1.5, energy=-2.0, arm_swing=2.0)
    for budget in (10, 14, 20):
        for seed in range(6):
            auto = explanation_automaton(tokenizer, EMOTIONS, cues, _stats(), label="sad")
            text = _run(auto, tokenizer, random.Random(seed), max_new=budget).strip()
            assert T.parse_explanation(text, EMOTIONS).ok, (budget, text)
            assert len(tokenizer(" " + text, add_special_tokens=False)["input_ids"]) <= budget + 1


def test_the_automaton_refuses_tokens_outside_the_grammar(tokenizer):
    auto = explanation_automaton(tokenizer, EMOTIONS, _cues(head_pitch=2.0), _stats(), label="sad")
    bad = tokenizer(" hands", add_special_tokens=False)["input_ids"][0]
    assert bad not in auto.allowed() and not auto.advance(bad) and auto.tokens == []
    good = tokenizer(" head bowed", add_special_tokens=False)["input_ids"]
    assert all(auto.advance(t) for t in good) and not auto.done
    with pytest.raises(ValueError, match="one plan"):
        ExplanationAutomaton([plan_explanation(l, _cues(), _stats()) for l in ("sad", "happy")], lambda t: [1])
    assert answer_prefix("sad", "emotion") == "Emotion: sad. Explanation:"


def test_interpreting_with_a_random_llm_gives_a_well_formed_explanation(tiny_model):
    """The tiny random LLM has no idea what to say: the grammar still makes it say something well formed."""
    from eai_llm.data.synthetic import synthetic_clip
    from eai_llm.interpreter import EmotionInterpreter

    interp = EmotionInterpreter.from_pretrained(tiny_model)
    labels = interp._labels("emotion")
    for seed, conditioned in ((3, True), (4, False)):
        res = interp.interpret(synthetic_clip("sad", seed=seed), max_new_tokens=40, conditioned=conditioned)
        parsed = T.parse_answer(res.raw_explanation, labels)
        assert parsed.ok and res.well_formed, res.raw_explanation
        assert res.faithfulness in (None, 1.0) and res.plausible is not False
        assert all(row["supported"] and row["applicable"] for row in res.evidence)
    assert res.attribution and len(res.attribution["drops"]) == len(res.attribution["parts"])
    assert interp.interpret(synthetic_clip("sad", seed=3), max_new_tokens=12, attribute=False).attribution is None
    ungrounded = interp.interpret(synthetic_clip("sad", seed=3), max_new_tokens=12, grounded=False)
    assert ungrounded.raw_explanation.startswith(f"Emotion: {ungrounded.label}. Explanation:")


def test_at_least_two_supported_cues_when_the_clip_has_them(tokenizer):
    stats = _stats()
    three = _cues(walking_speed=-2.0, head_pitch=2.5, step_length=-1.5)
    one = _cues(head_pitch=2.5)
    for seed in range(12):
        text = _run(explanation_automaton(tokenizer, EMOTIONS, three, stats, label="sad"), tokenizer,
                    random.Random(seed)).strip()
        assert 2 <= len(T.parse_explanation(text, EMOTIONS).support) <= 3, text
        text = _run(explanation_automaton(tokenizer, EMOTIONS, one, stats, label="sad"), tokenizer,
                    random.Random(seed)).strip()
        assert text == "head bowed, typical of sadness.", text
    # the shortest complete explanation counts the two cues it must cite
    auto = explanation_automaton(tokenizer, EMOTIONS, three, stats, label="sad")
    two = len(tokenizer(" slow pace and head bowed, typical of sadness.", add_special_tokens=False)["input_ids"])
    assert auto.shortest() >= two - 2
    loose = ExplanationAutomaton([plan_explanation("sad", three, stats)], auto._encode, min_support=1)
    assert loose.shortest() < auto.shortest()


def test_a_free_answers_label_is_pooled_with_the_label_prior(tokenizer):
    """With the clip's shipped probabilities as the prior, the free answer's label follows them as far as the
    weight says: w = 1 names the prior's label whatever the model prefers; w = 0 is the model alone."""
    cues = _cues(walking_speed=2.5, hand_speed=2.0, jerk=2.2, head_pitch=-2.0)
    stats = _stats()
    prior = {l: 0.01 for l in EMOTIONS}
    prior["tired"] = 0.94
    named = lambda w, seed: T.parse_answer(_run(explanation_automaton(
        tokenizer, EMOTIONS, cues, stats, label_prior=prior, prior_weight=w), tokenizer, random.Random(seed),
        max_new=48), EMOTIONS).label
    assert {named(1.0, s) for s in range(8)} == {"tired"}
    alone = [T.parse_answer(_run(explanation_automaton(tokenizer, EMOTIONS, cues, stats), tokenizer,
                                 random.Random(s), max_new=48), EMOTIONS).label for s in range(8)]
    assert [named(0.0, s) for s in range(8)] == alone and len(set(alone)) > 1
    # the bias is over the labels each token leads to, only while the head is written
    auto = explanation_automaton(tokenizer, EMOTIONS, cues, stats, label_prior=prior, prior_weight=0.5)
    splits = []
    for tok in tokenizer(answer_prefix("tired", "emotion"), add_special_tokens=False)["input_ids"]:
        bias = auto.head_bias()
        assert bias is not None and tok in bias and max(bias.values()) <= 1e-9
        splits.append(len(bias))
        assert auto.advance(tok)
    assert max(splits) > 1 and splits[0] == 1          # "Emotion:" is shared; then the tokens pick labels
    assert auto.head_bias() is None
    with pytest.raises(ValueError, match="prior_weight"):
        ExplanationAutomaton([plan_explanation("sad", cues, stats)], lambda t: [1], prior_weight=2.0)
