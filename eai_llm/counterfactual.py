"""What would change the reading: re-interpret a clip after editing the motion itself.

:func:`what_if` moves the named cues to their typical value (the mean of the model's reference statistics) by
editing the motion (:mod:`eai_llm.skeleton.edits`), re-measures them, and classifies the edited clip with the same
model. :func:`comprehensiveness` is ERASER's comprehensiveness for one clip: the drop of p(label) when the cues an
explanation cites are neutralised, beside the drop when the same number of cues it does not cite are. An
explanation is causally faithful when its own cues matter more.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Sequence

__all__ = ["WhatIf", "what_if", "neutral_targets", "comprehensiveness"]


@dataclass
class WhatIf:
    """The reading of a clip before and after an edit of its motion."""

    label: str                              # the original reading
    probability: float                      # p(label) before
    edited_probability: float               # p(label) after
    edited_label: str                       # the reading of the edited clip
    probabilities: dict[str, float]         # after
    edits: list[dict] = field(default_factory=list)   # per cue: before, target, after, reached

    @property
    def drop(self) -> float:
        """How much p(label) fell (negative: it rose)."""
        return self.probability - self.edited_probability

    def to_dict(self) -> dict:
        return dict(asdict(self), drop=self.drop)


def neutral_targets(cues: Sequence[str], stats: dict) -> dict[str, float]:
    """The typical value (reference mean) of each cue: what "neutralised" means."""
    missing = [c for c in cues if c not in stats or "mean" not in stats[c]]
    if missing:
        raise ValueError(f"no reference statistics for {missing}")
    return {c: float(stats[c]["mean"]) for c in cues}


def what_if(interp, clip, cues: Sequence[str], *, targets: dict[str, float] | None = None,
            task: str = "emotion", before=None) -> WhatIf:
    """Edit ``clip`` so that ``cues`` take ``targets`` (default: their typical values) and re-classify it.

    ``before``: the clip's :class:`~eai_llm.interpreter.Interpretation` when already known (saves one pass)."""
    from .skeleton.edits import edit_cues

    clip = interp._clip(clip)
    targets = dict(targets) if targets is not None else neutral_targets(cues, interp.cue_stats)
    before = before or interp.interpret(clip, explain=False, task=task)
    edit = edit_cues(clip, targets)
    after = interp.interpret(edit.clip, explain=False, task=task)
    rows = [{"cue": c, "before": edit.before[c], "target": edit.targets[c], "after": edit.after[c],
             "reached": edit.reached(c)} for c in targets]
    return WhatIf(before.label, before.probabilities[before.label], after.probabilities[before.label], after.label,
                  after.probabilities, rows)


def comprehensiveness(interp, clip, cited: Sequence[str], *, task: str = "emotion", before=None,
                      rng: random.Random | None = None) -> tuple[float, float] | None:
    """(drop with the cited editable cues neutralised, drop with as many uncited editable cues neutralised), or
    None when the explanation cites no editable cue or too few others are measured on the clip."""
    from .explain.evidence import applicable
    from .skeleton.edits import EDITABLE_CUES

    clip = interp._clip(clip)
    before = before or interp.interpret(clip, explain=False, task=task)
    mine = [c for c in dict.fromkeys(cited) if c in EDITABLE_CUES and c in before.all_cues]
    others = [c for c in EDITABLE_CUES if c not in mine and c in before.all_cues and c in interp.cue_stats
              and applicable(c, before.all_cues)]
    if not mine or len(others) < len(mine):
        return None
    from .skeleton.errors import ClipValueError

    picked = (rng or random.Random(0)).sample(others, len(mine))
    try:
        return (what_if(interp, clip, mine, task=task, before=before).drop,
                what_if(interp, clip, picked, task=task, before=before).drop)
    except ClipValueError:      # an edit the clip cannot take (a joint it lacks, no motion to scale)
        return None
