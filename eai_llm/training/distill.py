"""Self-distillation of the skeleton tokenizer (Deng et al. 2021, "Towards better uncertainty: iterative training
of efficient networks for multitask emotion recognition"): a deep ensemble of teachers captures the uncertainty,
and one student of the shipped size learns their mean probabilities, so it carries the ensemble's uncertainty at
single-model cost.

With ``stage1.distill_members = K`` (>= 2), stage 1 first trains (or resumes) K teachers: the same recipe without
distillation and with the seeds ``seed, seed + 1, ...`` (so each has its own head initialisation, window order,
augmentation and crops), each in ``<out>/teachers/<i>``. Their head probabilities on every stage-1 training window
(eval mode, so with test-time mirroring when the recipe uses it), averaged over the teachers, are the student's
soft labels (:func:`.stage1.train_stage1`'s ``soft_targets``). One generation; the teachers are also the deep
ensemble that `eai-llm evaluate --systems tokenizer-linear-ensemble` scores.

The LLM's label can learn the same way (``stage2.distill_weight = w > 0``): before stage 2, the model's
classification head (its tokenizer and ``head_members``, the ensemble when it has one) reads every stage-2 window
(:func:`label_teacher_probabilities`), and each classification answer of a task the head knows adds ``w`` times the
cross-entropy between those probabilities and the LLM's label distribution at the answer's first token, the same
distribution that label scoring reads (:func:`label_distill_loss`). The answer's own token loss stays as it is.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .data import WindowArrays
from .recipe import TrainRecipe

__all__ = ["teacher_recipe", "teacher_dir", "train_teachers", "ensemble_window_probabilities",
           "teacher_probabilities", "label_teacher_probabilities", "label_first_tokens", "label_distill_loss"]


def teacher_recipe(recipe: TrainRecipe, i: int) -> TrainRecipe:
    """Teacher ``i`` of ``recipe``: the same recipe without distillation or ensemble head, seed ``recipe.seed + i``."""
    return replace(recipe, seed=recipe.seed + i, stage1=replace(recipe.stage1, distill_members=0, head_members=0))


def teacher_dir(out: Path, i: int) -> Path:
    return Path(out) / "teachers" / str(i)


def train_teachers(recipe: TrainRecipe, out: Path, accelerator, sources: list[WindowArrays], stats: dict, *,
                   members: int, resume: bool, progress: bool = True, first: int = 0) -> list:
    """Teachers ``first .. members - 1`` of ``recipe`` (trained, or read back when ``resume`` finds them)."""
    from .stage1 import stage1_tokenizer

    teachers = []
    for i in range(first, members):
        accelerator.print(f"stage 1: teacher {i + 1} of {members} (seed {recipe.seed + i})")
        tok, _ = stage1_tokenizer(teacher_recipe(recipe, i), teacher_dir(out, i), accelerator, resume=resume,
                                  sources=sources, stats=stats, progress=progress)
        teachers.append(tok)
    return teachers


@torch.no_grad()
def ensemble_window_probabilities(tokenizers: Sequence, sources: Sequence[WindowArrays], batch: int = 256,
                                  device: str | torch.device = "cpu") -> np.ndarray:
    """Mean head probabilities of ``tokenizers`` (all with the same labels) on the windows of ``sources``,
    concatenated in order: (windows, labels), float32."""
    labels = list(tokenizers[0].config.labels)
    if any(list(t.config.labels) != labels for t in tokenizers):
        raise ValueError("ensemble members disagree on their labels; they must come from one recipe")
    rows = []
    for src in sources:
        n = len(src.positions)
        acc = np.zeros((n, len(labels)), np.float64)
        for tok in tokenizers:
            tok.eval()
            lids = tok.layout_ids(list(src.layouts))
            for b in range(0, n, batch):
                s = slice(b, b + batch)
                out = tok(torch.as_tensor(src.positions[s], device=device), torch.as_tensor(src.frame_mask[s], device=device),
                          torch.as_tensor(src.joint_mask[s], device=device), lids[s].to(device), with_heads=True)
                acc[s] += torch.softmax(out.logits.float(), -1).cpu().numpy()
        rows.append(acc / len(tokenizers))
    return np.concatenate(rows).astype(np.float32)


def teacher_probabilities(recipe: TrainRecipe, out: Path, accelerator, sources: list[WindowArrays], stats: dict, *,
                          resume: bool, progress: bool = True) -> np.ndarray:
    """The soft labels of ``recipe``'s student: its teachers' mean probabilities on the stage-1 windows."""
    from .stage1 import stage1_sources

    teachers = train_teachers(recipe, out, accelerator, sources, stats, members=recipe.stage1.distill_members,
                              resume=resume, progress=progress)
    return ensemble_window_probabilities(teachers, stage1_sources(recipe, sources), device=accelerator.device)


@torch.no_grad()
def label_teacher_probabilities(tokenizers: Sequence, sources: Sequence[WindowArrays], batch: int = 256,
                                device: str | torch.device = "cpu") -> list[np.ndarray | None]:
    """Per source: the mean head probability of ``tokenizers`` over the source's own labels on each of its windows
    ((windows, labels), float32), or None when a head lacks one of them (e.g. a task stage 1 did not train)."""
    from ..model.heads import head_member_logprobs, pool_members
    from ..model.modeling import SkeletonInput
    from .data import class_name

    modes = [t.training for t in tokenizers]
    for t in tokenizers:
        t.eval()
    out = []
    for src in sources:
        names = [class_name(src.task, l) for l in src.label_set]
        lids = tokenizers[0].layout_ids(list(src.layouts)).numpy()
        rows = []
        for b in range(0, len(src), batch):
            s = slice(b, b + batch)
            skel = SkeletonInput.from_numpy(src.positions[s], src.frame_mask[s], src.joint_mask[s], lids[s]).to(device)
            lp = head_member_logprobs(tokenizers, skel, names)
            if lp is None:          # the heads do not know this task: no soft labels for it
                rows = None
                break
            rows.append(pool_members(lp).exp().float().cpu().numpy())
        out.append(np.concatenate(rows).astype(np.float32) if rows else None)
    for t, m in zip(tokenizers, modes):
        t.train(m)
    return out


def label_first_tokens(processor, labels: Sequence[str]) -> list[int] | None:
    """The first answer token of each label (what label scoring reads), or None when two labels share one."""
    firsts = [c[0] for c in processor.label_candidates(labels)]
    return firsts if len(set(firsts)) == len(firsts) else None


def label_distill_loss(logits: torch.Tensor, labels: torch.Tensor, rows: Sequence[int],
                       firsts: Sequence[Sequence[int]], targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy between ``targets`` ((len(rows), L) probabilities) and the LLM's label distribution at
    the first answer token of batch rows ``rows``. ``logits``: the supervised positions' rows in order, as
    ``EaiLlmModel.forward`` returns them with ``labels`` (ignore index -100, shifted by one); ``firsts``: each
    row's label first tokens."""
    keep = (labels[:, 1:] != -100).sum(1)
    start = keep.cumsum(0) - keep                     # where each batch row's supervised positions begin
    first = logits[start[list(rows)]]                 # (R, V): the position that predicts the answer's first token
    index = torch.as_tensor(np.asarray(firsts), device=first.device)
    lp = torch.log_softmax(first.float().gather(1, index), dim=-1)
    return -(targets.to(lp) * lp).sum(-1).mean()
