"""The explanation machinery: vocabulary, evidence selection (support, applicability, plausibility), texts,
strict parsing into segments, verification, readable values and contrast."""

from __future__ import annotations

import random
import re

import pytest

from eai_llm import explain as T

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
    # step_length (|z| 0.8) and shoulder_slump are inside the typical range (|z| < SUPPORT_Z = 1).
    assert [(c.cue, c.direction) for c in claims] == [("walking_speed", "low"), ("head_pitch", "high")]
    assert claims[0].phrase == "slow pace" and claims[0].value == pytest.approx(-0.5)
    assert claims[0].z == pytest.approx(-3.0)
    assert len(T.select_evidence("sad", cues, _stats(), k=1)) == 1
    assert T.select_evidence("sad", cues, _stats(), min_z=2.5)[0].cue == "walking_speed"
    assert [c.cue for c in T.select_evidence("sad", cues, _stats(), min_z=0.75)][-1] == "step_length"
    sel = T.select_claims("sad", cues, _stats())
    assert [(c.cue, c.direction) for c in sel.against] == [("trunk_lean", "low")] and sel.typical


def test_neutral_and_contrary_cues_are_never_cited_as_reasons():
    """No fallback to unrelated deviations: "jerky movement, read as sadness" says nothing about sadness."""
    cues = _cues(jerk=3.0, stance_width=-2.0, walking_speed=2.5)
    sel = T.select_claims("sad", cues, _stats())
    assert sel.support == () and [c.cue for c in sel.against] == ["walking_speed"]
    assert T.explanation_text("sad", sel) == "no measured cue is typical of sadness, despite brisk pace."
    assert T.select_evidence("sad", _cues(arm_swing=0.3), _stats()) == []
    # a label without correlates is explained by the clip's strongest deviations
    style = T.select_evidence("childish", _cues(vertical_bounce=2.0, head_speed=1.0, jerk=-5.0), _stats(), k=2)
    assert [(c.cue, c.direction) for c in style] == [("jerk", "low"), ("vertical_bounce", "high")]
    assert T.explanation_text("childish", style) == "smooth movement and bouncy gait, read as a childish style."
    assert T.explanation_text("childish", []) == "no measured cue stands out, read as a childish style."


def test_gait_cues_need_locomotion():
    """A bow or a wave on the spot has no pace, cadence or arm swing to speak of."""
    standing = _cues(walking_speed=-3.0, cadence=-2.0, arm_swing=-2.5, head_pitch=2.0)
    standing["locomotion"] = 0.1
    assert not T.applicable("walking_speed", standing) and T.applicable("head_pitch", standing)
    assert set(T.not_applicable(standing)) == set(T.GAIT_CUES)
    assert [c.cue for c in T.select_evidence("sad", standing, _stats())] == ["head_pitch"]
    checks = T.verify_claims([("walking_speed", "low"), ("head_pitch", "high")], standing, _stats())
    assert [(c.supported, c.applicable) for c in checks] == [(False, False), (True, True)]
    assert "not applicable" in checks[0].describe()
    walking = dict(standing, locomotion=0.9)
    assert [c.cue for c in T.select_evidence("sad", walking, _stats())][:2] == ["walking_speed", "arm_swing"]
    assert T.applicable("cadence", {k: v for k, v in standing.items() if k != "locomotion"})   # not measured
    assert T.describe_movement(standing, _stats(), random.Random(0)).count("pace") == 0


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
    assert T.explanation_text("old", claims, typical=True) == "bent knees, typical of an old style."


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
    # a label without correlates reads "read as"; one with correlates "typical of"
    odd = T.select_evidence("childish", _cues(jerk=3.0), _stats())
    assert T.explanation_text("childish", odd) == "jerky movement, read as a childish style."
    assert T.explanation_text("normal", claims[:1]).endswith("typical of a neutral state.")
    with pytest.raises(ValueError, match="task"):
        T.answer_text("sad", task="mood")


def test_describe_movement_lists_strong_deviations_only():
    cues = _cues(walking_speed=-2.5, head_pitch=2.0, arm_swing=-1.5, jerk=1.0, energy=0.2)
    cues["locomotion"] = 0.8
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
    cues = _cues(walking_speed=-2.0, head_pitch=1.2, jerk=0.6)
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
    assert T.faithfulness(wrong, cues, _stats(), min_z=0.5) == 1.0
    assert T.faithfulness("Emotion: sad. Explanation: typical of sadness.", cues, _stats()) is None


def test_annotate_inserts_measured_values_in_words():
    cues = {"walking_speed": 0.623, "head_pitch": 31.04, "trunk_lean": 8.0}
    text = "slow pace, head bowed and long strides, typical of sadness."
    out = T.annotate(text, cues, units={"walking_speed": "m/s", "head_pitch": "deg"})
    assert out.startswith("slow pace (0.62 m/s), head bowed (31° down) and long strides, typical")
    assert T.annotate(out, cues, units={"walking_speed": "m/s", "head_pitch": "deg"}) == out  # idempotent
    assert T.annotate("trunk leaning forward.", cues) == "trunk leaning forward (8° forward)."


@pytest.mark.parametrize("cue, value, words", [
    ("head_pitch", -15.6, "raised 16°"), ("head_pitch", 12.2, "12° down"), ("trunk_lean", -3.0, "3° back"),
    ("shoulder_slump", -8.6, "pulled 9° back"), ("hand_height", -0.012, "0.01 m below the hips"),
    ("hand_height", 0.3, "0.30 m above the hips"), ("stillness_ratio", 0.42, "42% of the time"),
    ("cadence", 102.4, "102 steps/min"), ("turning_speed", 35.2, "35°/s"), ("knee_bend", 24.6, "25°"),
    ("asymmetry", 0.35, "35% left/right difference"), ("energy", 0.1234, "0.123 m²/s²"),
])
def test_values_read_as_words_with_units(cue, value, words):
    assert T.format_value(cue, value) == words


