"""Grounded text: vocabulary, evidence selection, instruction Q/A, strict parsing and verification."""

from __future__ import annotations

import random
import re

import pytest

from eai_llm.data import text as T

EMOTIONS = ["happy", "sad", "angry", "proud", "not-confident", "tired", "normal"]
STYLES = ["active", "childish", "chimpira", "feminine", "giant", "masculinity", "musical", "old"]


def _stats(mean: float = 1.0, std: float = 0.5) -> dict[str, dict[str, float]]:
    return {c: {"mean": mean, "std": std, "p10": mean - std, "p90": mean + std, "n": 100.0} for c in T.CUE_PHRASES}


def _cues(**z: float) -> dict[str, float]:
    """Cue values at the given z-scores against ``_stats()`` (others at the mean)."""
    out = {c: 1.0 for c in T.CUE_PHRASES}
    out.update({c: 1.0 + 0.5 * v for c, v in z.items()})
    return out


def _random_case(rng: random.Random) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    stats, cues = {}, {}
    for cue in T.CUE_PHRASES:
        mean, std = rng.uniform(-30, 30), rng.uniform(0.01, 10)
        if rng.random() > 0.1:
            stats[cue] = {"mean": mean, "std": std, "p10": mean - std, "p90": mean + std, "n": 50.0}
        if rng.random() > 0.2:
            cues[cue] = mean + std * rng.gauss(0, 1.3)
    return cues, stats


# ---- vocabulary ---------------------------------------------------------------------------------
CONTRACT_CUES = [
    "walking_speed", "cadence", "step_length", "trunk_lean", "head_pitch", "shoulder_slump", "arm_swing",
    "hand_height", "hands_distance", "expansiveness", "stance_width", "knee_bend", "elbow_bend", "energy",
    "hand_speed", "head_speed", "jerk", "vertical_bounce", "turning_speed", "asymmetry", "stillness_ratio",
]


def test_vocabulary_covers_the_contract_and_is_well_formed():
    assert list(T.CUE_PHRASES) == CONTRACT_CUES
    phrases = [p for pair in T.CUE_PHRASES.values() for p in pair.values()]
    assert all(set(pair) == {"low", "high"} for pair in T.CUE_PHRASES.values())
    assert len(phrases) == len(set(phrases)) == 2 * len(CONTRACT_CUES)
    for p in phrases:
        assert p == p.lower() and p == p.strip() and 2 <= len(p.split()) <= 4, p
        assert not re.search(r"\d", p), p
    for a in phrases:
        for b in phrases:
            assert a == b or a not in b, (a, b)


def test_vocabulary_directions_follow_the_sign_convention():
    assert T.cue_phrase("head_pitch", "high") == "head bowed"
    assert T.cue_phrase("trunk_lean", "high") == "trunk leaning forward"
    assert T.cue_phrase("walking_speed", "low") == "slow pace"
    assert T.cue_phrase("jerk", "low") == "smooth movement"


def test_phrase_claim_round_trip():
    assert len(T.phrase_to_claim) == 2 * len(T.CUE_PHRASES)
    for phrase, (cue, direction) in T.phrase_to_claim.items():
        assert T.cue_phrase(cue, direction) == phrase
        assert T.extract_claims(f"We see {phrase} here.") == [(cue, direction)]
    with pytest.raises(ValueError, match="unknown cue"):
        T.cue_phrase("speed", "low")
    with pytest.raises(ValueError, match="direction"):
        T.cue_phrase("jerk", "up")


def test_correlates_and_adjectives_use_the_vocabulary():
    assert set(T.EMOTION_CORRELATES) == set(EMOTIONS) == set(T.EMOTION_ADJECTIVE)
    for label, pairs in T.EMOTION_CORRELATES.items():
        assert pairs and len({c for c, _ in pairs}) == len(pairs), label
        for cue, direction in pairs:
            T.cue_phrase(cue, direction)
    assert ("head_pitch", "high") in T.EMOTION_CORRELATES["sad"]
    assert ("head_pitch", "low") in T.EMOTION_CORRELATES["proud"]
    assert ("hands_distance", "low") in T.EMOTION_CORRELATES["not-confident"]


def test_fixed_texts_make_no_cue_claim():
    fixed = [T.label_phrase(lab) for lab in EMOTIONS + STYLES]
    for task in ("emotion", "style"):
        for rng in (None, random.Random(1), random.Random(2), random.Random(5)):
            fixed += [T.classify_question(EMOTIONS + STYLES, task, rng), T.explain_question(EMOTIONS, task, rng)]
    fixed += [T.describe_question(random.Random(i)) for i in range(6)]
    fixed += [T.explanation_text("sad", []), T.describe_movement(_cues(), _stats(), random.Random(0))]
    for text in fixed:
        assert T.extract_claims(text) == [], text


