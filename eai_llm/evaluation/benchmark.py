"""`eai-llm benchmark`: speed of every stage, each row beside a reference measured in the same run.

Ratios, not absolute numbers, are what survive a noisy shared machine: every row times our code and a
reference doing comparable work back to back (BVH loading vs bvhio; label scoring vs a plain forward pass of the
same LLM over the same tokens; explanation vs plain ``generate``; achieved FLOP/s vs a large matmul).
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

__all__ = ["Row", "run_benchmark", "format_table"]


@dataclass
class Row:
    name: str
    ours: float
    reference: float | None
    unit: str
    reference_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.reference else self.ours / self.reference


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_bvh(files: Sequence[Path], bvhio_files: int = 3) -> Row:
    """Frames/s of our BVH reader vs bvhio (parse + world positions of every joint in every frame)."""
    from ..skeleton.io import load_clip

    t0 = time.perf_counter()
    frames = sum(load_clip(f).num_frames for f in files)
    ours = frames / (time.perf_counter() - t0)
    try:
        import bvhio
    except ImportError:
        return Row("BVH loading", ours, None, "frames/s", "bvhio (not installed)")
    t0 = time.perf_counter()
    ref_frames = 0
    for f in files[:bvhio_files]:
        root = bvhio.readAsHierarchy(str(f))
        joints = [j for j, _, _ in root.layout()]
        n = root.getKeyframeRange()[1] + 1
        for k in range(n):
            root.loadPose(k)
            for j in joints:
                _ = j.PositionWorld
        ref_frames += n
    return Row("BVH loading", ours, ref_frames / (time.perf_counter() - t0), "frames/s", "bvhio",
               f"{len(files)} files ours, {min(bvhio_files, len(files))} bvhio")


def run_benchmark(model_dir: str | Path | None, clips: Sequence[Path], *, repeat: int = 5,
                  new_tokens: int = 24, dtype: str = "auto", quantized: bool = True,
                  reference_model: str | Path | None = None, log: Callable[[str], None] = print) -> list[Row]:
    import torch

    from ..interpreter import EmotionInterpreter
    from ..model.modeling import SkeletonInput
    from ..skeleton.io import load_clip

    rows: list[Row] = []
    if clips:
        log("BVH loading ...")
        rows.append(bench_bvh([c for c in clips if c.suffix.lower() == ".bvh"]))
    interp = EmotionInterpreter.from_pretrained(model_dir, dtype=dtype)
    model = interp.model
    llm_dtype = str(next(model.llm.parameters()).dtype).removeprefix("torch.")
    labels = interp.label_sets["emotion"]
    loaded = [load_clip(c) for c in clips[:32]] or []
    if not loaded:
        raise ValueError("benchmark: no clips given")
    wbs = [interp._windows(c) for c in loaded]
    skel = [interp._skel(wb, c.layout.name) for wb, c in zip(wbs, loaded)]
    allin = SkeletonInput(*(torch.cat([getattr(s, f) for s in skel]) for f in
                            ("positions", "frame_mask", "joint_mask", "layout_ids")))

    log("skeleton tokenizer ...")
    batch = allin.select(slice(0, 64))
    with torch.no_grad():
        model.skeleton_tokenizer(batch.positions, batch.frame_mask, batch.joint_mask, batch.layout_ids)
        t = min(_timed(lambda: model.skeleton_tokenizer(batch.positions, batch.frame_mask, batch.joint_mask,
                                                        batch.layout_ids), repeat))
    rows.append(Row("skeleton tokenizer", len(batch) / t, None, "windows/s", note=f"batch {len(batch)}"))

    from .. import explain as T

    question = T.classify_question(labels)
    prompt = model.processor.prompt_batch([question])
    n_prompt = prompt.input_ids.shape[1]

    def plain_forward(b: int):
        ids = prompt.input_ids.repeat(b, 1)
        with torch.no_grad():
            model.llm(input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=1)

    log("classification ...")
    one = allin.select(slice(0, 1))
    model.label_probabilities(one, question, labels)
    lat = _timed(lambda: model.label_probabilities(one, question, labels), max(repeat, 10))
    ref = _timed(lambda: plain_forward(1), max(repeat, 10))
    p50, p95 = statistics.median(lat), float(np.percentile(lat, 95))
    rows.append(Row("label scoring, batch 1 (p50 latency)", p50 * 1000, statistics.median(ref) * 1000, "ms",
                    f"plain forward, {n_prompt} tokens", f"p95 {p95 * 1000:.0f} ms; LLM in {llm_dtype}"))
    for b in (32,):
        sub = allin.select(slice(0, b))
        t = min(_timed(lambda: model.label_probabilities(sub, question, labels), max(1, repeat // 2)))
        tr = min(_timed(lambda: plain_forward(len(sub)), max(1, repeat // 2)))
        rows.append(Row(f"label scoring, batch {len(sub)}", len(sub) / t, len(sub) / tr, "windows/s",
                        "plain forward, same tokens"))
    t0 = time.perf_counter()
    interp.interpret_batch(loaded, explain=False)
    ours = len(loaded) / (time.perf_counter() - t0)
    n_windows = sum(len(wb) for wb in wbs)
    ref_rate, ref_name = None, ""
    if llm_dtype != "float32":   # the same clips through the same model in full precision
        full = EmotionInterpreter.from_pretrained(model_dir, dtype="float32")
        full.interpret_batch(loaded[:1], explain=False)
        t0 = time.perf_counter()
        full.interpret_batch(loaded, explain=False)
        ref_rate, ref_name = len(loaded) / (time.perf_counter() - t0), "LLM in float32"
        del full
    rows.append(Row("classification, whole clips", ours, ref_rate, "clips/s", ref_name,
                    note=f"{len(loaded)} clips, {n_windows} windows; LLM in {llm_dtype}"))

    if reference_model is not None:   # e.g. the previous bundled model: same clips, same precision, same run
        rows.append(bench_reference_model(reference_model, loaded, ours, dtype))

    log("explanation ...")
    explain_q = T.explain_question(labels)
    prefix = f"{T.answer_text(labels[0])} {T.EXPLANATION_PREFIX}:"
    first: list[float] = []

    class _First:
        def __init__(self):
            self.t0, self.seen = time.perf_counter(), 0

        def put(self, value):
            self.seen += 1
            if self.seen == 2:
                first.append(time.perf_counter() - self.t0)

        def end(self):
            pass

    t0 = time.perf_counter()
    out = model.generate_text(one, explain_q, prefix=prefix, max_new_tokens=new_tokens, streamer=_First())
    gen_time = time.perf_counter() - t0
    n_new = len(model.processor.tokenizer(out[0], add_special_tokens=False)["input_ids"])
    ids = model.processor.prompt_batch([explain_q], [prefix]).input_ids
    t0 = time.perf_counter()
    ref_out = model.llm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                 min_new_tokens=new_tokens, do_sample=False, pad_token_id=model.processor.pad_id)
    ref_time = time.perf_counter() - t0
    ref_new = ref_out.shape[1] - ids.shape[1]
    rows.append(Row("explanation, time to first token", first[0] * 1000 if first else float("nan"), None, "ms"))
    rows.append(Row("explanation, new tokens/s", max(n_new, 1) / gen_time, ref_new / ref_time, "tokens/s",
                    "plain generate, same prompt length", f"{n_new} tokens"))
    rows += bench_constrained(interp, loaded[0], one, labels, new_tokens)

    log("FLOP/s ...")
    # matmul parameters a prompt token passes through (embeddings are lookups; logits only for the last token)
    emb = {id(p) for p in model.llm.get_input_embeddings().parameters()}
    emb |= {id(p) for p in model.llm.get_output_embeddings().parameters()}
    n_params = sum(p.numel() for p in model.llm.parameters() if id(p) not in emb)
    tokens = prompt.input_ids.numel() * 8
    t = min(_timed(lambda: plain_forward(8), 3))
    a = torch.randn(2048, 2048, dtype=next(model.llm.parameters()).dtype)
    tm = min(_timed(lambda: a @ a, 3))
    rows.append(Row("LLM forward, achieved FLOP/s", 2 * n_params * tokens / t / 1e9, 2 * 2048 ** 3 / tm / 1e9,
                    "GFLOP/s", f"2048x2048 matmul, {llm_dtype}"))
    rows.append(Row("peak memory (RSS)", _peak_rss_mb(), None, "MB", note="inference, everything above"))
    if quantized:
        log("LLM in 4 bit ...")
        rows += bench_4bit(interp.model_dir, loaded, one, question, labels, max(repeat, 10))
    log("training step ...")
    rows.append(bench_train_step(interp.model_dir, allin, labels, max(2, repeat // 2)))
    meta_file = Path(interp.model_dir) / "training.json" if interp.model_dir else None
    if meta_file and meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if meta.get("stage1", {}).get("windows_per_s"):
            rows.append(Row("training stage 1 (from training.json)", meta["stage1"]["windows_per_s"], None, "windows/s",
                            note=meta.get("machine", "")))
        if meta.get("stage2", {}).get("samples_per_s"):
            rows.append(Row("training stage 2 (from training.json)", meta["stage2"]["samples_per_s"], None, "samples/s",
                            note=meta.get("machine", "")))
    return rows


def bench_reference_model(reference_model: str | Path, loaded: Sequence, ours: float, dtype: str) -> Row:
    """Whole-clip classification of another model directory on the same clips (ours / theirs)."""
    from ..interpreter import EmotionInterpreter

    ref = EmotionInterpreter.from_pretrained(reference_model, dtype=dtype)
    ref.interpret_batch(loaded[:1], explain=False)
    t0 = time.perf_counter()
    ref.interpret_batch(loaded, explain=False)
    theirs = len(loaded) / (time.perf_counter() - t0)
    return Row("classification, whole clips, vs reference model", ours, theirs, "clips/s",
               f"{Path(reference_model).name}, same clips", note="higher is faster")


def _llm_bytes(llm) -> int:
    """Bytes of the LLM's parameters and buffers (4-bit weights count as their packed uint8 storage)."""
    base = llm.get_base_model() if hasattr(llm, "get_base_model") else llm
    return int(base.get_memory_footprint())


