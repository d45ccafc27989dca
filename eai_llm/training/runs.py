"""Bookkeeping of a training run: the progress bar, the log rows, and what a checkpoint depends on (the recipe key
that ``resume`` compares, so a checkpoint of another recipe is refused instead of continued)."""

from __future__ import annotations

import json
from pathlib import Path

from .recipe import TrainRecipe

__all__ = ["recipe_key", "check_resumable", "STAGE2_ONLY_TOKENIZER_KEYS"]


def progress_bar(accelerator, total: int, desc: str, show: bool = True):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not (show and accelerator.is_main_process), dynamic_ncols=True)


def log_row(path: Path, accelerator, **row) -> None:
    if accelerator.is_main_process:
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")


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
    if key.get("stage2") is not None and not key["stage2"].get("distill_weight"):   # the key from before it existed
        key["stage2"].pop("distill_weight", None)
    # the extra heads do not change the model's own tokenizer: not in stage 1's key (nor in any key when off)
    if stage == 1 or not key["stage1"].get("head_members"):
        key["stage1"].pop("head_members", None)
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