# ---- evidence -----------------------------------------------------------------------------------
def test_select_evidence_picks_supported_correlates_strongest_first():
    cues = _cues(head_pitch=2.0, walking_speed=-3.0, trunk_lean=-1.5, jerk=4.0, step_length=-0.8,
                 shoulder_slump=0.5)
    claims = T.select_evidence("sad", cues, _stats())
    # jerk is the strongest deviation but no correlate of sadness; trunk_lean points the wrong way;
    # shoulder_slump is below min_z.
    assert [(c.cue, c.direction) for c in claims] == [("walking_speed", "low"), ("head_pitch", "high"),
                                                      ("step_length", "low")]
    assert claims[0].phrase == "slow pace" and claims[0].value == pytest.approx(-0.5)
    assert claims[0].z == pytest.approx(-3.0)
    assert len(T.select_evidence("sad", cues, _stats(), k=2)) == 2
    assert T.select_evidence("sad", cues, _stats(), min_z=2.5)[0].cue == "walking_speed"


def test_select_evidence_falls_back_to_strongest_deviations():
    cues = _cues(jerk=3.0, stance_width=-2.0, arm_swing=0.3)
    claims = T.select_evidence("sad", cues, _stats())
    assert [(c.cue, c.direction) for c in claims] == [("jerk", "high"), ("stance_width", "low")]
    assert T.select_evidence("sad", _cues(arm_swing=0.3), _stats()) == []
    # a label without correlates is explained by the clip's strongest deviations
    style = T.select_evidence("childish", _cues(vertical_bounce=2.0, head_speed=1.0, jerk=-5.0), _stats(), k=2)
    assert [(c.cue, c.direction) for c in style] == [("jerk", "low"), ("vertical_bounce", "high")]


def test_select_evidence_ignores_absent_cues_and_stats():
    cues = _cues(head_pitch=3.0, walking_speed=-2.0, trunk_lean=1.0)
    del cues["head_pitch"]
    stats = _stats()
    del stats["walking_speed"]
    cues["step_length"] = float("nan")
    claims = T.select_evidence("sad", cues, stats)
    assert [c.cue for c in claims] == ["trunk_lean"]
    assert T.select_evidence("sad", {"made_up": 9.0}, {"made_up": {"mean": 0, "std": 1}}) == []
    with pytest.raises(ValueError):
        T.select_evidence("sad", cues, stats, k=0)


def test_select_evidence_is_deterministic_with_ties():
    cues = _cues(head_pitch=2.0, walking_speed=-2.0, trunk_lean=2.0, step_length=-2.0)
    first = T.select_evidence("sad", cues, _stats())
    assert first == T.select_evidence("sad", dict(reversed(list(cues.items()))), _stats())
    assert [c.cue for c in first] == ["walking_speed", "step_length", "trunk_lean"]  # vocabulary order on ties


