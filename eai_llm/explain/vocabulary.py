"""The controlled vocabulary explanations are written in: cue phrases, emotion correlates, label phrases.

Every cue claim a text can make is one of the phrases in :data:`CUE_PHRASES` ("slow pace", "head bowed", ...),
and each phrase maps back to exactly one ``(cue, direction)`` pair (:data:`phrase_to_claim`). A direction is
relative to reference statistics over a population of training windows: "high" means ``z > 0``, "low" means
``z < 0`` (:mod:`eai_llm.explain.evidence`). The explanation's grammar (``"<cues>, typical of <label phrase>,
despite <cues>."``) is built from the words here; :mod:`~eai_llm.explain.parsing` reads it back and
:mod:`~eai_llm.explain.constrained` decodes within it.
"""

from __future__ import annotations

from typing import Literal, Mapping, Sequence

__all__ = ["Direction", "DIRECTIONS", "CUE_PHRASES", "phrase_to_claim", "cue_phrase", "CUE_ORDER", "ARTICLE",
           "EMOTION_CORRELATES", "EMOTION_ADJECTIVE", "label_phrase", "correlate_table", "agreement",
           "TASK_PREFIX", "task_prefix", "EXPLANATION_PREFIX", "TYPICAL", "READ_AS", "DESPITE", "NO_TYPICAL", "NO_DEVIATION",
           "join_phrases"]

Direction = Literal["low", "high"]
DIRECTIONS: tuple[str, str] = ("low", "high")

# ---- vocabulary ---------------------------------------------------------------------------------
#: The controlled cue vocabulary: cue -> {"low": phrase, "high": phrase}. Directions are relative to
#: the reference population (z-score sign). Every phrase is unique, lower case, 2-4 words, and no phrase
#: is a substring of another, so a phrase found in a text names exactly one (cue, direction).
CUE_PHRASES: dict[str, dict[str, str]] = {
    "walking_speed": {"low": "slow pace", "high": "brisk pace"},
    "cadence": {"low": "slow cadence", "high": "quick cadence"},
    "step_length": {"low": "short steps", "high": "long strides"},
    "trunk_lean": {"low": "trunk leaning back", "high": "trunk leaning forward"},
    "head_pitch": {"low": "head held high", "high": "head bowed"},
    "shoulder_slump": {"low": "shoulders pulled back", "high": "slumped shoulders"},
    "arm_swing": {"low": "small arm swing", "high": "large arm swing"},
    "hand_height": {"low": "hands hanging low", "high": "hands carried high"},
    "hands_distance": {"low": "hands held close together", "high": "hands held far apart"},
    "expansiveness": {"low": "compact posture", "high": "expansive posture"},
    "stance_width": {"low": "narrow stance", "high": "wide stance"},
    "knee_bend": {"low": "straight legs", "high": "bent knees"},
    "elbow_bend": {"low": "straight arms", "high": "bent elbows"},
    "energy": {"low": "low energy", "high": "high energy"},
    "hand_speed": {"low": "slow hands", "high": "fast hands"},
    "head_speed": {"low": "steady head", "high": "lively head motion"},
    "jerk": {"low": "smooth movement", "high": "jerky movement"},
    "vertical_bounce": {"low": "flat gait", "high": "bouncy gait"},
    "turning_speed": {"low": "little turning", "high": "fast turning"},
    "asymmetry": {"low": "symmetric limbs", "high": "lopsided movement"},
    "stillness_ratio": {"low": "constant motion", "high": "long still pauses"},
}

#: phrase -> (cue, direction), derived from :data:`CUE_PHRASES`.
phrase_to_claim: dict[str, tuple[str, str]] = {
    phrase: (cue, direction) for cue, pair in CUE_PHRASES.items() for direction, phrase in pair.items()
}
CUE_ORDER = {cue: i for i, cue in enumerate(CUE_PHRASES)}

#: Articles for phrases in running text ("at a slow pace", "with the head bowed"); others take none.
ARTICLE: dict[str, str] = {
    **{p: "a" for p in ("slow pace", "brisk pace", "slow cadence", "quick cadence", "small arm swing",
                        "large arm swing", "compact posture", "expansive posture", "narrow stance", "wide stance",
                        "steady head", "flat gait", "bouncy gait")},
    **{p: "the" for p in ("head bowed", "head held high", "trunk leaning back", "trunk leaning forward",
                          "hands hanging low", "hands carried high", "hands held close together",
                          "hands held far apart")},
}


def cue_phrase(cue: str, direction: str) -> str:
    """The vocabulary phrase of ``(cue, direction)``; ValueError for an unknown cue or direction."""
    if cue not in CUE_PHRASES:
        raise ValueError(f"unknown cue {cue!r}; expected one of {sorted(CUE_PHRASES)}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'low' or 'high', got {direction!r}")
    return CUE_PHRASES[cue][direction]


