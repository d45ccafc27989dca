"""Joint training with accelerate: stage 1 (skeleton-language alignment), then stage 2 (LoRA + projector).

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

import numpy as np
import torch
import torch.nn.functional as F

from ..tokenizer.align import TextEncoder, contrastive_loss
from ..skeleton.layouts import UNIFIED
from ..tokenizer.mgst import SkeletonTokenizer
from .augment import augment_batch
from .checkpoint import (MANIFEST, CheckpointError, find_checkpoint, load_checkpoint, recipe_hash, save_checkpoint,
                         trim_log, verify_manifest, write_manifest)
from ..ood import OOD_FILE
from .data import (WindowArrays, alignment_text, class_names, cue_stats_of, instruction, label_vocabulary,
                   load_sources, mirror_batch, reexpress_batch, source_records, write_json)
from .recipe import TrainRecipe

__all__ = ["train"]


def _progress(accelerator, total: int, desc: str, show: bool = True):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not (show and accelerator.is_main_process), dynamic_ncols=True)


def _log(path: Path, accelerator, **row) -> None:
    if accelerator.is_main_process:
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")


class _AlignHeads(torch.nn.Module):
    """Stage-1 view of the tokenizer whose forward returns plain tensors (DDP traces its outputs)."""

    def __init__(self, tokenizer: SkeletonTokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    def forward(self, positions, frame_mask, joint_mask, layout_ids):
        tokens = self.tokenizer(positions, frame_mask, joint_mask, layout_ids, with_heads=True)
        return tokens.aligned, tokens.logits


# ---- resuming -----------------------------------------------------------------------------------------
def recipe_key(recipe: TrainRecipe, stage: int) -> dict:
    """What a checkpoint of ``stage`` depends on: the recipe without its paths (stage 1 also without stage 2)."""
    from dataclasses import asdict

    key = json.loads(json.dumps(asdict(recipe), default=str))
    for k in ("output_dir", "cache_dir", "base_dir"):
        key.pop(k, None)
    if not key.get("reexpress_p"):   # augmentation off: the key of recipes from before it existed
        key.pop("reexpress_p", None)
        key.pop("reexpress_layouts", None)
    for k in ("init_from", "sources"):   # unset: the key of recipes from before these existed
        if key["stage1"].get(k) is None:
            key["stage1"].pop(k, None)
    if not key["stage1"].get("distill_members"):   # no distillation: the key of recipes from before it existed
        key["stage1"].pop("distill_members", None)
        key["stage1"].pop("distill_weight", None)
    if recipe.stage1.init_from:          # the pretrained weights themselves, not only their path
        from .pretrained import pretrained_sha256

        key["stage1"]["init_sha256"] = pretrained_sha256(recipe.resolve(recipe.stage1.init_from))
    if stage == 1:
        key.pop("stage2", None)
        key["model"] = {"tokenizer": key["model"]["tokenizer"]}
        _drop_stage2_only(key)
    return key


# stage 1 trains on the pooled semantic summary only; the spatio-temporal tokens feed the LLM (stage 2)
STAGE2_ONLY_TOKENIZER_KEYS = ("use_spatio_temporal",)


def _drop_stage2_only(key: dict) -> None:
    for k in STAGE2_ONLY_TOKENIZER_KEYS:
        key.get("model", {}).get("tokenizer", {}).pop(k, None)


def _flat(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flat(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], d


def check_resumable(folder: Path, recipe: TrainRecipe, stage: int) -> None:
    """Refuse to resume from a checkpoint made with a different recipe (one line naming what changed).
    Checkpoints from before recipes were recorded (no ``recipe.json``) are accepted."""
    saved_file = folder / "recipe.json"
    if not saved_file.is_file():
        return
    saved = json.loads(saved_file.read_text())
    if stage == 1:
        _drop_stage2_only(saved)
    saved, now = dict(_flat(saved)), dict(_flat(recipe_key(recipe, stage)))
    changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
    if changed:
        more = f" (+{len(changed) - 3} more)" if len(changed) > 3 else ""
        raise ValueError(f"{folder}: checkpoint was made with a different recipe ({', '.join(changed[:3])}{more} "
                         "changed); delete it or train into another --output-dir")


# ---- stage 1 ----------------------------------------------------------------------------------------
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
    bar = _progress(accelerator, total, "stage 1: alignment", progress)
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
            _log(out / "log.jsonl", accelerator, stage=1, epoch=epoch, step=step, loss=loss.item(),
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
                 resume: bool, progress: bool = True) -> dict:
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
    bar = _progress(accelerator, steps, "stage 2: LoRA", progress)
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
        opt.zero_grad(set_to_none=True)
        accelerator.backward(outp.loss)
        accelerator.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        sched.step()
        seen += len(items) * accelerator.num_processes
        losses.append(outp.loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-s2.log_every:]):.3f}")
        if (step + 1) % s2.log_every == 0 or step + 1 == steps:
            _log(out / "log.jsonl", accelerator, stage=2, step=step + 1, loss=float(np.mean(losses[-s2.log_every:])),
                 lr=sched.get_last_lr()[0])
        if s2.checkpoint_every and (step + 1) % s2.checkpoint_every == 0 and step + 1 < steps:
            save_checkpoint(ckpt, step + 1, accelerator=accelerator, model=model, optimizer=opt, scheduler=sched,
                            state={"losses": losses}, recipe_key=key)
    bar.close()
    elapsed = time.perf_counter() - t0
    return {"samples_per_s": seen / max(elapsed, 1e-9), "seconds": elapsed, "steps": steps, "resumed_at": start,
            "first_loss": losses[0] if losses else None, "final_loss": float(np.mean(losses[-s2.log_every:])) if losses else None}


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

    cfg = replace(recipe.model, tokenizer=tokenizer.config,
                  label_sets={**recipe.model.label_sets, **{s.task: s.label_set for s in sources}})
    model = EaiLlmModel.build(cfg, skeleton_tokenizer=tokenizer, seed=recipe.seed)
    stage2 = train_stage2(recipe, model, sources, stats, accelerator, out, resume, progress)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(model).eval()
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