def test_data_correlates_find_the_planted_effect():
    rng = random.Random(3)
    cue_dicts, labels, groups = [], [], []
    for i in range(300):
        label = ["childish", "old", "active"][i % 3]
        group = ["walk", "dance"][(i // 3) % 2]
        z = {c: rng.gauss(0, 0.3) for c in T.CUE_PHRASES}
        z["vertical_bounce"] += 2.0 if label == "childish" else 0.0
        z["knee_bend"] += 1.5 if label == "old" else 0.0
        z["walking_speed"] += 3.0 if group == "walk" else -3.0  # content effect, removed by groups
        cue_dicts.append(_cues(**z))
        labels.append(label)
        groups.append(group)
    found = T.data_correlates(cue_dicts, labels, _stats(), groups=groups, top=2, min_effect=0.5)
    assert found["childish"][0] == ("vertical_bounce", "high")
    assert found["old"][0] == ("knee_bend", "high")
    assert all(c != "walking_speed" for pairs in found.values() for c, _ in pairs)
    # effects are relative to the whole population: "active" only shows the others' absence
    assert all(d == "low" for _, d in found["active"])
    claims = T.select_evidence("old", _cues(knee_bend=2.0, jerk=3.0), _stats(), correlates=found)
    assert [c.cue for c in claims] == ["knee_bend"]
    assert T.explanation_text("old", claims, correlates=found) == "bent knees, typical of an old style."


# ---- texts --------------------------------------------------------------------------------------
def test_explanation_and_answer_format():
    cues = _cues(walking_speed=-2.5, head_pitch=2.0, trunk_lean=1.2)
    claims = T.select_evidence("sad", cues, _stats())
    expl = T.explanation_text("sad", claims)
    assert expl == "slow pace, head bowed and trunk leaning forward, typical of sadness."
    assert T.answer_text("sad", expl) == f"Emotion: sad. Explanation: {expl}"
    assert T.answer_text("sad") == "Emotion: sad."
    assert T.answer_text("old", "x.", task="style") == "Style: old. Explanation: x."
    assert not re.search(r"\d", expl)
    # claims that are not correlates of the label are not called typical of it
    odd = T.select_evidence("sad", _cues(jerk=3.0), _stats())
    assert T.explanation_text("sad", odd) == "jerky movement, read as sadness."
    assert T.explanation_text("childish", odd) == "jerky movement, typical of a childish style."
    assert T.explanation_text("normal", claims[:1]).endswith("read as a neutral state.")
    with pytest.raises(ValueError, match="task"):
        T.answer_text("sad", task="mood")


def test_describe_movement_lists_strong_deviations_only():
    cues = _cues(walking_speed=-2.5, head_pitch=2.0, arm_swing=-1.5, jerk=1.0, energy=0.2)
    for seed in range(20):
        text = T.describe_movement(cues, _stats(), random.Random(seed))
        claims = T.extract_claims(text)
        assert 3 <= len(claims) <= 4 and ("energy", "high") not in claims, text
        assert claims[:3] == [("walking_speed", "low"), ("head_pitch", "high"), ("arm_swing", "low")]
        assert text[0].isupper() and text.endswith(".")
    texts = {T.describe_movement(cues, _stats(), random.Random(s)) for s in range(20)}
    assert len(texts) > 2  # varied
    assert "The person moves at a slow pace, with the head bowed and a small arm swing" in " ".join(texts)


def test_same_seed_same_texts():
    cues, stats = _random_case(random.Random(11))
    a = T.build_instructions("sad", cues, stats, EMOTIONS, random.Random(42))
    b = T.build_instructions("sad", cues, stats, EMOTIONS, random.Random(42))
    assert a == b
    assert [it["kind"] for it in a] == ["classify", "describe", "explain"]
    assert T.describe_movement(cues, stats, random.Random(7)) == T.describe_movement(cues, stats, random.Random(7))


def test_build_instructions_questions_list_the_label_set():
    cues = _cues(walking_speed=-2.5)
    for task, labels, word, prefix in (("emotion", EMOTIONS, "emotion", "Emotion:"), ("style", STYLES, "style", "Style:")):
        for seed in range(6):
            items = {it["kind"]: it for it in T.build_instructions(labels[1], cues, _stats(), labels,
                                                                   random.Random(seed), task=task)}
            for kind in ("classify", "explain"):
                assert items[kind]["question"].endswith(f"Options: {', '.join(labels)}.")
                assert word in items[kind]["question"].lower()
                assert items[kind]["answer"].startswith(f"{prefix} {labels[1]}.")
            assert len(items["classify"]["question"].split()) < 10 + len(labels)
    with pytest.raises(ValueError, match="not in the label set"):
        T.build_instructions("bored", cues, _stats(), EMOTIONS, random.Random(0))


def test_built_texts_always_verify_and_parse_back():
    """Property: over random clips and every label, the builder's texts verify at 1.0 and parse back."""
    rng = random.Random(2024)
    n_claims = 0
    for case in range(60):
        cues, stats = _random_case(rng)
        for task, labels in (("emotion", EMOTIONS), ("style", STYLES + ["sad"])):
            for label in labels:
                items = {it["kind"]: it for it in T.build_instructions(label, cues, stats, labels,
                                                                       random.Random(case), task=task)}
                for kind in ("describe", "explain"):
                    f = T.faithfulness(items[kind]["answer"], cues, stats)
                    assert f in (None, 1.0), (kind, items[kind]["answer"])
                    n_claims += f is not None
                for kind in ("classify", "explain"):
                    parsed = T.parse_answer(items[kind]["answer"], labels, task=task,
                                            need_explanation=kind == "explain")
                    assert parsed.ok and parsed.label == label, (parsed, items[kind]["answer"])
                    assert T.label_consistency(items[kind]["answer"], label, labels)
    assert n_claims > 500  # the property was exercised with real claims


# ---- parsing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("sad. Explanation: slow pace.", "must start with"),
    ("Mood: sad. Explanation: slow pace.", "must start with"),
    ("Emotion: bored. Explanation: slow pace.", "not one of"),
    ("Emotion: sad", "missing 'Explanation:'"),
    ("Emotion: sad.", "missing 'Explanation:'"),
    ("Emotion: sad. Explanation:", "empty explanation"),
    ("Emotion: sad. Explanation: ,.", "empty explanation"),
    ("Emotion: sad. Because: slow pace.", "expected 'Explanation:'"),
    ("Emotion: sad Explanation: slow pace.", "expected '.' after the label"),
    ("Emotion: sad. Explanation: slow pace, head", "truncated"),
    ("Emotion: sad. Explanation: slow pace. Emotion: sad.", "extra answer text"),
])
def test_parse_answer_rejects_malformed(text, reason):
    parsed = T.parse_answer(text, EMOTIONS)
    assert not parsed.ok and parsed.label is None and parsed.explanation is None
    assert reason in parsed.error