def bench_4bit(model_dir: Path, clips: Sequence, one, question: str, labels: Sequence[str], repeat: int) -> list[Row]:
    """The same model with its LLM quantised to 4 bit (bitsandbytes NF4) beside bfloat16 and float32, all loaded
    and timed in this run: LLM weight memory, label-scoring latency (batch 1) and whole-clip classification."""
    from ..interpreter import EmotionInterpreter
    from ..model.modeling import EaiLlmModel

    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return [Row("LLM in 4 bit", float("nan"), None, "", note="bitsandbytes not installed (pip install 'eai-llm[quant]')")]
    cue_stats = json.loads((Path(model_dir) / "cue_stats.json").read_text())
    variants = {}
    for name, kwargs in (("4 bit", {"load_in_4bit": True, "dtype": "bfloat16"}), ("bfloat16", {"dtype": "bfloat16", "merge_adapter": True}),
                         ("float32", {"dtype": "float32", "merge_adapter": True})):
        model = EaiLlmModel.from_pretrained(model_dir, **kwargs)
        interp = EmotionInterpreter(model, cue_stats, Path(model_dir))
        interp.model.label_probabilities(one, question, labels)        # warm-up
        lat = statistics.median(_timed(lambda: interp.model.label_probabilities(one, question, labels), repeat))
        interp.interpret_batch(clips[:1], explain=False)
        t0 = time.perf_counter()
        interp.interpret_batch(clips, explain=False)
        rate = len(clips) / (time.perf_counter() - t0)
        variants[name] = (_llm_bytes(model.llm) / 2 ** 20, lat * 1000, rate)
        del model, interp
    q, bf, fp = variants["4 bit"], variants["bfloat16"], variants["float32"]
    name = f"{Path(model_dir).name}"
    return [
        Row("LLM weights, 4 bit (NF4)", q[0], bf[0], "MB", "bfloat16",
            f"float32 {fp[0]:,.0f} MB ({q[0] / fp[0]:.2f}x); parameters + buffers of the base LLM, {name}"),
        Row("label scoring, batch 1, LLM in 4 bit (p50)", q[1], bf[1], "ms", "bfloat16",
            f"float32 {fp[1]:,.0f} ms ({q[1] / fp[1]:.2f}x); 4-bit compute and the rest in bfloat16, adapter unmerged"),
        Row("classification, whole clips, LLM in 4 bit", q[2], bf[2], "clips/s", "bfloat16",
            f"float32 {_num(fp[2])} clips/s ({q[2] / fp[2]:.2f}x); {len(clips)} clips"),
    ]