def test_a_value_against_its_phrase_gets_the_typical_value_beside_it():
    """"head held high (-15.6°)" was hard to read; "trunk leaning back (2° forward)" is a relative claim."""
    stats = {"trunk_lean": {"mean": 9.0, "std": 3.0}, "head_pitch": {"mean": 10.0, "std": 6.0}}
    out = T.annotate("trunk leaning back and head held high.", {"trunk_lean": 2.0, "head_pitch": -5.0}, stats)
    assert out == "trunk leaning back (2° forward; typical 9° forward) and head held high (raised 5°)."


# ---- the explanation as segments ------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "slow pace, head bowed and trunk leaning forward, typical of sadness.",
    "slow pace (0.62 m/s) and head bowed (31° down), typical of sadness, despite fast hands (1.2 m/s).",
    "no measured cue is typical of sadness.",
    "no measured cue is typical of sadness, despite brisk pace and fast hands.",
    "Slow  Pace and head bowed,\ntypical of sadness.",
])
def test_well_formed_explanations_parse_into_segments(text):
    parsed = T.parse_explanation(text, EMOTIONS)
    assert parsed.ok, parsed.error
    assert parsed.label == "sad" and parsed.link == "typical_label"
    assert "".join(seg.text for seg in parsed.segments) == " ".join(text.split())   # nothing left over
    assert {seg.kind for seg in parsed.segments} <= {"cue", "words", "label"}
    cues = [s for s in parsed.segments if s.kind == "cue"]
    assert [(s.cue, s.direction) for s in cues if s.role == "support"] == list(parsed.support)


@pytest.mark.parametrize("text, where", [
    ("head held close together, typical of sadness.", "head held close"),      # glued halves of two phrases
    ("fast reading of speed, typical of anger.", "fast reading"),
    ("long still stillness and slow cadille rhythm, typical of fatigue.", "stillness"),
    ("bent knee, typical of fatigue.", "bent knee"),
    ("slumped posture, typical of sadness.", "slumped posture"),                 # a paraphrase: no claim
    ("slow pace, typical of sadness", "ends early"),
    ("slow pace, typical of sadness. Also tired.", "after the final"),
    ("slow pace, typical of boredom.", "boredom"),
    ("slow pace, read as sadness.", "'read as'"),                                # the wrong link for an emotion
])
def test_fragments_and_paraphrases_do_not_parse(text, where):
    parsed = T.parse_explanation(text, EMOTIONS)
    assert not parsed.ok and where.split()[0] in parsed.error, parsed.error


def test_the_parser_reads_what_the_builder_writes():
    rng = random.Random(5)
    for case in range(80):
        cues, stats = _random_case(rng)
        cues["locomotion"] = rng.random()
        for task, labels in (("emotion", EMOTIONS), ("style", STYLES + ["sad"]), ("style2", ["elderly", "normal"])):
            for label in labels:
                sel = T.select_claims(label, cues, stats, task=task)
                text = T.explanation_text(label, sel, task=task)
                parsed = T.parse_explanation(text, labels, task)
                assert parsed.ok and parsed.label == label, (text, parsed.error)
                assert list(parsed.support) == [(c.cue, c.direction) for c in sel.support]
                assert T.parse_explanation(T.annotate(text, cues, stats), labels, task).ok


def test_check_explanation_judges_support_plausibility_and_applicability():
    cues = _cues(walking_speed=-2.0, head_pitch=2.0, arm_swing=2.0, stance_width=1.5)
    cues["locomotion"] = 0.9
    good = T.check_explanation("slow pace and head bowed, typical of sadness, despite large arm swing.", "sad",
                               EMOTIONS, cues, _stats())
    assert good.well_formed and good.plausible and good.applicable and good.supported == 2 and good.available == 2
    # "hands hanging low ... typical of anger": neutral for anger, so implausible (and here unsupported too)
    bad = T.check_explanation("stance width, typical of anger.", "angry", EMOTIONS, cues, _stats())
    assert not bad.well_formed
    wrong = T.check_explanation("slow pace, typical of anger.", "angry", EMOTIONS, cues, _stats())
    assert wrong.well_formed and wrong.plausible is False and wrong.supported == 1
    standing = dict(cues, locomotion=0.05)
    bow = T.check_explanation("slow pace, typical of sadness.", "sad", EMOTIONS, standing, _stats())
    assert not bow.applicable and bow.supported == 0 and bow.available == 1     # only head bowed applies
    assert T.check_explanation("no measured cue is typical of sadness.", "sad", EMOTIONS, cues,
                               _stats()).to_dict()["plausible"] is True


# ---- contrast -------------------------------------------------------------------------------------
def test_contrast_names_the_cues_that_separate_two_close_labels():
    cues = _cues(hand_speed=2.5, walking_speed=-2.0, head_pitch=1.5)
    cues["locomotion"] = 0.9
    assert T.contrast_text("angry", "tired", cues, _stats(), values=False) == "rather than fatigue: fast hands"
    assert T.contrast_text("sad", "happy", cues, _stats(), values=False) == \
        "rather than happiness: slow pace and head bowed"
    assert T.contrast_text("sad", "sad", cues, _stats()) is None
    assert T.contrast_text("elderly", "normal", cues, _stats(), task="style2") is None
    from eai_llm.explain.contrast import runner_up
    assert runner_up({"sad": 0.45, "tired": 0.35, "happy": 0.2}) == "tired"
    assert runner_up({"sad": 0.8, "tired": 0.1, "happy": 0.1}) is None
