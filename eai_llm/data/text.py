"""Grounded text: the cue vocabulary, descriptions, instruction Q/A, strict answer parsing and verification.

This module is what makes explanations *checkable*. Every cue claim a text can make is one of the
phrases in :data:`CUE_PHRASES` ("slow pace", "head bowed", ...), and each phrase maps back to exactly
one ``(cue, direction)`` pair (:data:`phrase_to_claim`). A direction is judged against reference
statistics over a population of training windows (``cue_statistics`` in :mod:`eai_llm.skeleton.cues`):
``z = (value - mean) / max(std, eps)``; "high" means ``z > 0``, "low" means ``z < 0``. So "head bowed"
means *more bowed than the reference population*, which is what the clip's numbers can confirm.

Pipeline:

- :func:`select_evidence` picks the measured cues that support a label (its known correlates,
  :data:`EMOTION_CORRELATES`; for other labels, or when no correlate is present, the clip's strongest
  deviations, which are still true statements about the clip);
- :func:`explanation_text`, :func:`answer_text`, :func:`describe_movement` and
  :func:`build_instructions` turn them into short training targets (no numbers: numbers are attached
  afterwards from the measurements by :func:`annotate`);
- :func:`parse_answer` reads the fixed answer format back strictly; :func:`extract_claims`,
  :func:`verify_claims`, :func:`faithfulness` and :func:`label_consistency` check a (generated) text
  against the clip's measured cues.

Pure Python + numpy; cue values are plain ``dict[str, float]`` (the cue module is imported lazily and
only for units/formats).
"""

from __future__ import annotations

import math
import random
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence

import numpy as np

__all__ = [
    "Direction", "CUE_PHRASES", "phrase_to_claim", "cue_phrase", "EMOTION_CORRELATES", "EMOTION_ADJECTIVE",
    "Claim", "ClaimCheck", "ParsedAnswer", "TASK_PREFIX", "EXPLANATION_PREFIX",
    "zscore", "zscores", "select_evidence", "data_correlates", "label_phrase",
    "describe_movement", "explanation_text", "answer_text", "classify_question", "explain_question",
    "describe_question", "build_instructions",
    "parse_answer", "extract_claims", "verify_claims", "faithfulness", "label_consistency", "annotate",
]

Direction = Literal["low", "high"]
DIRECTIONS: tuple[str, str] = ("low", "high")
#: Floor on the reference standard deviation in z-scores.
EPS = 1e-6

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
_CUE_ORDER = {cue: i for i, cue in enumerate(CUE_PHRASES)}

#: Articles for phrases in running text ("at a slow pace", "with the head bowed"); others take none.
_ARTICLE: dict[str, str] = {
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


# ---- claims and z-scores ------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    """One cue claim with the measurement behind it."""

    cue: str
    direction: str
    phrase: str
    value: float
    z: float


def zscore(cue: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]]) -> float | None:
    """``(value - mean) / max(std, EPS)``, or None when the cue is absent, non-finite or has no statistics."""
    value, ref = cues.get(cue), stats.get(cue)
    if value is None or ref is None or "mean" not in ref or "std" not in ref:
        return None
    value, mean, std = float(value), float(ref["mean"]), float(ref["std"])
    if not (math.isfinite(value) and math.isfinite(mean) and math.isfinite(std)):
        return None
    return (value - mean) / max(std, EPS)