def bench_constrained(interp, clip, one, labels: Sequence[str], new_tokens: int) -> list[Row]:
    """The explanation decoder (inside the grammar, only supported cue phrases) against plain ``generate_text``
    (tokens/s, same window and prompt) and against the decoder it replaced (cue phrases the clip does not support
    barred as bad words; one clip's explanation, wall time)."""
    from transformers import NoBadWordsLogitsProcessor

    from .. import explain as T
    from ..explain.decode import answer_prefix, explanation_automaton
    from ..explain.constrained import GrammarLogitsProcessor
    from ..skeleton.cues import kinematic_cues

    model, stats = interp.model, interp.cue_stats
    cues = kinematic_cues(clip)
    label = labels[0]
    question, prefix = T.explain_question(labels), answer_prefix(label, "emotion")
    tok = model.processor.tokenizer

    def run(processor, limit=new_tokens):
        t0 = time.perf_counter()
        text = model.generate_text(one, question, prefix=prefix, max_new_tokens=limit, logits_processor=processor)[0]
        return time.perf_counter() - t0, max(1, len(tok(text, add_special_tokens=False)["input_ids"]))

    def grammar():
        auto = explanation_automaton(tok, labels, cues, stats, label=label)
        return GrammarLogitsProcessor([auto], model.processor.stop_ids, new_tokens)

    def barred():   # the previous grounded decoder: unsupported phrases (every spelling) as bad words
        checks = T.verify_claims(list(T.phrase_to_claim.values()), cues, stats, min_z=0.5, units={})
        forms = {f for c in checks if not c.supported for p in (c.phrase, c.phrase.capitalize())
                 for f in (p, " " + p, p + "s", " " + p + "s")}
        bad = [ids for f in sorted(forms) if (ids := tok(f, add_special_tokens=False)["input_ids"])]
        return NoBadWordsLogitsProcessor(bad, eos_token_id=model.processor.stop_ids) if bad else None

    run(grammar())                                   # warm-up (tokenizer caches)
    # the prompt and the first token cost the same whatever follows: decoding speed is over the tokens after it
    first = statistics.median(run(None, 1)[0] for _ in range(3))
    plain = [run(None) for _ in range(3)]
    ours = [run(grammar()) for _ in range(3)]
    old = [run(barred()) for _ in range(3)]
    rate = lambda runs: statistics.median(max(n - 1, 1) / max(t - first, 1e-6) for t, n in runs)
    wall = lambda runs: statistics.median(t for t, _ in runs)

    def whole(causal: bool) -> float:   # a whole interpret(): classification, the cue check, decoding
        t0 = time.perf_counter()
        interp.interpret(clip, attribute=False, causal=causal)
        return time.perf_counter() - t0

    whole(True)
    causal = [(whole(on), 0) for _ in range(3) for on in (True, False)]     # interleaved: on, off, on, ...
    return [Row("explanation, constrained decoding, tokens/s", rate(ours), rate(plain), "tokens/s",
                "plain generate_text, same window", "tokens after the first (the prompt's cost removed); median of 3"),
            Row("explanation of one clip, constrained decoder", wall(ours) * 1000, wall(old) * 1000, "ms",
                "the barred-phrases decoder it replaced", f"{ours[0][1]} vs {old[0][1]} tokens; median of 3"),
            Row("interpret one clip with its explanation, counterfactual cue check on", wall(causal[0::2]) * 1000,
                wall(causal[1::2]) * 1000, "ms", "the same with causal=False",
                "classification + check + decoding, interleaved runs; median of 3")]


