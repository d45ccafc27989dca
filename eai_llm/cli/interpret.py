"""`interpret`: one clip (printed) or many (files, folders, globs -> a CSV/JSONL report), one model load.

Under ``accelerate launch --num_processes N`` the inputs are split between the processes with accelerate's
own ``PartialState.split_between_processes``; the rows are gathered on the main process, which writes the one
merged report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

from ._common import (UserError, check_positive, check_task, check_threads, command,
                      model_dir_and_labels, quiet_model_loading, set_threads, world_size)
from .report import check_report_path, expand_inputs, result_row, write_report

#: Clips read and classified together (their windows share batches); bounds the memory a batch holds.
CLIPS_PER_STEP = 16


@command
def cmd_interpret(clips: list, model: str | None = None, task: str = "emotion", layout: str | None = None,
                  units: str | None = None, fps: float | None = None, interpolate_gaps: int = 0,
                  no_explain: bool = False, max_new_tokens: int = 40, sample: bool = False, free: bool = False,
                  json_output: bool = False, dtype: Literal["auto", "float32", "bfloat16"] = "auto",
                  ungrounded: bool = False, out: str | None = None, threads: int | None = None,
                  verbose: bool = False, no_progress: bool = False, abstain_below: float | None = None,
                  single_head: bool = False) -> int:
    """Interpret clips: emotion label, probabilities and an explanation grounded in measured cues.

    clips: BVH, NPZ, NPY or CSV files, folders (searched recursively) or globs; several, a folder or --out
        make a batch: one row per clip, a file that fails is reported in its row and the batch goes on.
    model: a model directory (default: the bundled model).
    task: which label set to use (emotion, or style for models trained on it).
    layout: layout name or .json/.yaml layout file (needed for NPY; optional otherwise).
    units: source units (cm, m, mm, inch) when they cannot be detected.
    fps: frame rate when the file does not say (NPY/CSV).
    interpolate_gaps: fill NaN gaps of at most this many frames (off by default).
    no_explain: classify only (fast).
    max_new_tokens: explanation length limit.
    sample: sample the explanation instead of greedy decoding.
    free: let the model name the label in its explanation instead of conditioning on the predicted label.
    json_output: print JSON (a batch: one JSON object per line).
    dtype: the LLM's precision: auto (bfloat16 where the CPU/GPU computes it natively, else float32).
    ungrounded: decode freely (by default the explanation is decoded inside its grammar, citing only the cue
        phrases the clip's measurements support).
    out: write the batch report to this .csv or .jsonl file (atomically; one row per clip).
    threads: torch CPU threads per process (default: $OMP_NUM_THREADS when set, else the CPU cores divided by
        the number of processes).
    verbose: show the libraries' model-loading messages.
    no_progress: hide the progress bar of a batch.
    abstain_below: answer "uncertain" (and explain nothing) when the top probability is below this (0 to 1).
    single_head: with a model whose head is an ensemble (the bundled one), read with its own tokenizer's head
        alone (cheaper; no disagreement check).
    """
    # every argument is checked before the model loads
    report = check_report_path(out) if out else None
    check_threads(threads)
    check_positive("max_new_tokens", max_new_tokens)
    check_positive("fps", fps)
    check_positive("interpolate_gaps", interpolate_gaps, allow_zero=True)
    if abstain_below is not None and not 0.0 <= abstain_below <= 1.0:
        raise UserError(f"--abstain-below {abstain_below}: expected a probability between 0 and 1")
    files = expand_inputs(list(clips))
    model_path, label_sets = model_dir_and_labels(model)
    check_task(model_path, label_sets, task)
    reader = dict(layout=layout, units=units, fps=fps, interpolate_gaps=interpolate_gaps)
    options = dict(explain=not no_explain, task=task, max_new_tokens=max_new_tokens, do_sample=sample,
                   conditioned=not free, grounded=not ungrounded, abstain_below=abstain_below)
    single = report is None and len(clips) == 1 and len(files) == 1 and Path(clips[0]).is_file()
    if layout:
        from ..skeleton.layouts import get_layout

        get_layout(layout)
    first = _load(files[0], reader) if single else None      # a bad single file fails fast, before the model

    set_threads(threads)
    quiet_model_loading(verbose)
    from ..interpreter import EmotionInterpreter

    interp = EmotionInterpreter.from_pretrained(model_path, dtype=dtype, verbose=verbose, ensemble=not single_head)
    if single:
        res = interp.interpret(first, **options)
        print(res.to_json(indent=2) if json_output else format_result(res))
        return 0
    rows = _run_batch(interp, files, reader, options, progress=not no_progress)
    if rows is None:                                           # not the main process
        return 0
    if report is not None:
        write_report(report, rows, label_sets[task])
    elif json_output:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
    if report is not None or not json_output:
        for r in rows:
            print(_row_line(r), file=sys.stderr if report is not None else sys.stdout)
    failed = sum(r["error"] is not None for r in rows)
    if report is not None:
        print(f"{len(rows)} clips, {failed} failed: {report}")
    return 0


def _load(path: str, reader: dict):
    from ..skeleton.io import load_clip

    return load_clip(path, **reader)


def _error_text(err: BaseException) -> str:
    from ..skeleton.errors import ClipError

    text = " ".join(str(err).split())
    if isinstance(err, FileNotFoundError):
        return f"{err.filename or text}: file not found"
    if isinstance(err, (ClipError, UserError, ValueError, OSError)):
        return text
    return f"internal error: {type(err).__name__}: {text}"


def _run_batch(interp, files: list[str], reader: dict, options: dict, progress: bool) -> list[dict] | None:
    """Rows for ``files`` in order, split between the processes of ``accelerate launch`` and gathered on the
    main process (``None`` on the others)."""
    if world_size() == 1:
        return _rows(interp, files, reader, options, progress)
    import torch
    from accelerate import PartialState
    from accelerate.utils import gather_object

    state = PartialState(cpu=not torch.cuda.is_available())   # on a CPU-only machine: one gloo group
    with state.split_between_processes(files) as mine:
        print(f"process {state.process_index}/{state.num_processes}: {len(mine)} of {len(files)} clips",
              file=sys.stderr, flush=True)
        rows = _rows(interp, list(mine), reader, options, progress and state.is_main_process)
    rows = gather_object(rows)    # in process order: the split is contiguous, so the input order is kept
    state.wait_for_everyone()
    return rows if state.is_main_process else None


def _rows(interp, files: list[str], reader: dict, options: dict, progress: bool) -> list[dict]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(files), unit="clip", file=sys.stderr, disable=not progress, dynamic_ncols=True,
               desc="interpreting")
    rows: list[dict] = []
    try:
        for g in range(0, len(files), CLIPS_PER_STEP):
            chunk = files[g:g + CLIPS_PER_STEP]
            done: dict[str, dict] = {}
            loaded = []
            for path in chunk:
                try:
                    loaded.append((path, _load(path, reader)))
                except Exception as err:  # noqa: BLE001 - reported in the file's row, the batch goes on
                    done[path] = result_row(path, error=_error_text(err))
                    bar.update(1)
            try:
                # a report row has no attribution: not computed for it
                results = interp.interpret_batch([c for _, c in loaded], progress=bar, attribute=False, **options)
                done.update((p, result_row(p, r)) for (p, _), r in zip(loaded, results))
            except Exception:  # noqa: BLE001 - one clip broke the chunk: redo it clip by clip to isolate it
                for path, clip in loaded:
                    if path in done:
                        continue
                    try:
                        done[path] = result_row(path, interp.interpret(clip, **options))
                    except Exception as err:  # noqa: BLE001
                        done[path] = result_row(path, error=_error_text(err))
            rows.extend(done[p] for p in chunk)
    finally:
        bar.close()
    return rows


def _row_line(r: dict) -> str:
    if r["error"]:
        return f"{r['source']}: error: {r['error']}"
    p = r["probabilities"][r["label"]]
    warn = "".join(f" [warning: {w}]" for w in r["warnings"])
    return f"{r['source']}: {r['label']} ({p:.1%}){warn}"


def format_result(res) -> str:
    """The human-readable result of one clip; warnings first, where they cannot be missed."""
    lines = [f"warning: {w}" for w in res.warnings]
    lines.append(f"{res.task}: {res.label}" + (" (the top probability is below --abstain-below)" if res.abstained
                                                else ""))
    for label, p in sorted(res.probabilities.items(), key=lambda kv: -kv[1]):
        own = f"   (LLM alone {res.llm_probabilities[label]:6.1%})" if res.llm_probabilities else ""
        lines.append(f"  {label:<14} {p:6.1%}{own}")
    if res.llm_probabilities:
        llm_label = max(res.llm_probabilities, key=res.llm_probabilities.get)
        lines.append(f"the LLM's own reading: {llm_label} ({res.llm_probabilities[llm_label]:.1%}); "
                     "shipped: fused with the skeleton tokenizer's head and calibrated")
    if res.prediction_set:
        lines.append(f"{res.prediction_level:.0%} prediction set: {' or '.join(res.prediction_set)}")
    if res.ood_score is not None:
        lines.append(f"in distribution: {'yes' if res.in_distribution else 'NO'} (out-of-distribution score "
                     f"{res.ood_score:.2f}, threshold 1.00)")
    if res.explanation:
        lines.append(f"explanation: {res.explanation}")
        if res.faithfulness is not None:
            lines.append(f"faithfulness: {res.faithfulness:.2f} of the cited cues are supported by the measurements")
        if res.contrast:
            lines.append(f"contrast: {res.contrast}")
        top = (getattr(res, "attribution", None) or {}).get("top")
        if top:
            lines.append("where: " + ", ".join(f"{c['part'].replace('_', ' ')} {c['start_s']:.1f}-{c['end_s']:.1f} s"
                                               for c in top))
    return "\n".join(lines)
