"""The skeleton tokenizer's own reading, without the LLM: its encoder + linear head after stage 1, scored per fold.

Kinds (all on the same fold's stage-1 training; `eai-llm evaluate --systems tokenizer-linear...`):

- ``single``: the recipe's tokenizer (``tokenizer-linear`` and its recipe variants, e.g. ``-student``: the
  tokenizer distilled from an ensemble of teachers, training/distill.py);
- ``mcdropout``: the same weights with dropout left on at test time, ``mc_samples`` passes averaged (Gal &
  Ghahramani 2016); BatchNorm stays in eval mode;
- ``ensemble``: the deep ensemble of ``members`` tokenizers (the recipe's own, seed ``s``, and its teachers with
  seeds ``s + 1 ...``, trained in ``<run>/teachers/<i>``: the very teachers a ``-student`` variant learns from).
  The fold file keeps every member's probabilities, so single-seed spread is reported too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .metrics import EMOTION7
from .results import FoldResult, _fit_t

__all__ = ["fold_recipe", "tokenizer_fold", "clip_probabilities", "KINDS", "MC_SAMPLES"]

KINDS = ("single", "mcdropout", "ensemble")
MC_SAMPLES = 20


def fold_recipe(recipe_path: Path, data: Path, group: str, out: Path, overrides: Sequence[str]):
    """The recipe for one fold: its Bandai sources read the evaluated folder, the held-out group is excluded."""
    from ..training.recipe import load_recipe

    out.mkdir(parents=True, exist_ok=True)
    recipe = load_recipe(recipe_path, [*overrides, f"exclude_groups=[{json.dumps(group)}]",
                                       f"output_dir={json.dumps(str(out.resolve()))}"])
    for src in recipe.sources:
        if src.kind == "bandai":
            src.path = str(Path(data).resolve())
    return recipe


def _dropout_on(tok: torch.nn.Module) -> None:
    """Dropout layers (and attention dropout) in training mode, everything else (BatchNorm) left in eval mode."""
    mods = [m for m in tok.modules() if (isinstance(m, torch.nn.Dropout) and m.p > 0)
            or (isinstance(m, torch.nn.MultiheadAttention) and m.dropout > 0)]
    if not mods:
        raise ValueError("MC dropout needs a tokenizer with dropout > 0 (model.tokenizer.dropout / frontend_dropout)")
    for m in mods:
        m.train()


@torch.no_grad()
def clip_probabilities(tokenizers: Sequence, clips: Sequence, *, fps: float, stride: int, labels: Sequence[str],
                       mc_samples: int = 0, seed: int = 0) -> np.ndarray:
    """(members, clips, len(labels)): each tokenizer's head probabilities over ``labels`` (renormalised to them),
    window probabilities averaged per clip; ``mc_samples`` > 0 = that many dropout passes averaged per member."""
    from ..skeleton.unify import prepare_windows

    out = np.zeros((len(tokenizers), len(clips), len(labels)))
    for c, clip in enumerate(clips):
        wb = None
        for m, tok in enumerate(tokenizers):
            if wb is None or wb.positions.shape[1] != tok.config.window:
                wb = prepare_windows(clip, fps=fps, window=tok.config.window, stride=stride)
                args = (torch.as_tensor(wb.positions), torch.as_tensor(wb.frame_mask),
                        torch.as_tensor(np.broadcast_to(wb.joint_mask, (len(wb), wb.joint_mask.shape[0])).copy()))
            idx = [tok.config.labels.index(l) for l in labels]
            lids = tok.layout_ids([clip.layout.name] * len(wb))
            tok.eval()
            if not mc_samples:
                out[m, c] = torch.softmax(tok(*args, lids, with_heads=True).logits[:, idx], -1).mean(0).numpy()
                continue
            _dropout_on(tok)              # the passes as one batch: every row draws its own dropout masks
            torch.manual_seed(seed * 7919 + c)
            rep = [a.repeat(mc_samples, *([1] * (a.dim() - 1))) for a in (*args, lids)]
            logits = tok(*rep, with_heads=True).logits[:, idx]
            out[m, c] = torch.softmax(logits, -1).mean(0).numpy()
            tok.eval()
    return out


def _members(recipe, out: Path, members: int) -> list:
    """The fold's ensemble: the recipe's own tokenizer and its teachers 1 .. members - 1 (trained when missing)."""
    from accelerate import Accelerator

    from ..training.data import cue_stats_of, load_sources
    from ..training.distill import teacher_dir, train_teachers
    from ..training.stage1 import stage1_tokenizer

    acc = Accelerator(cpu=True)
    missing = [i for i in range(members)
               if not ((out if i == 0 else teacher_dir(out, i)) / "checkpoints" / "stage1_tokenizer" /
                       "model.safetensors").is_file()]
    sources = load_sources(recipe, progress=False) if missing else None
    stats = cue_stats_of(sources) if sources else None
    first, _ = stage1_tokenizer(recipe, out, acc, resume=True, sources=sources, stats=stats, progress=False)
    rest = train_teachers(recipe, out, acc, sources, stats, members=members, resume=True, progress=False, first=1)
    return [first, *rest]


def tokenizer_fold(recipe_path: Path, data: Path, records, test_group: str, out: Path, overrides: Sequence[str],
                   test_clip: Callable | None = None, kind: str = "single", members: int = 5,
                   mc_samples: int = MC_SAMPLES) -> FoldResult:
    """Stage 1 only on the fold's training data (resumed when the fold's llm system or an earlier run trained it
    with the same recipe); the head scores the held-out clips (``test_clip(path)`` reads one, e.g. re-expressed in
    a smaller rig; default ``load_clip``). The temperature is fitted on the fold's training clips."""
    from accelerate import Accelerator

    from ..skeleton.io import load_clip
    from ..training.stage1 import stage1_tokenizer

    if kind not in KINDS:
        raise ValueError(f"unknown tokenizer system kind {kind!r}; known: {KINDS}")
    t0 = time.perf_counter()
    recipe = fold_recipe(recipe_path, data, test_group, out, overrides)
    if kind == "ensemble":
        toks = _members(recipe, out, members)
    else:
        toks = [stage1_tokenizer(recipe, out, Accelerator(cpu=True), resume=True, progress=False)[0]]
    mc = mc_samples if kind == "mcdropout" else 0
    fps, stride = recipe.model.data.fps, recipe.model.data.stride
    train_recs = [r for r in records if r.group != test_group]
    test_recs = [r for r in records if r.group == test_group]
    p_train = clip_probabilities(toks, [load_clip(r.path) for r in train_recs], fps=fps, stride=stride,
                                 labels=EMOTION7, mc_samples=mc).mean(0)
    t = _fit_t(p_train, [EMOTION7.index(r.label) for r in train_recs])
    per_member = clip_probabilities(toks, [(test_clip or load_clip)(r.path) for r in test_recs], fps=fps,
                                    stride=stride, labels=EMOTION7, mc_samples=mc, seed=1)
    n = len(test_recs)
    return FoldResult([r.clip_id for r in test_recs], [test_group] * n, [r.label for r in test_recs],
                      per_member.mean(0).tolist(), t, [None] * n, [None] * n, [None] * n, time.perf_counter() - t0,
                      member_probs=per_member.tolist() if kind == "ensemble" else None)
