"""Where in the clip: which body parts, when, drove the reading (occlusion over the spatio-temporal tokens' cells).

The skeleton tokenizer's spatio-temporal tokens are one per (body part, time segment) of a window. For the
window the explanation is written for, each cell is occluded in the input: that body part's own motion during that
segment is frozen (its pose relative to the pelvis held at the segment's first frame, still carried along by the
body), and all occluded copies are scored in one batch with the shipped label scoring. A cell's attribution is how
much log p(label) drops without it (log, so that a confident reading still shows what it rests on). :func:`body_part_attribution` returns the matrix and the top cells with their
times in the clip, which the demo highlights on the skeleton animation and the JSON carries.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["body_part_attribution"]


def body_part_attribution(interp, skel, *, label: str, labels: Sequence[str], task: str = "emotion",
                          window_start_s: float = 0.0, top: int = 3) -> dict:
    """Occlusion attribution of one window (``skel``: a one-window SkeletonInput) for ``label``.

    Returns ``{"label", "window": [start_s, end_s], "parts": [...], "segments": [[start_s, end_s], ...],
    "drops": [[per segment] per part], "top": [{"part", "joints", "start_s", "end_s", "drop"}, ...]}``."""
    import torch

    from .texts import classify_question
    from ..model.modeling import SkeletonInput
    from ..skeleton.layouts import UNIFIED

    cfg = interp.model.skeleton_tokenizer.config
    fps = float(interp.config.data.fps)
    parts = list(cfg.body_parts)
    seg, n_seg = cfg.segment, cfg.num_segments
    pos = skel.positions[:1]                                        # (1, T, 23, 3)
    pelvis = pos[:, :, UNIFIED.index["pelvis"]]
    copies = [pos]
    for part in parts:
        joints = [UNIFIED.index[j] for j in cfg.body_parts[part]]
        for s in range(n_seg):
            a, b = s * seg, (s + 1) * seg
            p = pos.clone()
            rel = pos[:, a, joints] - pelvis[:, a, None]             # the part's pose at the segment's start
            p[:, a:b, joints] = rel[:, None] + pelvis[:, a:b, None]
            copies.append(p)
    n = len(copies)
    batch = SkeletonInput(torch.cat(copies), skel.frame_mask[:1].expand(n, -1), skel.joint_mask[:1].expand(n, -1),
                          skel.layout_ids[:1].expand(n))
    k = list(labels).index(label)
    with torch.no_grad():
        probs = interp._label_scores(batch, classify_question(labels, task), list(labels), task)[0]
    logp = np.log(np.clip(probs[:, k].float().cpu().numpy(), 1e-12, None))
    drops = (logp[0] - logp[1:]).reshape(len(parts), n_seg)     # log p(label) lost without the cell
    valid = skel.frame_mask[0].cpu().numpy().astype(bool)
    frames = int(valid.sum())
    segments = [[window_start_s + s * seg / fps, window_start_s + min((s + 1) * seg, frames) / fps]
                for s in range(n_seg)]
    order = np.argsort(-drops, axis=None)[:top]
    best = [{"part": parts[i // n_seg], "joints": list(cfg.body_parts[parts[i // n_seg]]),
             "start_s": segments[i % n_seg][0], "end_s": segments[i % n_seg][1],
             "drop": float(drops.flat[i])} for i in order if drops.flat[i] > 0 and (i % n_seg) * seg < frames]
    return {"label": label, "window": [window_start_s, window_start_s + frames / fps], "parts": parts,
            "segments": segments, "drops": drops.round(5).tolist(), "top": best}
