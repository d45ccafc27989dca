"""Contrastive explanations: when the two most probable labels are close, why this one and not the other.

"rather than fatigue: fast hands (1.21 m/s)" -- the measured, supported, applicable cues that separate the two
labels' correlates: first those that agree with the chosen label and run against the other, then those that run
against the other alone, then those that agree with the chosen label and are neutral for the other; strongest
first within each. Labels without correlates (dataset-2's styles) get no contrast.
"""

from __future__ import annotations

from typing import Mapping

from .evidence import SUPPORT_Z, _strongest, applicable, zscores
from .values import annotate
from .vocabulary import CUE_PHRASES, agreement, correlate_table, join_phrases, label_phrase

__all__ = ["CONTRAST_MARGIN", "contrast_text", "runner_up"]

#: The top two labels are "close" when their probabilities differ by less than this.
CONTRAST_MARGIN = 0.2


def runner_up(probabilities: Mapping[str, float], margin: float = CONTRAST_MARGIN) -> str | None:
    """The second most probable label when it is within ``margin`` of the first, else None."""
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    if len(ranked) < 2 or ranked[0][1] - ranked[1][1] >= margin:
        return None
    return ranked[1][0]


def contrast_text(label: str, other: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], *,
                  task: str = "emotion", k: int = 2, min_z: float = SUPPORT_Z, values: bool = True) -> str | None:
    """``"rather than <other's phrase>: <cues>"``, or None when no measured cue separates the two labels."""
    table = correlate_table(task)
    if label not in table or other not in table or label == other:
        return None
    ranked = []
    for cue, z in _strongest(zscores(cues, stats), min_z):
        if not applicable(cue, cues):
            continue
        d = "high" if z > 0 else "low"
        mine, theirs = agreement(label, cue, d, task), agreement(other, cue, d, task)
        rank = 0 if (mine, theirs) == ("agrees", "contrary") else 1 if theirs == "contrary" and mine != "contrary" \
            else 2 if (mine, theirs) == ("agrees", "neutral") else None
        if rank is not None:
            ranked.append((rank, cue, d))
    if not ranked:
        return None
    picked = [CUE_PHRASES[c][d] for _, c, d in sorted(ranked, key=lambda r: r[0])[:k]]
    text = f"rather than {label_phrase(other, task)}: {join_phrases(picked)}"
    return annotate(text, cues, stats) if values else text