# ---- emotion correlates -------------------------------------------------------------------------
# Bodily correlates of emotions, from the literature and from the Bandai Namco data (DESIGN.md, "What
# the data shows"; effect sizes after removing each content type's mean). Listed strongest-evidence first.
# References:
#   Wallbott 1998, "Bodily expression of emotion", Eur. J. Soc. Psychol. 28 (collapsed upper body and
#     low activity in sadness; high activity, expansive movement in joy and hot anger; head back in pride);
#   Roether, Omlor, Christensen & Giese 2009, "Critical features for the perception of emotion from
#     gait", J. Vision 9(6) (sad: slow, head down, reduced arm swing; angry/happy: fast, large arm swing,
#     angry: elbow flexion; fear/anxiety: small, tense movements);
#   Gross, Crane & Fredrickson 2012, "Effort-Shape and kinematic assessment of bodily expression of
#     emotion during gait", Hum. Mov. Sci. 31 (sad: slow, short strides, head down, contracted;
#     anger: forceful, fast; joy: expansive, bouncy);
#   Tracy & Robins 2004, "Show your pride", Psychol. Sci. 15 (pride: head tilted back, expanded chest);
#   Kleinsmith & Bianchi-Berthouze 2013, "Affective body expression perception and recognition: a
#     survey", IEEE TAC 4 (survey of posture/movement cues across studies).
EMOTION_CORRELATES: dict[str, tuple[tuple[str, str], ...]] = {
    "happy": (("vertical_bounce", "high"), ("hand_height", "high"), ("head_speed", "high"),
              ("arm_swing", "high"), ("walking_speed", "high"), ("energy", "high"),
              ("expansiveness", "high")),
    "sad": (("head_pitch", "high"), ("walking_speed", "low"), ("step_length", "low"),
            ("trunk_lean", "high"), ("shoulder_slump", "high"), ("arm_swing", "low"),
            ("energy", "low"), ("vertical_bounce", "low")),
    "angry": (("jerk", "high"), ("hand_speed", "high"), ("turning_speed", "high"), ("energy", "high"),
              ("arm_swing", "high"), ("walking_speed", "high"), ("elbow_bend", "high")),
    "proud": (("head_pitch", "low"), ("trunk_lean", "low"), ("expansiveness", "high"),
              ("cadence", "low"), ("shoulder_slump", "low"), ("step_length", "high")),
    "not-confident": (("hands_distance", "low"), ("arm_swing", "low"), ("expansiveness", "low"),
                      ("elbow_bend", "high"), ("knee_bend", "high"), ("head_pitch", "high"),
                      ("shoulder_slump", "high")),
    "tired": (("stance_width", "high"), ("knee_bend", "high"), ("head_pitch", "high"),
              ("walking_speed", "low"), ("step_length", "low"), ("energy", "low")),
    "normal": (("walking_speed", "high"), ("trunk_lean", "low"), ("step_length", "high"),
               ("head_pitch", "low"), ("knee_bend", "low")),
}

#: The noun used in the explanation's tail ("..., typical of sadness.").
EMOTION_ADJECTIVE: dict[str, str] = {
    "happy": "happiness", "sad": "sadness", "angry": "anger", "proud": "pride",
    "not-confident": "lack of confidence", "tired": "fatigue", "normal": "a neutral state",
}


def label_phrase(label: str, task: str = "emotion") -> str:
    """How a label is named in the tail: the emotion noun (emotion task), else "a/an <label> style"
    (dataset-2's ``style2``: "a/an <label> way of moving", so its ``normal`` is never read as an emotion)."""
    if task == "emotion" and label in EMOTION_ADJECTIVE:
        return EMOTION_ADJECTIVE[label]
    article = "an" if label[:1].lower() in "aeiou" else "a"
    return f"{article} {label} way of moving" if task == "style2" else f"{article} {label} style"


def correlate_table(task: str, correlates: Mapping[str, Sequence[tuple[str, str]]] | None = None
                    ) -> Mapping[str, Sequence[tuple[str, str]]]:
    """The emotion correlates apply to the emotion task and to dataset-1's styles (whose emotion-named styles are
    the emotions), never to dataset-2's ``style2`` (its ``normal`` is a way of moving); ``correlates`` (e.g.
    :func:`~eai_llm.explain.evidence.data_correlates`) adds or replaces labels."""
    return {**(EMOTION_CORRELATES if task in ("emotion", "style") else {}), **(correlates or {})}


def agreement(label: str, cue: str, direction: str, task: str = "emotion",
              correlates: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> str | None:
    """How a claim ``(cue, direction)`` relates to ``label``'s correlates: ``"agrees"`` (it is one of them),
    ``"contrary"`` (the opposite direction is one of them), ``"neutral"``; None when the label has no correlates
    (a style of dataset-2, whose cues are whatever the clip shows)."""
    table = correlate_table(task, correlates)
    if label not in table:
        return None
    wanted = set(table[label])
    if (cue, direction) in wanted:
        return "agrees"
    other = "low" if direction == "high" else "high"
    return "contrary" if (cue, other) in wanted else "neutral"


# ---- the explanation's fixed words ------------------------------------------------------------------
#: The answer's first word per task; one parser reads both.
#: Dataset-2's styles (``style2``) answer "Style:" too; its questions name it "way of moving" and list its own
#: options, so the two style sets never share a prompt.
TASK_PREFIX: dict[str, str] = {"emotion": "Emotion", "style": "Style", "style2": "Style"}
EXPLANATION_PREFIX = "Explanation"


def task_prefix(task: str) -> str:
    """The answer's first word for ``task`` ("Emotion", "Style"); ValueError for an unknown task."""
    if task not in TASK_PREFIX:
        raise ValueError(f"task must be one of {sorted(TASK_PREFIX)}, got {task!r}")
    return TASK_PREFIX[task]

#: "<cues>, typical of <label>" for a label with correlates (every cited cue agrees with them) ...
TYPICAL = "typical of"
#: ... "<cues>, read as <label>" for a label without correlates (the cues are the clip's strongest deviations)
READ_AS = "read as"
#: "..., despite <cues>": supported cues that run against the label's correlates
DESPITE = "despite"
#: no supported cue agrees with the label: "no measured cue is typical of <label>"
NO_TYPICAL = "no measured cue is typical of"
#: a label without correlates and no cue outside its typical range: "no measured cue stands out, read as <label>"
NO_DEVIATION = "no measured cue stands out, read as"


def join_phrases(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
