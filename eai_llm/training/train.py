"""Joint training with accelerate: stage 1 (skeleton-language alignment, :mod:`.stage1`), then stage 2 (LoRA +
projector).

The same code runs in one CPU process, in several CPU processes (gloo; start them with
``accelerate launch --multi_gpu --num_processes 2`` or ``torchrun --nproc_per_node 2``: without a GPU they fall
back to the CPU; note that ``accelerate launch --cpu`` starts several processes only through MPI) and on GPUs:
each process takes its own share of every batch plan, gradients are averaged by accelerate, only the main
process logs and writes. Checkpoints go to ``<output>/checkpoints`` (atomic, verified, trainable weights only: see
:mod:`eai_llm.training.checkpoint`); ``resume=True`` continues from the latest good one, the log included, and
a run already finished with the same recipe says so instead of training again. The result is one model
directory, ``<output>/model``.
"""

from __future__ import annotations

import json
import math
import platform
import random
import shutil
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..ood import OOD_FILE
from .checkpoint import find_checkpoint, load_checkpoint, recipe_hash, save_checkpoint, trim_log
from .data import WindowArrays, cue_stats_of, instruction, load_sources, mirror_batch, reexpress_batch, source_records
from .recipe import TrainRecipe
from .runs import STAGE2_ONLY_TOKENIZER_KEYS, check_resumable, log_row, progress_bar, recipe_key
from .stage1 import stage1_sources, stage1_tokenizer, train_stage1

# stage 1 and the run bookkeeping live in .stage1 and .runs; their names stay importable from here
__all__ = ["train", "train_stage1", "stage1_tokenizer", "stage1_sources", "recipe_key", "check_resumable",
           "STAGE2_ONLY_TOKENIZER_KEYS"]


# ---- stage 2 ----------------------------------------------------------------------------------------
def _plan(sources: list[WindowArrays], kinds: dict[str, float], num: int, seed: int) -> list[tuple[int, int, str]]:
    """A reproducible sampling plan of (source, row, kind): sources by weight, rows uniformly, kinds by weight."""
    gen = np.random.default_rng(seed)
    w = np.array([s.weight for s in sources], dtype=np.float64)
    src = gen.choice(len(sources), size=num, p=w / w.sum())
    names = list(kinds)
    kw = np.array([kinds[k] for k in names], dtype=np.float64)
    kind = gen.choice(len(names), size=num, p=kw / kw.sum())
    return [(int(s), int(gen.integers(len(sources[s]))), names[k]) for s, k in zip(src, kind)]


def _stage2_batch(model, sources, items, stats, seed: int, step: int, mirror: bool, device,
                  reexpress: tuple[float, list[str]] = (0.0, [])):
    from ..model.modeling import SkeletonInput

    rng = random.Random(seed * 1_000_003 + step)
    questions, answers, pos, fm, jm, lay = [], [], [], [], [], []
    for s, row, kind in items:
        src = sources[s]
        q, a = instruction(src, row, kind, stats, rng)
        questions.append(q)
        answers.append(a)
        pos.append(src.positions[row])
        fm.append(src.frame_mask[row])
        jm.append(src.joint_mask[row])
        lay.append(src.layouts[row])
    flip = np.array([mirror and rng.random() < 0.5 for _ in items])
    p, j = mirror_batch(np.stack(pos), np.stack(jm), flip)
    if reexpress[0] > 0:
        p, j, lay = reexpress_batch(p, j, lay, np.random.default_rng([seed, step]), *reexpress)
    batch = model.processor.training_batch(questions, answers)
    skel = SkeletonInput.from_numpy(p, np.stack(fm), j, model.skeleton_tokenizer.layout_ids(lay).numpy())
    return batch, skel.to(device)