def bench_train_step(model_dir: Path, skel, labels: Sequence[str], repeat: int, batch: int = 8) -> Row:
    """Stage-2 training throughput: forward + backward of a batch (LoRA trainable, float32 as the recipe trains)
    with the vocabulary head on answer positions only, against the causal LM's own loss over every position."""
    import torch

    from .. import explain as T
    from ..model.modeling import EaiLlmModel

    model = EaiLlmModel.from_pretrained(model_dir).train()
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    sub = skel.select(slice(0, batch))
    b = len(sub)
    example = "slow pace, head bowed and trunk leaning forward, typical of sadness."
    questions = [(T.classify_question if i % 2 else T.explain_question)(labels) for i in range(b)]
    answers = [T.answer_text(labels[i % len(labels)], None if i % 2 else example) for i in range(b)]
    data = model.processor.training_batch(questions, answers)

    def ours():
        model(data.input_ids, data.attention_mask, sub.positions, sub.frame_mask, sub.joint_mask, sub.layout_ids,
              labels=data.labels).loss.backward()
        model.zero_grad(set_to_none=True)

    def reference():
        embeds = model.embed_inputs(data.input_ids, sub)
        model.llm(inputs_embeds=embeds, attention_mask=data.attention_mask, labels=data.labels).loss.backward()
        model.zero_grad(set_to_none=True)

    ours(), reference()
    t, tr = min(_timed(ours, repeat)), min(_timed(reference, repeat))
    return Row("training stage 2 step (forward + backward)", b / t, b / tr, "samples/s",
               "loss over every position",
               f"batch {b}, {data.input_ids.shape[1]} tokens, float32; peak RSS then {_peak_rss_mb():,.0f} MB")


def _num(x: float) -> str:
    """One decimal, but three significant digits below 1 (0.032 clips/s must not print as 0.0)."""
    return f"{x:.3g}" if 0 < abs(x) < 1 else f"{x:,.1f}"


def format_table(rows: Sequence[Row]) -> str:
    lines = [f"machine: {platform.machine()} {platform.processor() or ''}".rstrip(),
             "| measurement | ours | reference | ours / reference | note |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        ref = f"{_num(r.reference)} {r.unit} ({r.reference_name})" if r.reference else "–"
        ratio = f"{r.ratio:.2f}x" if r.ratio else "–"
        lines.append(f"| {r.name} | {_num(r.ours)} {r.unit} | {ref} | {ratio} | {r.note} |")
    return "\n".join(lines)
