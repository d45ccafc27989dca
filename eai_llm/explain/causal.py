"""Which cues did the reading actually rest on? A cheap counterfactual check before an explanation is decoded.

An explanation can cite cues that are true of the clip and still not be why the model decided (issue 12, "the
real reason"). Before decoding, each editable cue (:data:`eai_llm.skeleton.edits.EDITABLE_CUES`) that some
label's explanation could cite is neutralised in the motion itself (moved to its typical value, as
:func:`eai_llm.counterfactual.what_if` does), and the explained window of the edited clip is read again by the
model's classification head (the skeleton tokenizer's, or the ensemble's: one batched tokenizer pass, no LLM
pass). Its drop of p(label) is the cue's **effect**. The decoder then may cite an editable cue only when
neutralising it lowers p(label) (:func:`keep_support`), keeping the strongest ones when too few do; cues that
cannot be edited are cited as before. The evaluation's comprehensiveness (whole clip, the shipped probabilities)
is the independent check of the same idea.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["cue_effects", "keep_support"]


def cue_effects(interp, clip, wb, window: int, cues: Sequence[str], labels: Sequence[str],
                task: str = "emotion") -> dict[str, dict[str, float]] | None:
    """``{label: {cue: drop of p(label)}}`` on window ``window`` of ``wb`` (the clip's windows) when each of
    ``cues`` is neutralised; cues the clip cannot take the edit for are left out. None when the model has no
    classification head for ``labels``."""
    from ..counterfactual import neutral_targets
    from ..skeleton.edits import EDITABLE_CUES, edit_cues
    from ..skeleton.errors import ClipValueError

    cues = [c for c in dict.fromkeys(cues) if c in EDITABLE_CUES and c in interp.cue_stats]
    if not cues:
        return {}
    targets = neutral_targets(cues, interp.cue_stats)
    rows, done = [interp._skel(wb, clip.layout.name).select(slice(window, window + 1))], []
    for c in cues:
        try:
            edited = edit_cues(clip, {c: targets[c]}).clip
        except ClipValueError:            # a joint the clip lacks, no motion to scale
            continue
        ewb = interp._windows(edited)
        k = min(window, len(ewb) - 1)
        rows.append(interp._skel(ewb, edited.layout.name).select(slice(k, k + 1)))
        done.append(c)
    import torch

    from ..model.modeling import SkeletonInput

    batch = SkeletonInput(*(torch.cat([getattr(r, f) for r in rows]) for f in
                            ("positions", "frame_mask", "joint_mask", "layout_ids")))
    lp = interp.model.head_logprobs(batch, list(labels), task) if hasattr(interp.model, "head_logprobs") else None
    if lp is None:
        return None
    p = lp.exp().cpu().numpy()
    drop = p[0][None] - p[1:]                       # (cues, labels)
    return {l: {c: float(drop[i, j]) for i, c in enumerate(done)} for j, l in enumerate(labels)}


def keep_support(support: Sequence, effects: Mapping[str, float] | None, need: int = 2) -> list:
    """The support claims (each with ``.cue``) an explanation may cite: every claim whose cue has no measured
    effect, and the editable ones whose neutralising lowers p(label), strongest effect first; when fewer than
    ``need`` claims would remain, the editable ones with the largest effects fill up to ``need``."""
    if not effects:
        return list(support)
    free = [c for c in support if c.cue not in effects]
    tested = sorted((c for c in support if c.cue in effects), key=lambda c: -effects[c.cue])
    keep = [c for c in tested if effects[c.cue] > 0]
    short = max(0, min(need, len(support)) - len(free) - len(keep))
    keep += [c for c in tested if c not in keep][:short]
    return [*keep, *free]