def train_stage2(recipe: TrainRecipe, model, sources: list[WindowArrays], stats: dict, accelerator, out: Path,
                 resume: bool, progress: bool = True, head_members: Sequence = ()) -> dict:
    """LoRA + projector. ``head_members``: the classification head's other tokenizers (for ``distill_weight``)."""
    s2 = recipe.stage2
    total_windows = sum(len(s) for s in sources)
    global_batch = s2.batch_size
    per_proc = max(1, global_batch // accelerator.num_processes)
    steps = s2.max_steps or max(1, math.ceil(s2.epochs * total_windows / global_batch))
    plan = _plan(sources, s2.kinds, steps * per_proc * accelerator.num_processes, recipe.seed)

    tok_params = list(model.skeleton_tokenizer.parameters())
    for head in (model.skeleton_tokenizer.align_proj, model.skeleton_tokenizer.classifier):
        if head is not None:
            head.requires_grad_(False)
    model.projector.requires_grad_(s2.train_projector)
    trainable = [p for p in model.llm.parameters() if p.requires_grad]
    groups = [{"params": trainable + (list(model.projector.parameters()) if s2.train_projector else []), "lr": s2.lr}]
    if s2.tokenizer_lr > 0:
        groups.append({"params": [p for p in tok_params if p.requires_grad], "lr": s2.tokenizer_lr})
    else:
        model.skeleton_tokenizer.requires_grad_(False)
    opt = torch.optim.AdamW(groups, weight_decay=s2.weight_decay)
    warm = min(s2.warmup_steps, max(1, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * max(0.05, 1 - i / max(1, steps)))
    soft = _label_targets(model, sources, head_members, accelerator) if s2.distill_weight > 0 else None
    wrapped, opt, sched = accelerator.prepare(model, opt, sched)
    ckpt = out / "checkpoints" / "stage2"
    key = recipe_key(recipe, 2)
    start, losses = 0, []
    found = find_checkpoint(ckpt, key, accelerator.num_processes, accelerator.print,
                            lambda folder: check_resumable(folder, recipe, 2)) if resume else None
    if not resume and accelerator.is_main_process:
        shutil.rmtree(ckpt, ignore_errors=True)     # a fresh run: an earlier run's checkpoints must not mix in
    if found is not None:
        state = load_checkpoint(found, accelerator=accelerator, model=model, optimizer=opt, scheduler=sched)
        start, losses = state["step"], list(state["losses"])
        accelerator.print(f"resumed stage 2 from step {start} ({found})")
    trim_log(out / "log.jsonl", accelerator, lambda row: row.get("stage") == 1 or row.get("step", 0) <= start)
    wrapped.train()
    model.skeleton_tokenizer.train(s2.tokenizer_lr > 0)
    bar = progress_bar(accelerator, steps, "stage 2: LoRA", progress)
    bar.update(start)
    t0, seen = time.perf_counter(), 0
    for step in range(start, steps):
        lo = step * per_proc * accelerator.num_processes
        items = plan[lo: lo + per_proc * accelerator.num_processes][accelerator.process_index::accelerator.num_processes]
        batch, skel = _stage2_batch(model, sources, items, stats, recipe.seed, step * 131 + accelerator.process_index,
                                    recipe.mirror, accelerator.device, (recipe.reexpress_p, recipe.reexpress_layouts))
        outp = wrapped(batch.input_ids.to(accelerator.device), batch.attention_mask.to(accelerator.device),
                       skel.positions, skel.frame_mask, skel.joint_mask, skel.layout_ids,
                       labels=batch.labels.to(accelerator.device))
        loss = outp.loss
        if soft is not None:
            loss = loss + s2.distill_weight * _distill_term(outp.logits, batch.labels, items, soft, accelerator.device)
        opt.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        sched.step()
        seen += len(items) * accelerator.num_processes
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-s2.log_every:]):.3f}")
        if (step + 1) % s2.log_every == 0 or step + 1 == steps:
            log_row(out / "log.jsonl", accelerator, stage=2, step=step + 1, loss=float(np.mean(losses[-s2.log_every:])),
                 lr=sched.get_last_lr()[0])
        if s2.checkpoint_every and (step + 1) % s2.checkpoint_every == 0 and step + 1 < steps:
            save_checkpoint(ckpt, step + 1, accelerator=accelerator, model=model, optimizer=opt, scheduler=sched,
                            state={"losses": losses}, recipe_key=key)
    bar.close()
    elapsed = time.perf_counter() - t0
    return {"samples_per_s": seen / max(elapsed, 1e-9), "seconds": elapsed, "steps": steps, "resumed_at": start,
            "first_loss": losses[0] if losses else None, "final_loss": float(np.mean(losses[-s2.log_every:])) if losses else None}


def _label_targets(model, sources: list[WindowArrays], head_members: Sequence, accelerator):
    """Per source: (the head's probabilities on its windows, the LLM's label first tokens), or None when the
    source's task has no soft labels (a task the head lacks, or labels sharing a first token)."""
    from .distill import label_first_tokens, label_teacher_probabilities

    probs = label_teacher_probabilities([model.skeleton_tokenizer, *head_members], sources, device=accelerator.device)
    out = []
    for src, p in zip(sources, probs):
        firsts = label_first_tokens(model.processor, src.label_set) if p is not None else None
        out.append(None if firsts is None else (torch.as_tensor(p), firsts))
    named = [s.name for s, o in zip(sources, out) if o is not None]
    accelerator.print(f"stage 2: the LLM's label distilled from the head on {', '.join(named) or 'no source'}")
    return out


