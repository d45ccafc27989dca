"""Pretrained skeleton tokenizers: start stage 1 from one, and write one as a reusable artifact.

A pretrained tokenizer is a folder (``tokenizers/<name>`` in this repository): ``config.json`` +
``model.safetensors`` (what :meth:`SkeletonTokenizer.from_pretrained` reads), ``recipe.yaml`` (the recipe that made
it, overrides applied) and ``README.md`` (a short card: data, labels, training, licence). A recipe starts from one
with ``stage1.init_from``: the encoder's weights and its input standardisation are kept, the alignment and
classification heads are rebuilt for the recipe's labels, and stage 1 fine-tunes it on ``stage1.sources``.
Dataset-2 carries no emotion labels, so a tokenizer pretrained on it is the same for every evaluation fold: it is
trained once, not once per fold.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, replace
from pathlib import Path

import torch

from ..tokenizer.mgst import WEIGHTS_NAME, SkeletonTokenizer, SkeletonTokenizerConfig

__all__ = ["ARCHITECTURE_KEYS", "init_from_pretrained", "pretrained_sha256", "write_tokenizer_artifact"]

#: Config fields that change no weight shape or meaning: a fine-tuning recipe may set them as it likes.
_FREE_KEYS = {"labels", "text_dim", "dropout", "frontend_dropout", "test_mirror", "use_spatio_temporal",
              "trained_joints"}
ARCHITECTURE_KEYS = tuple(f.name for f in fields(SkeletonTokenizerConfig) if f.name not in _FREE_KEYS)
_HEADS = ("classifier.", "align_proj.")


def pretrained_sha256(folder: Path) -> str:
    """The sha256 of a pretrained tokenizer's weights (part of the stage-1 resume key)."""
    digest = hashlib.sha256()
    with (Path(folder) / WEIGHTS_NAME).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def init_from_pretrained(config: SkeletonTokenizerConfig, folder: Path) -> SkeletonTokenizer:
    """A tokenizer with ``config`` (its labels and text width) whose encoder is the pretrained one in ``folder``.

    The architecture must match (:data:`ARCHITECTURE_KEYS`), else a one-line ValueError naming what differs."""
    pre = SkeletonTokenizer.from_pretrained(folder)
    mine, theirs = config.to_dict(), pre.config.to_dict()
    differ = [k for k in ARCHITECTURE_KEYS if mine[k] != theirs[k]]
    if differ:
        shown = ", ".join(f"{k} {theirs[k]!r} vs {mine[k]!r}" for k in differ[:3])
        raise ValueError(f"{folder}: pretrained tokenizer's architecture differs from the recipe's model.tokenizer "
                         f"({shown}); use the same settings or train without stage1.init_from")
    if pre.config.trained_joints is not None and config.trained_joints is not None:   # both must have seen a joint
        config = replace(config, trained_joints=[j for j in config.trained_joints if j in pre.config.trained_joints])
    tokenizer = SkeletonTokenizer(config)
    state = {k: v for k, v in pre.state_dict().items() if not k.startswith(_HEADS)}
    missing, unexpected = tokenizer.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith(_HEADS) for k in missing), (missing, unexpected)
    tokenizer.pretrained_from = str(folder)
    return tokenizer


def _card(name: str, recipe, speed: dict, data: dict, labels: list[str], train_acc: float | None) -> str:
    from ..model.card import BANDAI_DATASET

    kinds = sorted({s.kind for s in recipe.sources if s.name in data})
    licence = "cc-by-nc-4.0" if {"bandai", "bandai2"} & set(kinds) else "other"
    rows = "\n".join(f"| {k} | {v['task']} | {v['clips']} | {v['windows']} |" for k, v in data.items())
    s1 = recipe.stage1
    c = recipe.model.tokenizer
    acc = f"{train_acc:.1%}" if train_acc is not None else "n/a"
    return f"""---
license: {licence}
tags: [skeleton, motion, eai-llm, skeleton-tokenizer]
---

# Skeleton tokenizer `{name}`

An EAI-LLM multi-granularity skeleton tokenizer (spatio-temporal body-part x segment tokens + semantic tokens,
unified skeleton tokens) trained by stage 1 (skeleton-language alignment + classification) alone. Load it with
`SkeletonTokenizer.from_pretrained("{name}")`; a recipe starts from it with `stage1.init_from`.

Encoder: window {c.window} frames at {recipe.model.data.fps:g} fps, dim {c.dim}, depth {c.depth}, front-end
`{c.frontend}` ({c.frontend_channels} channels, kernel {c.frontend_kernel}, dilations {c.frontend_dilations}),
whole-window statistics {"on" if c.use_statistics else "off"}, {c.num_semantic} semantic tokens.

| source | task | clips | windows |
| --- | --- | --- | --- |
{rows}

Labels of its head ({len(labels)}): {", ".join(labels)}. These are ways of moving, not emotions.

Training: {s1.epochs} epochs, batch {s1.batch_size}, lr {s1.lr}, label smoothing {s1.label_smoothing},
augmentation rotate ±{s1.augment_rotate:g}°, scale ±{s1.augment_scale:g}, speed ±{s1.augment_speed:g}, mirroring
{"on" if recipe.mirror else "off"}; {speed.get("seconds", 0):.0f} s on {speed.get("machine", "this machine")}
({speed.get("windows_per_s", 0):.0f} windows/s); training-batch accuracy over the last epoch {acc}.
Made by `recipe.yaml` beside this card (`eai-llm pretrain-tokenizer --config ...`).

Data: Bandai Namco Research Motiondataset ({BANDAI_DATASET}; dataset-2 for `bandai2` sources), CC BY-NC 4.0:
non-commercial use, attribution to Bandai Namco Research Inc.
"""


def write_tokenizer_artifact(tokenizer: SkeletonTokenizer, out: Path, *, recipe, recipe_data: dict, speed: dict,
                             data: dict, train_acc: float | None) -> Path:
    """Write the tokenizer folder atomically (temp folder, then rename): weights, config, recipe and card."""
    import yaml

    from ..model.folder import new_temp_dir, publish

    out = Path(out)
    tmp = new_temp_dir(out)
    try:
        tokenizer.save_pretrained(tmp)
        (tmp / "recipe.yaml").write_text(yaml.safe_dump(recipe_data, sort_keys=False))
        from datetime import datetime, timezone

        meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "stage1": speed, "data": data,
                "train_acc": train_acc}
        (tmp / "training.json").write_text(json.dumps(meta, indent=2))
        (tmp / "README.md").write_text(_card(out.name, recipe, speed, data, tokenizer.config.labels, train_acc))
        publish(tmp, out)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out


def last_epoch_accuracy(log_file: Path) -> float | None:
    """Mean training-batch accuracy over stage 1's last epoch (from the run's log.jsonl)."""
    if not log_file.is_file():
        return None
    rows = [json.loads(l) for l in log_file.read_text().splitlines() if l.strip()]
    rows = [r for r in rows if r.get("stage") == 1]
    if not rows:
        return None
    last = rows[-1]["epoch"]
    accs = [r["train_acc"] for r in rows if r["epoch"] == last]
    return float(torch.tensor(accs).mean())
