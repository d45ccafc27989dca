"""Training texts: movement descriptions, the canonical explanation, the answer format and the questions.

:func:`explanation_text` writes the one grammar that :func:`~eai_llm.explain.parsing.parse_explanation` reads and
:mod:`~eai_llm.explain.constrained` decodes in::

    <cue>[, <cue>]* [and <cue>], typical of <label phrase>[, despite <cue> [and <cue>]].
    no measured cue is typical of <label phrase>[, despite ...].          (nothing supported agrees)
    <cue>... , read as <label phrase>.                                      (a label without correlates)
    no measured cue stands out, read as <label phrase>.

No numbers: measured values are attached afterwards by :func:`~eai_llm.explain.values.annotate`.
"""

from __future__ import annotations

import random
from typing import Mapping, Sequence

from .evidence import SUPPORT_Z, Claim, Selection, _strongest, applicable, select_claims, zscores
from .vocabulary import (ARTICLE, CUE_PHRASES, DESPITE, EXPLANATION_PREFIX, NO_DEVIATION, NO_TYPICAL, READ_AS,
                         TYPICAL, correlate_table, join_phrases, label_phrase, task_prefix)

__all__ = ["describe_movement", "explanation_text", "answer_text", "classify_question", "explain_question",
           "describe_question", "build_instructions", "NO_DEVIATION_DESCRIPTION"]


def _with_article(phrase: str) -> str:
    article = ARTICLE.get(phrase)
    if article == "a" and phrase[0] in "aeiou":
        article = "an"
    return f"{article} {phrase}" if article else phrase


_DESCRIBE_TEMPLATES = (
    "The person moves with {all}.",
    "This person moves with {all}.",
    "Observed: {all}.",
    "The person moves with {first}; also {rest}.",
)
NO_DEVIATION_DESCRIPTION = "The movement stays close to the reference on every measured cue."


def describe_movement(cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], rng: random.Random,
                      *, min_items: int = 3, max_items: int = 5, min_z: float = SUPPORT_Z) -> str:
    """A short movement description listing the clip's strongest applicable deviations by their phrases.

    Lists ``min_items``..``max_items`` (drawn from ``rng``) cues with ``|z| >= min_z``, strongest first, in one
    of a few sentence templates; gait cues only when the clip moves about (:func:`~eai_llm.explain.evidence.
    applicable`). Only vocabulary phrases carry cue claims. Same ``rng`` state -> same text.
    """
    n = rng.randint(min_items, max_items)
    template = rng.choice(_DESCRIBE_TEMPLATES)
    picked = [(c, v) for c, v in _strongest(zscores(cues, stats), min_z) if applicable(c, cues)][:n]
    if not picked:
        return NO_DEVIATION_DESCRIPTION
    phrases = [CUE_PHRASES[c]["high" if v > 0 else "low"] for c, v in picked]
    if phrases[0] in ("slow pace", "brisk pace") and rng.random() < 0.5:
        rest = phrases[1:]
        tail = f", with {join_phrases([_with_article(p) for p in rest])}." if rest else "."
        return f"The person moves at a {phrases[0]}{tail}"
    items = [_with_article(p) for p in phrases]
    if "{rest}" in template and len(items) < 2:
        template = _DESCRIBE_TEMPLATES[0]
    return template.format(all=join_phrases(items), first=items[0], rest=join_phrases(items[1:]))


def explanation_text(label: str, claims: Sequence[Claim] | Selection, *, task: str = "emotion",
                     against: Sequence[Claim] = (), typical: bool | None = None) -> str:
    """The canonical short explanation, e.g. ``"slow pace and head bowed, typical of sadness, despite fast hands."``

    ``claims`` is a :class:`~eai_llm.explain.evidence.Selection` (from :func:`select_claims`) or the supporting
    claims themselves (then ``against`` and ``typical`` say the rest; ``typical`` defaults to "the label has
    emotion correlates"). No numbers.
    """
    if isinstance(claims, Selection):
        claims, against, typical = claims.support, claims.against, claims.typical
    if typical is None:
        typical = label in correlate_table(task)
    tail = label_phrase(label, task)
    if claims:
        head = f"{join_phrases([c.phrase for c in claims])}, {TYPICAL if typical else READ_AS} {tail}"
    else:
        head = f"{NO_TYPICAL} {tail}" if typical else f"{NO_DEVIATION} {tail}"
    if against and typical:
        head += f", {DESPITE} {join_phrases([c.phrase for c in against])}"
    return head + "."


def answer_text(label: str, explanation: str | None = None, *, task: str = "emotion") -> str:
    """The fixed answer format: ``"Emotion: sad. Explanation: <explanation>"`` (label only when None)."""
    head = f"{task_prefix(task)}: {label}."
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
    task_prefix(task)
    return _pick(_CLASSIFY_Q[task], rng) + _options(label_set)


def explain_question(label_set: Sequence[str], task: str = "emotion", rng: random.Random | None = None) -> str:
    """The classify-and-explain prompt, listing the label set (the first template when ``rng`` is None)."""
    task_prefix(task)
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
    explanation = explanation_text(label, select_claims(label, cues, stats, correlates=correlates, task=task),
                                   task=task)
    return [
        {"kind": "classify", "question": classify_question(label_set, task, rng),
         "answer": answer_text(label, task=task)},
        {"kind": "describe", "question": describe_question(rng), "answer": describe_movement(cues, stats, rng)},
        {"kind": "explain", "question": explain_question(label_set, task, rng),
         "answer": answer_text(label, explanation, task=task)},
    ]
