"""Reading answers back: the answer format, the claims a text makes, and the explanation as segments.

- :func:`parse_answer` strictly reads ``"Emotion: <label>. Explanation: <text>."`` (or ``"Style: ..."``);
- :func:`extract_claims` finds the vocabulary phrases a free text uses (each a ``(cue, direction)`` claim);
- :func:`parse_explanation` reads an explanation as the grammar of :mod:`~eai_llm.explain.grammar` wrote it:
  a list of :class:`Segment` (cue phrase, with its measured value when annotated; connective; label phrase;
  the fixed words). Anything the grammar does not produce -- a half phrase, a paraphrase, a glued fragment --
  is a leftover, and the parse is not ``ok``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from .grammar import DONE, GRAMMAR, START
from .vocabulary import READ_AS, TASK_PREFIX, TYPICAL, correlate_table, label_phrase, phrase_to_claim, task_prefix

__all__ = ["ParsedAnswer", "parse_answer", "extract_claims", "Segment", "ExplanationParse", "parse_explanation"]


# ---- the answer ---------------------------------------------------------------------------------
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
        want = " or ".join(f"'{p}:'" for p in ([task_prefix(task)] if task else TASK_PREFIX.values()))
        return _fail(f"answer must start with {want}, got {text.strip()[:30]!r}")
    if task is not None and head["prefix"].lower() != task_prefix(task).lower():
        return _fail(f"answer must start with '{task_prefix(task)}:', got '{head['prefix']}:'")
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


# ---- the explanation as segments ----------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """One piece of an explanation: ``kind`` is "cue", "label" or "words" (connectives and fixed words);
    a cue has its ``cue``/``direction``, its ``role`` ("support" or "against") and the annotated ``value``
    text when present; a label has the canonical ``label``."""

    kind: str
    text: str
    cue: str | None = None
    direction: str | None = None
    role: str | None = None
    value: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class ExplanationParse:
    """Result of :func:`parse_explanation`: the segments read, and ``error`` naming the leftover when not ``ok``."""

    segments: tuple[Segment, ...]
    ok: bool
    error: str | None = None
    label: str | None = None
    link: str | None = None                      # the state the label led to: "typical_label" or "read_label"
    support: tuple[tuple[str, str], ...] = field(default=())
    against: tuple[tuple[str, str], ...] = field(default=())


_VALUE_RE = re.compile(r" \((?P<value>[^()]*)\)")


def _cue_at(text: str, pos: int) -> tuple[re.Match[str] | None, str | None]:
    m = _CUE_AT_RE.match(text, pos)
    return (m, _phrase_of(m)) if m else (None, None)


_CUE_AT_RE = re.compile(_PHRASE_RE.pattern.replace("(?<![\\w-])", ""), re.IGNORECASE)


def parse_explanation(text: str, label_set: Sequence[str], task: str = "emotion") -> ExplanationParse:
    """Read ``text`` (an explanation, annotated with values or not) as segments of the explanation grammar.

    Case- and whitespace-insensitive; cue phrases may be plural and followed by their value in parentheses;
    the label phrase must be one of ``label_set``'s (:func:`~eai_llm.explain.vocabulary.label_phrase`).
    """
    s = " ".join(str(text).split())
    low = s.lower()
    labels = sorted(((label_phrase(l, task).lower(), l) for l in label_set), key=lambda p: -len(p[0]))
    segments: list[Segment] = []
    state, pos = START, 0
    found: dict[str, object] = {"support": [], "against": []}
    while state != DONE:
        for step in GRAMMAR[state]:
            lit = step.literal.lower()
            if not low.startswith(lit, pos):
                continue
            at = pos + len(lit)
            if step.item == "cue":
                m, phrase = _cue_at(s, at)
                if m is None:
                    continue
                end, value = m.end(), None
                v = _VALUE_RE.match(s, end)
                if v:
                    end, value = v.end(), v["value"]
                cue, direction = phrase_to_claim[phrase]
                item = Segment("cue", s[at:end], cue, direction, step.to, value)
                found[step.to].append((cue, direction))
            elif step.item == "label":
                hit = next(((p, l) for p, l in labels if low.startswith(p, at)), None)
                if hit is None:
                    continue
                end = at + len(hit[0])
                item = Segment("label", s[at:end], label=hit[1])
                found["label"], found["link"] = hit[1], step.to
            else:
                end, item = at, None
            if lit:
                segments.append(Segment("words", s[pos:at]))
            if item is not None:
                segments.append(item)
            state, pos = step.to, end
            break
        else:
            left = s[pos:pos + 30]
            return ExplanationParse(tuple(segments), False, f"leftover {left!r} where the grammar expects "
                                    f"{_expected(state)}" if left else f"ends early: expected {_expected(state)}")
    if pos != len(s):
        return ExplanationParse(tuple(segments), False, f"leftover {s[pos:pos + 30]!r} after the final '.'")
    label, link = found.get("label"), found.get("link")
    if (link == "typical_label") != (label in correlate_table(task)):
        words = f"'{TYPICAL}'" if link == "typical_label" else f"'{READ_AS}'"
        return ExplanationParse(tuple(segments), False, f"{words} does not go with {label!r} (the labels with "
                                f"correlates are '{TYPICAL}', the others '{READ_AS}')")
    return ExplanationParse(tuple(segments), True, None, label, link, tuple(found["support"]),
                            tuple(found["against"]))


def _expected(state: str) -> str:
    parts = [(f"{st.literal!r} + " if st.literal else "") + (st.item or "end") for st in GRAMMAR[state]]
    return " or ".join(p.replace(" + end", "") for p in parts)
