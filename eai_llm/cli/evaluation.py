"""`evaluate` and `benchmark`: measuring models."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from ._common import UserError, check_positive, command, model_dir_and_labels, quiet_model_loading


@command
def cmd_evaluate(*, data: str, out: str, model: str | None = None, config: str | None = None,
                 protocol: Literal["loco", "holdout"] = "loco", systems: list | None = None,
                 groups: list | None = None, override: list | None = None, no_explain: bool = False,
                 max_new_tokens: int = 40, dtype: Literal["auto", "float32", "bfloat16"] = "auto",
                 reexpress: list | None = None, ensemble_size: int = 5, verbose: bool = False) -> int:
    """Evaluate: leave-one-content-type-out (train per fold from --config) or holdout (a trained --model).

    data: the evaluation clips (a Bandai-style folder; holdout also takes one subfolder per label).
    out: folder for report.md, metrics.json and the figures (per-fold results make a rerun resume).
    model: holdout: the model directory (default: the bundled model).
    config: loco: the recipe trained on every fold (e.g. configs/default.yaml with --override stage2.max_steps=120).
    protocol: loco (train per fold) or holdout (score a trained model).
    systems: loco: any of cues-logreg, tokenizer-linear[-emotion-only|-emotion-style|-emotion-style2|-no-semantic|-mcdropout|-ensemble|-student], llm[-emotion-only|-emotion-style|-emotion-style2|-no-semantic|-no-spatio-temporal|-student|-kd][-unfused], llm-ungrounded, llm-unfused-ungrounded, llm-ensemble, llm-kd-ensemble (-unfused: the LLM's label scores alone; -mcdropout: dropout on at test time; -ensemble: a deep ensemble of tokenizers, for llm the fold ensemble as the head at a fusion weight chosen on the other folds (the shipped system); -student: the tokenizer distilled from that ensemble; -kd: the LLM's label distilled from the head; default: cues-logreg, the tokenizer-linear ones, llm).
    groups: loco: only these held-out content types (default: all); runs split by groups share --out, and the ensemble systems choose each fold's fusion weight on every other fold saved there (a fold scored at a weight chosen on fewer folds is scored again).
    override: recipe overrides for every fold, e.g. stage2.max_steps=100.
    no_explain: skip explanation generation (no faithfulness / consistency).
    max_new_tokens: explanation length limit.
    dtype: the LLM's precision when predicting (auto: bfloat16 where native, else float32).
    reexpress: loco: also score the held-out clips re-expressed in these smaller layouts (h36m_17 kinect_v2 emotion_gait_16) with the same fold models.
    ensemble_size: loco: members of tokenizer-linear-ensemble and teachers of the -student systems (seeds s, s+1, ...).
    verbose: show the libraries' model-loading messages.
    """
    from ..evaluation.evaluate import evaluate_loco
    from ..evaluation.holdout import evaluate_holdout

    if not Path(data).is_dir():
        raise UserError(f"{data}: no such data folder")
    if config and not Path(config).is_file():
        raise UserError(f"{config}: recipe not found")
    check_positive("max_new_tokens", max_new_tokens)
    if ensemble_size < 2:
        raise UserError(f"evaluate: --ensemble-size must be >= 2, got {ensemble_size}")
    from ..configutil import check_overrides
    from ..training.recipe import TrainRecipe

    try:
        check_overrides(TrainRecipe, override or [])
    except ValueError as err:
        raise UserError(str(err)) from None
    quiet_model_loading(verbose)
    if protocol == "loco":
        kwargs = {"systems": systems} if systems else {}
        metrics = evaluate_loco(data, out, config=config, groups=groups, overrides=override or [],
                                explain=not no_explain, max_new_tokens=max_new_tokens, dtype=dtype,
                                reexpress=reexpress or [], ensemble_size=ensemble_size, **kwargs)
    elif protocol == "holdout":
        metrics = evaluate_holdout(data, model, out, explain=not no_explain, max_new_tokens=max_new_tokens, dtype=dtype)
    else:
        raise UserError(f"evaluate: --protocol must be loco or holdout, got {protocol!r}")
    for name, s in metrics["systems"].items():
        print(f"{name:<32} acc7 {s['7class']['accuracy']:.3f}  acc4 {s['4class']['accuracy']:.3f}  "
              f"ece7 {s['7class']['ece']:.3f}")
    print(f"report: {Path(out) / 'report.md'}")
    return 0


@command
def cmd_benchmark(model: str | None = None, clips: str | None = None, limit: int = 32, repeat: int = 5,
                  out: str | None = None, dtype: Literal["auto", "float32", "bfloat16"] = "auto",
                  no_4bit: bool = False, reference_model: str | None = None, verbose: bool = False) -> int:
    """Benchmark loading, tokenizer, classification and explanation, each beside a reference timed in the same run.

    model: a model directory (default: the bundled model).
    clips: a folder of clips (default: ../shared/data beside the project, else demo/examples).
    limit: use at most this many clips.
    repeat: timing repetitions (the best or the median is reported).
    out: also write the table (markdown) to this file.
    dtype: the LLM's precision (auto: bfloat16 where native, else float32; whole-clip classification is then
        also timed in float32 as the reference).
    no_4bit: skip the rows of the LLM quantised to 4 bit (bitsandbytes) beside bfloat16 and float32.
    reference_model: another model directory (e.g. the previous bundled model) whose whole-clip classification
        is timed on the same clips in the same run.
    verbose: show the libraries' model-loading messages.
    """
    from ..evaluation.benchmark import format_table, run_benchmark

    check_positive("limit", limit)
    check_positive("repeat", repeat)
    if model is not None:
        model_dir_and_labels(model)

    root = Path(__file__).resolve().parents[2]
    folder = Path(clips) if clips else next(
        (p for p in (root.parent / "shared" / "data", root / "demo" / "examples") if p.is_dir()), root)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".bvh", ".npz", ".csv"))[:limit]
    if not files:
        raise UserError(f"{folder}: no clips (.bvh, .npz, .csv) to benchmark")
    quiet_model_loading(verbose)
    table = format_table(run_benchmark(model, files, repeat=repeat, dtype=dtype, quantized=not no_4bit,
                                       reference_model=reference_model, log=lambda m: print(m, file=sys.stderr)))
    print(table)
    if out:
        Path(out).write_text(table + "\n")
    return 0