def zscores(cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """z-scores of every vocabulary cue that is present in both ``cues`` and ``stats`` (vocabulary order)."""
    out = {}
    for cue in CUE_PHRASES:
        z = zscore(cue, cues, stats)
        if z is not None:
            out[cue] = z
    return out


def _claim(cue: str, z: float, cues: Mapping[str, float]) -> Claim:
    direction = "high" if z > 0 else "low"
    return Claim(cue, direction, CUE_PHRASES[cue][direction], float(cues[cue]), float(z))


def _strongest(z: Mapping[str, float], min_z: float) -> list[tuple[str, float]]:
    """Cues with |z| >= min_z, strongest first (ties in vocabulary order: deterministic)."""
    picked = [(c, v) for c, v in z.items() if abs(v) >= min_z and v != 0.0]
    return sorted(picked, key=lambda cv: (-abs(cv[1]), _CUE_ORDER[cv[0]]))


def _correlate_table(task: str, correlates: Mapping[str, Sequence[tuple[str, str]]] | None
                     ) -> Mapping[str, Sequence[tuple[str, str]]]:
    """The emotion correlates apply to the emotion task only (dataset-2's ``normal`` is a style)."""
    return {**(EMOTION_CORRELATES if task in ("emotion", "style") else {}), **(correlates or {})}


def select_evidence(label: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], *,
                    k: int = 3, min_z: float = 0.75,
                    correlates: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                    task: str = "emotion") -> list[Claim]:
    """The measured cues that explain ``label`` for this clip, strongest first, at most ``k``.

    For a label with correlates (:data:`EMOTION_CORRELATES`, updated by ``correlates``): the correlates
    whose measured z has the claimed direction with ``|z| >= min_z``. When none qualifies, or the label
    has no correlates (other styles), the clip's strongest deviations (``|z| >= min_z``, any cue).
    Cues absent from ``cues`` or ``stats`` are never cited. Deterministic.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    z = zscores(cues, stats)
    table = _correlate_table(task, correlates)
    chosen: list[tuple[str, float]] = []
    if label in table:
        wanted = {cue: d for cue, d in table[label]}
        chosen = [(c, v) for c, v in _strongest(z, min_z) if wanted.get(c) == ("high" if v > 0 else "low")]
    if not chosen:
        chosen = _strongest(z, min_z)
    return [_claim(c, v, cues) for c, v in chosen[:k]]


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's 'mean of empty slice' warnings for all-NaN columns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def data_correlates(cue_dicts: Sequence[Mapping[str, float]], labels: Sequence[str],
                    stats: Mapping[str, Mapping[str, float]], *, groups: Sequence[str] | None = None,
                    top: int = 4, min_effect: float = 0.5) -> dict[str, tuple[tuple[str, str], ...]]:
    """Data-driven correlates per label: the cues whose mean z within the label deviates most.

    With ``groups`` (e.g. content types), each group's mean z is removed first, so that "walks faster"
    is judged within walking clips. Keeps up to ``top`` cues with ``|mean z| >= min_effect`` per label.
    The result can be passed to :func:`select_evidence` / :func:`explanation_text` as ``correlates``.
    """
    if len(cue_dicts) != len(labels) or (groups is not None and len(groups) != len(labels)):
        raise ValueError(f"cue_dicts ({len(cue_dicts)}), labels ({len(labels)}) and groups must have equal length")
    names = list(CUE_PHRASES)
    zmat = np.full((len(cue_dicts), len(names)), np.nan)
    for i, cues in enumerate(cue_dicts):
        for j, name in enumerate(names):
            v = zscore(name, cues, stats)
            if v is not None:
                zmat[i, j] = v
    if groups is not None:
        garr = np.asarray(groups, dtype=object)
        for g in dict.fromkeys(groups):
            rows = garr == g
            with _quiet():
                zmat[rows] -= np.nan_to_num(np.nanmean(zmat[rows], axis=0))
    larr = np.asarray(labels, dtype=object)
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for label in dict.fromkeys(labels):
        with _quiet():
            effect = np.nanmean(zmat[larr == label], axis=0)
        order = [j for j in np.argsort(-np.abs(np.nan_to_num(effect)), kind="stable")
                 if np.isfinite(effect[j]) and abs(effect[j]) >= min_effect][:top]
        out[label] = tuple((names[j], "high" if effect[j] > 0 else "low") for j in order)
    return out


# ---- texts --------------------------------------------------------------------------------------
def _join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _with_article(phrase: str) -> str:
    article = _ARTICLE.get(phrase)
    if article == "a" and phrase[0] in "aeiou":
        article = "an"
    return f"{article} {phrase}" if article else phrase


_DESCRIBE_TEMPLATES = (
    "The person moves with {all}.",
    "This person moves with {all}.",
    "Observed: {all}.",
    "The person moves with {first}; also {rest}.",
)
_NO_DEVIATION = "The movement stays close to the reference on every measured cue."


def describe_movement(cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], rng: random.Random,
                      *, min_items: int = 3, max_items: int = 5, min_z: float = 0.75) -> str:
    """A short movement description listing the clip's strongest deviations by their vocabulary phrases.

    Lists ``min_items``..``max_items`` (drawn from ``rng``) cues with ``|z| >= min_z``, strongest first,
    in one of a few sentence templates. Only vocabulary phrases carry cue claims, so the description
    verifies with :func:`faithfulness`. Same ``rng`` state -> same text.
    """
    n = rng.randint(min_items, max_items)
    template = rng.choice(_DESCRIBE_TEMPLATES)
    picked = _strongest(zscores(cues, stats), min_z)[:n]
    if not picked:
        return _NO_DEVIATION
    phrases = [CUE_PHRASES[c]["high" if v > 0 else "low"] for c, v in picked]
    if phrases[0] in ("slow pace", "brisk pace") and rng.random() < 0.5:
        rest = phrases[1:]
        return f"The person moves at a {phrases[0]}" + (f", with {_join([_with_article(p) for p in rest])}." if rest else ".")
    items = [_with_article(p) for p in phrases]
    if "{rest}" in template and len(items) < 2:
        template = _DESCRIBE_TEMPLATES[0]
    return template.format(all=_join(items), first=items[0], rest=_join(items[1:]))


def _is_typical(label: str, claims: Sequence[Claim],
                correlates: Mapping[str, Sequence[tuple[str, str]]] | None, task: str = "emotion") -> bool:
    table = _correlate_table(task, correlates)
    if label not in table:
        return True  # data-driven label: the claims are what this clip of the label shows
    wanted = {(cue, d) for cue, d in table[label]}
    return all((c.cue, c.direction) in wanted for c in claims)


def explanation_text(label: str, claims: Sequence[Claim], *,
                     correlates: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                     task: str = "emotion") -> str:
    """The canonical short explanation: ``"slow pace, head bowed and trunk leaning forward, typical of sadness."``

    Claims that are not known correlates of the label (the fallback of :func:`select_evidence`) end in
    ``"..., read as sadness."`` instead, so the text never calls an unrelated cue typical. No numbers.
    """
    tail = label_phrase(label, task)
    if not claims:
        return f"no single cue stands out, read as {tail}."
    phrases = _join([c.phrase for c in claims])
    link = "typical of" if _is_typical(label, claims, correlates, task) else "read as"
    return f"{phrases}, {link} {tail}."


#: The answer's first word per task; one parser reads both.
#: Dataset-2's styles (``style2``) answer "Style:" too; its questions name it "way of moving" and list its own
#: options, so the two style sets never share a prompt.
TASK_PREFIX: dict[str, str] = {"emotion": "Emotion", "style": "Style", "style2": "Style"}
EXPLANATION_PREFIX = "Explanation"


def _prefix(task: str) -> str:
    if task not in TASK_PREFIX:
        raise ValueError(f"task must be one of {sorted(TASK_PREFIX)}, got {task!r}")
    return TASK_PREFIX[task]


def answer_text(label: str, explanation: str | None = None, *, task: str = "emotion") -> str:
    """The fixed answer format: ``"Emotion: sad. Explanation: <explanation>"`` (label only when None)."""
    head = f"{_prefix(task)}: {label}."
    return head if explanation is None else f"{head} {EXPLANATION_PREFIX}: {explanation}"


_CLASSIFY_Q = {
    "emotion": ("Which emotion does this person express?", "What emotion does this movement show?"),
    "style": ("Which style does this person's movement have?", "What movement style is this?"),
    "style2": ("Which way of moving does this person show?", "What manner of moving is this?"),
}
_EXPLAIN_Q = {
    "emotion": ("Which emotion does this person express, and why?", "What emotion is shown, and why?"),
    "style": ("Which style does this movement have, and why?", "What movement style is this, and why?"),
    "style2": ("Which way of moving does this person show, and why?", "What manner of moving is this, and why?"),
}
_DESCRIBE_Q = ("Describe how this person moves.", "How does this person move?")


def _options(label_set: Sequence[str]) -> str:
    return f" Options: {', '.join(label_set)}."


def _pick(options: Sequence[str], rng: random.Random | None) -> str:
    return options[0] if rng is None else rng.choice(options)


def classify_question(label_set: Sequence[str], task: str = "emotion", rng: random.Random | None = None) -> str:
    """The classification prompt, always listing the label set (the first template when ``rng`` is None)."""
    _prefix(task)
    return _pick(_CLASSIFY_Q[task], rng) + _options(label_set)


def explain_question(label_set: Sequence[str], task: str = "emotion", rng: random.Random | None = None) -> str:
    """The classify-and-explain prompt, listing the label set (the first template when ``rng`` is None)."""
    _prefix(task)
    return _pick(_EXPLAIN_Q[task], rng) + _options(label_set)


def describe_question(rng: random.Random | None = None) -> str:
    """The movement-description prompt."""
    return _pick(_DESCRIBE_Q, rng)


def build_instructions(label: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]],
                       label_set: Sequence[str], rng: random.Random, task: str = "emotion", *,
                       correlates: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> list[dict[str, str]]:
    """Instruction samples for one window: ``[{"kind", "question", "answer"}]`` for classify, describe, explain.

    classify -> ``"Emotion: sad."``; explain -> ``"Emotion: sad. Explanation: ..."``; describe -> a
    movement description. ``task="style"`` says "style" and answers ``"Style: ..."``; ``task="style2"``
    (dataset-2) asks for the "way of moving" and answers ``"Style: ..."`` from its own label set.
    """
    if label not in label_set:
        raise ValueError(f"label {label!r} is not in the label set {list(label_set)}")
    claims = select_evidence(label, cues, stats, correlates=correlates, task=task)
    explanation = explanation_text(label, claims, correlates=correlates, task=task)
    return [
        {"kind": "classify", "question": classify_question(label_set, task, rng),
         "answer": answer_text(label, task=task)},
        {"kind": "describe", "question": describe_question(rng), "answer": describe_movement(cues, stats, rng)},
        {"kind": "explain", "question": explain_question(label_set, task, rng),
         "answer": answer_text(label, explanation, task=task)},
    ]


# ---- parsing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedAnswer:
    """Result of :func:`parse_answer`: the canonical label and explanation when ``ok``, else the reason."""

    label: str | None
    explanation: str | None
    ok: bool
    error: str | None = None


_HEAD_RE = re.compile(r"^\s*(?P<prefix>emotion|style)\s*:\s*", re.IGNORECASE)
_EXPL_RE = re.compile(r"\s*explanation\s*:\s*", re.IGNORECASE)
_ANY_PREFIX_RE = re.compile(r"\b(?:emotion|style|explanation)\s*:", re.IGNORECASE)


def _fail(reason: str) -> ParsedAnswer:
    return ParsedAnswer(None, None, False, reason)


def parse_answer(text: str, label_set: Sequence[str], *, task: str | None = None,
                 need_explanation: bool = True) -> ParsedAnswer:
    """Strictly parse ``"Emotion: <label>. Explanation: <text>."`` (or ``"Style: ..."``).

    Case-insensitive label match against ``label_set`` (the canonical spelling is returned), whitespace
    tolerant. Rejects, with a reason: a missing or (with ``task``) wrong prefix, a label outside the
    set, no ``'.'`` after the label, a missing or empty explanation, an explanation without its final
    ``'.'`` (truncated) and a repeated answer. ``need_explanation=False`` also accepts ``"Emotion: sad."``.
    """
    if not isinstance(text, str) or not text.strip():
        return _fail("empty answer")
    head = _HEAD_RE.match(text)
    if head is None:
        want = " or ".join(f"'{p}:'" for p in ([_prefix(task)] if task else TASK_PREFIX.values()))
        return _fail(f"answer must start with {want}, got {text.strip()[:30]!r}")
    if task is not None and head["prefix"].lower() != _prefix(task).lower():
        return _fail(f"answer must start with '{_prefix(task)}:', got '{head['prefix']}:'")
    rest = text[head.end():]
    dot = rest.find(".")
    raw_label = rest if dot < 0 else rest[:dot]
    if _EXPL_RE.search(raw_label):
        return _fail("expected '.' after the label")
    label = _match_label(raw_label, label_set)
    if label is None:
        return _fail(f"label {' '.join(raw_label.split())[:30]!r} is not one of {list(label_set)}")
    after = rest[dot + 1:] if dot >= 0 else ""
    if not after.strip():
        if need_explanation:
            return _fail("missing 'Explanation:' after the label")
        return ParsedAnswer(label, None, True)
    expl = _EXPL_RE.match(after)
    if expl is None:
        return _fail(f"expected 'Explanation:' after the label, got {after.strip()[:30]!r}")
    explanation = " ".join(after[expl.end():].split())
    if not any(ch.isalpha() for ch in explanation):
        return _fail("empty explanation")
    if _ANY_PREFIX_RE.search(explanation):
        return _fail("extra answer text after the explanation")
    if not explanation.endswith("."):
        return _fail("explanation does not end with '.' (truncated?)")
    return ParsedAnswer(label, explanation, True)


def _match_label(raw: str, label_set: Sequence[str]) -> str | None:
    wanted = " ".join(raw.split()).lower()
    for label in label_set:
        if " ".join(label.split()).lower() == wanted:
            return label
    return None


def _phrase_pattern() -> re.Pattern[str]:
    ordered = sorted(phrase_to_claim, key=lambda p: (-len(p), p))
    alternation = "|".join(r"\s+".join(map(re.escape, p.split())) for p in ordered)
    # a plural ("large arm swings") makes the same claim
    return re.compile(rf"(?<![\w-])(?P<phrase>{alternation})s?(?![\w-])", re.IGNORECASE)


_PHRASE_RE = _phrase_pattern()


def _phrase_of(match: re.Match[str]) -> str:
    return " ".join(match.group("phrase").lower().split())


def extract_claims(text: str) -> list[tuple[str, str]]:
    """The ``(cue, direction)`` claims a text makes: vocabulary phrases, longest match first, in order of
    appearance, each claim once. Case- and whitespace-insensitive; whole words only (a plural counts)."""
    seen: dict[tuple[str, str], None] = {}
    for m in _PHRASE_RE.finditer(text):
        seen.setdefault(phrase_to_claim[_phrase_of(m)], None)
    return list(seen)


# ---- verification -------------------------------------------------------------------------------
def _cue_specs() -> Mapping[str, Any]:
    try:
        from ..skeleton.cues import CUES
    except ImportError:  # the cue module is optional for this module
        return {}
    return CUES


def _unit_of(cue: str, units: Mapping[str, str] | None, specs: Mapping[str, Any]) -> str:
    if units is not None:
        return units.get(cue, "")
    spec = specs.get(cue)
    return getattr(spec, "unit", "") if spec is not None else ""


def _format_value(cue: str, value: float, unit: str, specs: Mapping[str, Any]) -> str:
    spec = specs.get(cue)
    text = f"{value:{getattr(spec, 'fmt', '.3g')}}"
    if unit in ("", "ratio"):
        return text
    return f"{text}°" if unit == "deg" else f"{text} {unit}"


@dataclass(frozen=True)
class ClaimCheck:
    """One claim checked against the measurements (for faithfulness and for the evidence display)."""

    cue: str
    direction: str
    phrase: str
    value: float | None
    unit: str
    z: float | None
    typical: tuple[float, float] | None
    supported: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"cue": self.cue, "direction": self.direction, "phrase": self.phrase, "value": self.value,
                "unit": self.unit, "z": self.z, "typical": list(self.typical) if self.typical else None,
                "supported": self.supported}

    def describe(self) -> str:
        """One evidence line, e.g. ``"head bowed: 31.0° (typical 5.0°-20.0°, z=+1.8) supported"``."""
        if self.value is None:
            return f"{self.phrase}: not measured, unsupported"
        specs = _cue_specs()
        text = f"{self.phrase}: {_format_value(self.cue, self.value, self.unit, specs)}"
        extra = []
        if self.typical is not None:
            lo, hi = (_format_value(self.cue, v, self.unit, specs) for v in self.typical)
            extra.append(f"typical {lo} to {hi}")
        if self.z is not None:
            extra.append(f"z={self.z:+.1f}")
        detail = f" ({', '.join(extra)})" if extra else ""
        return f"{text}{detail} {'supported' if self.supported else 'unsupported'}"


def verify_claims(claims: Iterable[Claim | tuple[str, str]], cues: Mapping[str, float],
                  stats: Mapping[str, Mapping[str, float]], *, min_z: float = 0.5,
                  units: Mapping[str, str] | None = None) -> list[ClaimCheck]:
    """Check each claim: supported when the measured z has the claimed direction and ``|z| >= min_z``.

    A cue absent from ``cues`` or ``stats`` is unsupported. ``typical`` is the reference (p10, p90).
    Units come from ``units`` or, lazily, from :data:`eai_llm.skeleton.cues.CUES`.
    """
    specs = _cue_specs() if units is None else {}
    checks = []
    for claim in claims:
        cue, direction = (claim.cue, claim.direction) if isinstance(claim, Claim) else claim
        phrase = cue_phrase(cue, direction)
        z = zscore(cue, cues, stats)
        value = float(cues[cue]) if z is not None else None
        ref = stats.get(cue, {})
        typical = (float(ref["p10"]), float(ref["p90"])) if "p10" in ref and "p90" in ref else None
        supported = z is not None and abs(z) >= min_z and (z > 0) == (direction == "high")
        checks.append(ClaimCheck(cue, direction, phrase, value, _unit_of(cue, units, specs), z, typical, supported))
    return checks


def faithfulness(text: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], *,
                 min_z: float = 0.5) -> float | None:
    """Share of the text's cue claims that the clip's measurements support; None when it makes no claim."""
    checks = verify_claims(extract_claims(text), cues, stats, min_z=min_z, units={})
    if not checks:
        return None
    return sum(c.supported for c in checks) / len(checks)


def label_consistency(text: str, predicted_label: str, label_set: Sequence[str]) -> bool:
    """True when the answer parses and the label it names equals ``predicted_label`` (case-insensitive)."""
    parsed = parse_answer(text, label_set, need_explanation=False)
    return bool(parsed.ok and parsed.label is not None and parsed.label.lower() == predicted_label.lower())


def annotate(explanation: str, cues: Mapping[str, float], units: Mapping[str, str] | None = None) -> str:
    """Insert the measured value after each vocabulary phrase: ``"slow pace (0.62 m/s), head bowed (31.0°)"``.

    Phrases whose cue is absent (or already followed by a parenthesis) are left as they are. Units come
    from ``units`` or, lazily, from :data:`eai_llm.skeleton.cues.CUES` (no unit when that is missing).
    """
    specs = _cue_specs()

    def repl(m: re.Match[str]) -> str:
        cue, _ = phrase_to_claim[_phrase_of(m)]
        value = cues.get(cue)
        if value is None or not math.isfinite(float(value)) or re.match(r"\s*\(", explanation[m.end():]):
            return m.group(0)
        return f"{m.group(0)} ({_format_value(cue, float(value), _unit_of(cue, units, specs), specs)})"

    return _PHRASE_RE.sub(repl, explanation)
