"""How much the shipped reading trusts the tokenizer head against the LLM: the fusion weight, chosen on held-out
predictions only.

The shipped probabilities pool the LLM's label reading with the tokenizer head log-linearly,
``(1 - w) log p_llm + w log p_head`` (:meth:`eai_llm.model.modeling.EaiLlmModel.label_probabilities`). For a
leave-one-content-type-out fold, :func:`choose_fusion_weight` picks ``w`` on the *other* folds' held-out clips (the
saved ``llm-unfused`` and head fold results), pooled per clip, by the negative log-likelihood after the temperature
that pool asks for: the test fold's clips never choose their own weight. For the bundled model, every fold's
held-out clips choose it (:func:`heldout_fusion_weight`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .metrics import EMOTION7

__all__ = ["WEIGHT_GRID", "fuse", "choose_fusion_weight", "fold_fusion_weights", "heldout_fusion_weight"]

WEIGHT_GRID = tuple(round(float(w), 2) for w in np.linspace(0.0, 1.0, 21))


def fuse(llm: np.ndarray, head: np.ndarray, w: float) -> np.ndarray:
    """(n, L) clip probabilities pooled log-linearly at weight ``w`` of the head, renormalised."""
    lp = (1 - w) * np.log(np.clip(llm, 1e-12, None)) + w * np.log(np.clip(head, 1e-12, None))
    p = np.exp(lp - lp.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def _calibrated_nll(probs: np.ndarray, y: np.ndarray) -> float:
    from .results import _calibrated, _fit_t

    p = _calibrated(probs, _fit_t(probs, y))
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def choose_fusion_weight(llm: Sequence, head: Sequence, grid: Sequence[float] = WEIGHT_GRID) -> float:
    """The weight in ``grid`` with the lowest calibrated NLL of the pooled clips of the fold results ``llm`` and
    ``head`` (the same clips in the same order; ties go to the smaller weight)."""
    if not llm or len(llm) != len(head):
        raise ValueError("choose_fusion_weight needs the same folds of the LLM's and the head's results")
    for a, b in zip(llm, head):
        if a.clip_ids != b.clip_ids:
            raise ValueError(f"fold {a.groups[:1]}: the LLM's and the head's results hold different clips")
    pl = np.concatenate([np.asarray(r.probs) for r in llm])
    ph = np.concatenate([np.asarray(r.probs) for r in head])
    y = np.array([EMOTION7.index(l) for r in llm for l in r.labels])
    scores = [_calibrated_nll(fuse(pl, ph, w), y) for w in grid]
    return float(grid[int(np.argmin(scores))])


def fold_fusion_weights(llm: Sequence, head: Sequence, grid: Sequence[float] = WEIGHT_GRID) -> list[float]:
    """Each fold's weight, chosen on all the *other* folds (one fold alone: on itself)."""
    if len(llm) < 2:
        return [choose_fusion_weight(llm, head, grid)] * len(llm)
    idx = range(len(llm))
    return [choose_fusion_weight([llm[j] for j in idx if j != i], [head[j] for j in idx if j != i], grid)
            for i in idx]


def heldout_fusion_weight(out: str | Path, llm_system: str = "llm-unfused",
                          head_system: str = "tokenizer-linear-ensemble") -> float:
    """The weight for a model trained on all data: chosen on every fold's held-out clips of a loco run."""
    from .results import FoldResult

    folders = [Path(out) / "folds" / s for s in (llm_system, head_system)]
    groups = sorted({p.stem for p in folders[0].glob("*.json")} & {p.stem for p in folders[1].glob("*.json")})
    if not groups:
        raise FileNotFoundError(f"{folders[0]} and {folders[1]}: no fold results in common")
    load = lambda f: [FoldResult.load(f / f"{g}.json") for g in groups]
    return choose_fusion_weight(load(folders[0]), load(folders[1]))
