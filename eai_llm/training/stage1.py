"""Stage 1: skeleton-language alignment of the skeleton tokenizer (contrastive loss against text embeddings of
the label and its cues, plus the auxiliary classification head), optionally as the student of an ensemble of
teachers (:mod:`.distill`). The tokenizer is saved to ``<out>/checkpoints/stage1_tokenizer`` with its speed and
recipe key, and read back from there when resuming."""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..skeleton.layouts import UNIFIED
from ..tokenizer.align import TextEncoder, contrastive_loss
from ..tokenizer.mgst import SkeletonTokenizer
from .augment import augment_batch
from .checkpoint import MANIFEST, CheckpointError, recipe_hash, trim_log, verify_manifest, write_manifest
from .data import (WindowArrays, alignment_text, class_names, cue_stats_of, label_vocabulary, load_sources,
                   mirror_batch, reexpress_batch, write_json)
from .recipe import TrainRecipe
from .runs import STAGE2_ONLY_TOKENIZER_KEYS, check_resumable, log_row, progress_bar, recipe_key

__all__ = ["stage1_sources", "train_stage1", "stage1_tokenizer"]


class _AlignHeads(torch.nn.Module):
    """Stage-1 view of the tokenizer whose forward returns plain tensors (DDP traces its outputs)."""

    def __init__(self, tokenizer: SkeletonTokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    def forward(self, positions, frame_mask, joint_mask, layout_ids):
        tokens = self.tokenizer(positions, frame_mask, joint_mask, layout_ids, with_heads=True)
        return tokens.aligned, tokens.logits


def stage1_sources(recipe: TrainRecipe, sources: list[WindowArrays]) -> list[WindowArrays]:
    """The sources stage 1 trains on: ``stage1.sources`` when the recipe names them, else all (stage 2 uses all)."""
    names = recipe.stage1.sources
    return sources if names is None else [s for s in sources if s.name in names]


def train_stage1(recipe: TrainRecipe, sources: list[WindowArrays], stats: dict, accelerator, out: Path,
                 progress: bool = True, soft_targets: np.ndarray | None = None) -> SkeletonTokenizer:
    """Stage 1 on the windows of ``stage1_sources``. ``soft_targets`` (windows x labels, in that order: the
    teachers' mean probabilities, training/distill.py) make it a student: its classification loss is
    ``distill_weight`` x the cross-entropy with them + the rest x the hard-label loss."""
    s1 = recipe.stage1
    sources = stage1_sources(recipe, sources)
    labels = label_vocabulary(sources)
    rng = random.Random(recipe.seed)
    texts = [alignment_text(lab, cues, stats, rng, src.task) for src in sources for lab, cues in zip(src.labels, src.cues)]
    with accelerator.main_process_first():
        encoder = TextEncoder(s1.text_encoder, cache_file=recipe.resolve(recipe.cache_dir) / "text_embeddings.npz")
        text_emb = torch.as_tensor(encoder.encode(texts))
    pos = np.concatenate([s.positions for s in sources])
    fmask = np.concatenate([s.frame_mask for s in sources])
    jmask = np.concatenate([s.joint_mask for s in sources])
    cfg = replace(recipe.model.tokenizer, labels=labels, text_dim=encoder.dim,
                  trained_joints=[UNIFIED.joint_names[j] for j in np.flatnonzero(jmask.any(0))])
    torch.manual_seed(recipe.seed)
    if s1.init_from:
        from .pretrained import init_from_pretrained

        tokenizer = init_from_pretrained(cfg, recipe.resolve(s1.init_from))
    else:
        tokenizer = SkeletonTokenizer(cfg)
    if s1.skip:
        return tokenizer
    if tokenizer.frontend is not None and not s1.init_from:   # input standardisation from the training windows
        tokenizer.frontend.fit_standardisation(torch.as_tensor(pos), torch.as_tensor(fmask), torch.as_tensor(jmask))
    augment = {"rotate": s1.augment_rotate, "scale_amount": s1.augment_scale, "speed": s1.augment_speed,
               "joint_dropout": s1.augment_joint_dropout}
    layout_names = [l for s in sources for l in s.layouts]
    layout_ids = tokenizer.layout_ids(layout_names)
    y = torch.tensor([labels.index(c) for s in sources for c in class_names(s)])
    n = len(pos)
    if soft_targets is not None and soft_targets.shape != (n, len(labels)):
        raise ValueError(f"soft targets of shape {soft_targets.shape} for {n} windows and {len(labels)} labels")
    opt = torch.optim.AdamW(tokenizer.parameters(), lr=s1.lr, weight_decay=s1.weight_decay)
    per_proc = max(2, s1.batch_size // accelerator.num_processes)
    steps_per_epoch = max(1, n // (per_proc * accelerator.num_processes))
    total = steps_per_epoch * s1.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s1.lr, total_steps=total, pct_start=0.1)
    heads, opt, sched = accelerator.prepare(_AlignHeads(tokenizer), opt, sched)
    gen = np.random.default_rng(recipe.seed)
    bar = progress_bar(accelerator, total, "stage 1: alignment", progress)
    t0, seen, step = time.perf_counter(), 0, 0
    if s1.balance_classes:
        counts = np.bincount(y.numpy(), minlength=len(labels))
        weight = 1.0 / counts[y.numpy()]
        weight /= weight.sum()
    for epoch in range(s1.epochs):
        order = gen.choice(n, size=n, p=weight) if s1.balance_classes else gen.permutation(n)
        for b in range(steps_per_epoch):
            idx = order[b * per_proc * accelerator.num_processes:(b + 1) * per_proc * accelerator.num_processes]
            idx = np.sort(idx[accelerator.process_index::accelerator.num_processes])
            flip = gen.random(len(idx)) < 0.5 if recipe.mirror else np.zeros(len(idx), bool)
            p, jm = mirror_batch(pos[idx], jmask[idx], flip)
            lids = layout_ids[idx]
            if recipe.reexpress_p > 0:
                p, jm, lay = reexpress_batch(p, jm, [layout_names[i] for i in idx], gen, recipe.reexpress_p,
                                             recipe.reexpress_layouts)
                lids = tokenizer.layout_ids(lay)
            fm = fmask[idx]
            if any(augment.values()):
                p, fm, jm = augment_batch(p, fm, jm, gen, **augment)
            dev = accelerator.device
            aligned, logits = heads(torch.as_tensor(p, device=dev), torch.as_tensor(fm, device=dev),
                                    torch.as_tensor(jm, device=dev), lids.to(dev))
            yy = y[idx].to(dev)
            loss_c = contrastive_loss(aligned, text_emb[idx].to(dev), yy, s1.temperature)
            loss_y = F.cross_entropy(logits, yy, label_smoothing=s1.label_smoothing)
            if soft_targets is not None:
                soft = -(torch.as_tensor(soft_targets[idx], device=dev) * F.log_softmax(logits, -1)).sum(-1).mean()
                loss_y = (1 - s1.distill_weight) * loss_y + s1.distill_weight * soft
            loss = s1.contrastive_weight * loss_c + s1.classification_weight * loss_y
            opt.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            opt.step()
            sched.step()
            step += 1
            seen += len(idx) * accelerator.num_processes
            acc = float((logits.argmax(-1) == yy).float().mean())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{acc:.2f}")
            log_row(out / "log.jsonl", accelerator, stage=1, epoch=epoch, step=step, loss=loss.item(),
                 contrastive=loss_c.item(), classification=loss_y.item(), train_acc=acc)
    bar.close()
    elapsed = time.perf_counter() - t0
    tok = accelerator.unwrap_model(heads).tokenizer.eval()
    accelerator.free_memory()   # forget stage 1's model/optimizer so stage 2's checkpoints hold only stage 2
    tok.stage1_speed = {"windows_per_s": seen / max(elapsed, 1e-9), "seconds": elapsed, "steps": step}
    return tok


def stage1_tokenizer(recipe: TrainRecipe, out: Path, accelerator, *, resume: bool, sources=None, stats=None,
                     progress: bool = True) -> tuple[SkeletonTokenizer, dict]:
    """The stage-1 tokenizer and its speed record: read from ``<out>/checkpoints/stage1_tokenizer`` when
    resuming (refused if it was made with another recipe), else trained (``sources`` loaded when not given)
    and saved there with its speed and recipe."""
    stage1_dir = out / "checkpoints" / "stage1_tokenizer"
    if resume and (stage1_dir / "model.safetensors").is_file():
        if (stage1_dir / MANIFEST).is_file():
            _, problem = verify_manifest(stage1_dir)
            if problem:
                raise CheckpointError(f"{stage1_dir}: damaged stage-1 checkpoint ({problem}); delete it or train "
                                      "into another --output-dir")
        check_resumable(stage1_dir, recipe, 1)
        speed_file = stage1_dir / "speed.json"
        accelerator.print("resumed: stage 1 already done")
        tokenizer = SkeletonTokenizer.from_pretrained(stage1_dir)
        for k in STAGE2_ONLY_TOKENIZER_KEYS:
            setattr(tokenizer.config, k, getattr(recipe.model.tokenizer, k))
        return tokenizer, json.loads(speed_file.read_text()) if speed_file.is_file() else {}
    out.mkdir(parents=True, exist_ok=True)
    trim_log(out / "log.jsonl", accelerator, lambda row: False)     # stage 1 starts over: so does its log
    if sources is None:
        sources = load_sources(recipe, progress=progress and accelerator.is_main_process)
    stats = cue_stats_of(sources) if stats is None else stats
    soft = None
    if recipe.stage1.distill_members:
        from .distill import teacher_probabilities

        soft = teacher_probabilities(recipe, out, accelerator, sources, stats, resume=resume, progress=progress)
    tokenizer = train_stage1(recipe, sources, stats, accelerator, out, progress, soft_targets=soft)
    speed = getattr(tokenizer, "stage1_speed", {})
    if accelerator.is_main_process:
        from ..model.folder import new_temp_dir, publish

        tmp = new_temp_dir(stage1_dir)
        try:
            tokenizer.save_pretrained(tmp)
            write_json(tmp / "speed.json", speed)
            write_json(tmp / "recipe.json", recipe_key(recipe, 1))
            write_manifest(tmp, recipe_sha256=recipe_hash(recipe_key(recipe, 1)))
            publish(tmp, stage1_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    return tokenizer, speed


