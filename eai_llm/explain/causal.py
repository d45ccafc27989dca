"""Which cues did the reading actually rest on? A cheap counterfactual check before an explanation is decoded.

An explanation can cite cues that are true of the clip and still not be why the model decided (issue 12, "the
real reason"). Before decoding, every editable cue (:data:`eai_llm.skeleton.edits.EDITABLE_CUES`) whose
precondition holds on the clip is neutralised in the motion itself (moved to its typical value, as
:func:`eai_llm.counterfactual.what_if` does), and every window of each edited clip is read again by the model's
classification head (the skeleton tokenizer's, or the ensemble's; one batched tokenizer pass, no LLM pass). The
drop of the clip's p(label) (the windows' mean, as the clip's reading is) is the cue's **effect**.

An editable cue may then be cited only when its effect is positive and larger than the mean effect of all the
editable cues measured on the clip, i.e. when it matters more than a cue drawn at random (:func:`keep_support`);
the strongest are kept when fewer than two would remain, and cues that cannot be edited are cited as before. The
evaluation's comprehensiveness (whole clip, the shipped probabilities, the cited cues neutralised together against
as many uncited ones) is the check of the same idea with the LLM's reading in it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["cue_effects", "keep_support", "REFERENCE"]

#: The key of :func:`cue_effects`'s per-label mapping that holds the mean effect of all measured cues.
REFERENCE = "__mean__"


def cue_effects(interp, clip, cues: Sequence[str], labels: Sequence[str], task: str = "emotion",
                wb=None) -> dict[str, dict[str, float]] | None:
    """``{label: {cue: drop of the clip's p(label)}}`` when each of ``cues`` is neutralised (the head's mean
    probability over all windows, before and after), plus :data:`REFERENCE`: the mean drop over the cues measured.
    Cues that are not editable, or that the clip cannot take the edit for, are left out; ``wb``: the clip's windows
    when already cut. None when the model has no classification head for ``labels``."""
    import torch

    from ..counterfactual import neutral_targets
    from ..model.modeling import SkeletonInput
    from ..skeleton.edits import EDITABLE_CUES, edit_cues
    from ..skeleton.errors import ClipValueError

    cues = [c for c in dict.fromkeys(cues) if c in EDITABLE_CUES and c in interp.cue_stats]
    if not cues:
        return {}
    targets = neutral_targets(cues, interp.cue_stats)
    wb = interp._windows(clip) if wb is None else wb
    rows, done = [interp._skel(wb, clip.layout.name)], []
    for c in cues:
        try:
            edited = edit_cues(clip, {c: targets[c]}).clip
        except ClipValueError:            # a joint the clip lacks, no motion to scale
            continue
        rows.append(interp._skel(interp._windows(edited), edited.layout.name))
        done.append(c)
    batch = SkeletonInput(*(torch.cat([getattr(r, f) for r in rows]) for f in
                            ("positions", "frame_mask", "joint_mask", "layout_ids")))
    lp = interp.model.head_logprobs(batch, list(labels), task)
    if lp is None:
        return None
    p = lp.exp().cpu().numpy()
    bounds = np.cumsum([0, *(len(r) for r in rows)])
    clips = np.stack([p[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])    # (1 + cues, labels)
    drop = clips[0][None] - clips[1:]
    out = {l: {c: float(drop[i, j]) for i, c in enumerate(done)} for j, l in enumerate(labels)}
    for j, l in enumerate(labels):
        if done:
            out[l][REFERENCE] = float(drop[:, j].mean())
    return out


def keep_support(support: Sequence, effects: Mapping[str, float] | None, need: int = 2) -> list:
    """The support claims (each with ``.cue``) an explanation may cite: every claim whose cue has no measured
    effect, and the editable ones whose neutralising lowers p(label) more than the mean of the measured cues
    (``effects[REFERENCE]``, when given) and more than 0, strongest effect first; when fewer than ``need`` claims
    would remain, the editable ones with the largest effects fill up to ``need``."""
    if not effects:
        return list(support)
    bar = max(0.0, effects.get(REFERENCE, 0.0))
    free = [c for c in support if c.cue not in effects]
    tested = sorted((c for c in support if c.cue in effects), key=lambda c: -effects[c.cue])
    keep = [c for c in tested if effects[c.cue] > bar]
    short = max(0, min(need, len(support)) - len(free) - len(keep))
    keep += [c for c in tested if c not in keep][:short]
    return [*keep, *free]