def _distill_term(logits, labels, items, soft, device) -> torch.Tensor:
    """The label-distillation loss of one batch (0 when no classification answer of a distilled source is in it)."""
    from .distill import label_distill_loss

    rows = [i for i, (s, _, kind) in enumerate(items) if kind == "classify" and soft[s] is not None]
    if not rows:
        return logits.new_zeros(())
    by_size: dict[int, list[int]] = {}
    for i in rows:                      # label sets of different sizes go in separate calls
        by_size.setdefault(len(soft[items[i][0]][1]), []).append(i)
    terms = []
    for group in by_size.values():
        target = torch.stack([soft[items[i][0]][0][items[i][1]] for i in group]).to(device)
        terms.append(label_distill_loss(logits, labels.to(device), group, [soft[items[i][0]][1] for i in group],
                                        target) * len(group))
    return sum(terms) / len(rows)


def finished_at(target: Path, recipe: TrainRecipe) -> int | None:
    """The final step of a model already trained into ``target`` with this recipe (None when there is none)."""
    meta_file = target / "training.json"
    if not (target / "config.json").is_file() or not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(meta, dict) or meta.get("recipe_sha256") != recipe_hash(recipe_key(recipe, 2)):
        return None
    return (meta.get("stage2") or {}).get("steps")


def hub_datasets(recipe: TrainRecipe) -> list[str]:
    """The hub dataset ids of the recipe's data (for the model card's metadata)."""
    from ..model.card import BANDAI_DATASET

    return [BANDAI_DATASET] if any(s.kind == "bandai" for s in recipe.sources) else []


def ood_reference(recipe: TrainRecipe, *, progress: bool = False):
    """The out-of-distribution cue reference (:mod:`eai_llm.ood`) of the recipe's training clips (every source, its
    excluded groups left out; a file in several sources counts once)."""
    from ..ood import reference_from_records

    records = [r for s in recipe.sources for r in source_records(s, recipe)]
    return reference_from_records(records, source=", ".join(s.name for s in recipe.sources), progress=progress)


# ---- the whole run ------------------------------------------------------------------------------------
def train(recipe: TrainRecipe, *, resume: bool = False, progress: bool = True) -> Path:
    """Run stage 1 then stage 2 and write ``<output_dir>/model``. Returns that path."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    from ..model.modeling import EaiLlmModel

    # without a GPU, processes started by torchrun / `accelerate launch --multi_gpu` join one gloo group on the CPU
    accelerator = Accelerator(cpu=not torch.cuda.is_available(),
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    set_seed(recipe.seed)
    out = recipe.resolve(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model"
    done = finished_at(target, recipe) if resume else None
    if done is not None:
        accelerator.print(f"{out}: already finished at step {done} (model: {target}); nothing to train")
        accelerator.end_training()
        return target
    t_start = time.perf_counter()
    with accelerator.main_process_first():
        sources = load_sources(recipe, progress=progress and accelerator.is_main_process)
    stats = cue_stats_of(sources)
    summary = {s.name: {"task": s.task, "windows": len(s), "clips": len(set(s.clip_ids)),
                        "labels": {l: s.labels.count(l) for l in s.label_set}} for s in sources}
    accelerator.print("data: " + ", ".join(f"{k} {v['windows']} windows / {v['clips']} clips" for k, v in summary.items()))

    tokenizer, stage1 = stage1_tokenizer(recipe, out, accelerator, resume=resume, sources=sources, stats=stats,
                                         progress=progress)

    members = []
    if recipe.stage1.head_members:      # the ensemble head's other members (teachers 1 .. K-1, model/heads.py)
        from .distill import train_teachers

        members = train_teachers(recipe, out, accelerator, sources, stats, members=recipe.stage1.head_members,
                                 resume=resume, progress=progress, first=1)
    cfg = replace(recipe.model, tokenizer=tokenizer.config,
                  label_sets={**recipe.model.label_sets, **{s.task: s.label_set for s in sources}})
    model = EaiLlmModel.build(cfg, skeleton_tokenizer=tokenizer, seed=recipe.seed)
    stage2 = train_stage2(recipe, model, sources, stats, accelerator, out, resume, progress, head_members=members)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(model).eval()
        model.head_members.extend(m.eval() for m in members)
        meta = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "processes": accelerator.num_processes, "device": str(accelerator.device),
            "torch": torch.__version__, "seed": recipe.seed, "data": summary,
            "exclude_groups": recipe.exclude_groups, "stage1": stage1, "stage2": stage2,
            "wall_seconds": time.perf_counter() - t_start,
            "datasets": hub_datasets(recipe), "recipe_sha256": recipe_hash(recipe_key(recipe, 2)),
        }
        ood = ood_reference(recipe, progress=progress)
        model.save_pretrained(target, extras={"cue_stats.json": stats, "training.json": meta,
                                              OOD_FILE: ood.to_dict()})
        accelerator.print(f"model written to {target}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return target