def test_parse_answer_accepts_the_format_tolerantly():
    parsed = T.parse_answer("  emotion :  NOT-Confident .\n explanation:  small   arm swing,\ntypical. ", EMOTIONS)
    assert parsed == T.ParsedAnswer("not-confident", "small arm swing, typical.", True, None)
    assert T.parse_answer("Style: old. Explanation: bent knees.", STYLES).label == "old"
    assert T.parse_answer("Emotion: sad.", EMOTIONS, need_explanation=False) == T.ParsedAnswer("sad", None, True)
    wrong_task = T.parse_answer("Style: sad. Explanation: slow pace.", EMOTIONS, task="emotion")
    assert not wrong_task.ok and "'Emotion:'" in wrong_task.error


def test_label_consistency():
    answer = "Emotion: sad. Explanation: slow pace, typical of sadness."
    assert T.label_consistency(answer, "sad", EMOTIONS)
    assert T.label_consistency("Emotion: SAD.", "sad", EMOTIONS)
    assert not T.label_consistency(answer, "happy", EMOTIONS)
    assert not T.label_consistency("I think sad.", "sad", EMOTIONS)
    assert not T.label_consistency(answer, "sad", ["happy", "angry"])


def test_extract_claims_longest_first_in_order_once():
    text = "Head Bowed, a slow pace and\nhead   bowed again; trunk leaning forward, not trunk leaning."
    assert T.extract_claims(text) == [("head_pitch", "high"), ("walking_speed", "low"), ("trunk_lean", "high")]
    assert T.extract_claims("the hands held close together") == [("hands_distance", "low")]
    assert T.extract_claims("a slow paced walk, unsmooth movements") == []  # whole words only
    assert T.extract_claims("no cue words at all") == []


# ---- verification -------------------------------------------------------------------------------
def test_verify_claims_and_faithfulness():
    cues = _cues(walking_speed=-2.0, head_pitch=0.6, jerk=0.3)
    del cues["arm_swing"]
    checks = T.verify_claims([("walking_speed", "low"), ("head_pitch", "high"), ("head_pitch", "low"),
                              ("jerk", "high"), ("arm_swing", "low")], cues, _stats(), units={"walking_speed": "m/s"})
    assert [c.supported for c in checks] == [True, True, False, False, False]
    assert checks[0].value == pytest.approx(0.0) and checks[0].z == pytest.approx(-2.0)
    assert checks[0].unit == "m/s" and checks[1].unit == ""
    assert checks[0].typical == (0.5, 1.5)
    assert checks[4].value is None and checks[4].z is None
    assert checks[0].to_dict()["supported"] is True
    assert "supported" in checks[0].describe() and "not measured" in checks[4].describe()
    assert T.verify_claims(T.select_evidence("sad", cues, _stats()), cues, _stats())[0].supported

    good = "Emotion: sad. Explanation: slow pace and head bowed, typical of sadness."
    assert T.faithfulness(good, cues, _stats()) == 1.0
    wrong = "Emotion: sad. Explanation: slow pace, head bowed and jerky movement, typical of sadness."
    assert T.faithfulness(wrong, cues, _stats()) == pytest.approx(2 / 3)
    assert T.faithfulness(wrong, cues, _stats(), min_z=0.2) == 1.0
    assert T.faithfulness("Emotion: sad. Explanation: typical of sadness.", cues, _stats()) is None


def test_annotate_inserts_measured_values():
    cues = {"walking_speed": 0.623, "head_pitch": 31.04, "trunk_lean": 8.0}
    text = "slow pace, head bowed and long strides, typical of sadness."
    out = T.annotate(text, cues, units={"walking_speed": "m/s", "head_pitch": "deg"})
    assert out.startswith("slow pace (0.62 m/s), head bowed (31.0°) and long strides, typical")
    assert T.annotate(out, cues, units={"walking_speed": "m/s", "head_pitch": "deg"}) == out  # idempotent
    default = T.annotate("trunk leaning forward.", cues)  # units from the cue registry (or none)
    assert re.fullmatch(r"trunk leaning forward \(8\.0(°)?\)\.", default), default
