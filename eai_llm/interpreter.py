"""`EmotionInterpreter`: the one API that the CLI and the demo call.

    interp = EmotionInterpreter.from_pretrained("runs/default/model")
    result = interp.interpret("walk.bvh")          # Interpretation
    result.label, result.probabilities, result.explanation, result.evidence

Classification scores the closed label set on every window of the clip (one batched pass) and averages the
window probabilities. The explanation is generated for the clip's most representative window (the one most
confident in the clip's label), conditioned on that label by default, and every cue phrase in it is checked
against the clip's measured kinematic cues (the evidence table).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .progress import CallbackStreamer, progress_bar

__all__ = ["EmotionInterpreter", "Interpretation", "WindowScores", "default_model_dir"]

#: Where the bundled default model lives inside the installed package.
BUNDLED_DIR = Path(__file__).resolve().parent / "assets" / "default_model"


def default_model_dir() -> Path:
    if (BUNDLED_DIR / "config.json").is_file():
        return BUNDLED_DIR
    raise FileNotFoundError(
        f"{BUNDLED_DIR}: no bundled default model in this installation; pass a model directory "
        "(train one with `eai-llm train --config configs/default.yaml`)")


@dataclass
class Interpretation:
    """What the interpreter says about one clip."""

    label: str
    probabilities: dict[str, float]
    explanation: str | None                 # with measured values, e.g. "slow pace (0.62 m/s), ..."
    raw_explanation: str | None             # the model's words as generated
    cues: dict[str, float]                  # the measured cues the explanation cites
    evidence: list[dict]                    # one row per cited cue: value, unit, typical range, supported
    faithfulness: float | None              # share of cited cues the measurements support
    all_cues: dict[str, float]              # every cue measured on the clip
    timeline: list[dict] = field(default_factory=list)  # per window: start_s, end_s, probabilities
    task: str = "emotion"
    source: str = "<clip>"
    # the LLM's own label reading (its label likelihoods normalised over the label set, before fusion with the
    # skeleton tokenizer's head and before the calibration temperature); None when the LLM does not score labels
    llm_probabilities: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)   # facts about the input to distrust, e.g. unclear units
    layout: str | None = None
    duration_s: float | None = None
    # the explanation checked as a whole (eai_llm.explain.verification.check_explanation): it parses into the
    # grammar's segments; its "typical of" cues agree with the label's correlates (None: no such claim made)
    well_formed: bool | None = None
    plausible: bool | None = None
    # when the runner-up label is close: "rather than fatigue: fast hands (1.21 m/s)" (explain/contrast.py)
    contrast: str | None = None
    # which body parts, when, drove the reading of the explained window (explain/attribution.py)
    attribution: dict | None = None
    # the labels a split-conformal set at prediction_level keeps (most probable first), when the model folder has
    # a conformal.json (eai_llm/uncertainty.py); None otherwise
    prediction_set: list[str] | None = None
    prediction_level: float | None = None
    abstained: bool = False                 # interpret(abstain_below=p): the label is "uncertain"
    # is the clip like the training clips? (eai_llm/ood.py) ood_score: the largest check, 1.0 = threshold;
    # ood_components: each check's scaled value; when out, the reasons are in warnings and the explanation says so
    in_distribution: bool | None = None
    ood_score: float | None = None
    ood_components: dict[str, float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)


class WindowScores(tuple):
    """``(windows, probs)`` per clip, as :meth:`EmotionInterpreter.classify_windows` always returned (it still
    unpacks as a pair); ``llm_probs`` adds the LLM's own per-window label distribution per clip (or ``None``s),
    ``member_probs`` each head member's (members, windows, labels) per clip when the head is an ensemble."""

    def __new__(cls, windows: list, probs: list[np.ndarray], llm_probs: list[np.ndarray | None],
                member_probs: list[np.ndarray | None] | None = None):
        obj = super().__new__(cls, (windows, probs))
        obj.llm_probs = llm_probs
        obj.member_probs = member_probs if member_probs is not None else [None] * len(probs)
        return obj


class EmotionInterpreter:
    def __init__(self, model, cue_stats: dict, model_dir: Path | None = None, conformal=None, ood_reference=None):
        self.model = model.eval()
        self.ood_reference = ood_reference     # eai_llm.ood.CueReference of the training clips, or None
        self.cue_stats = cue_stats
        self.model_dir = model_dir
        self.config = model.config
        self.conformal = conformal             # eai_llm.uncertainty.ConformalCalibration of the emotion task, or None

    @classmethod
    def from_pretrained(cls, path: str | PathLike | None = None, *, device: str = "cpu",
                        dtype: str = "auto", verbose: bool = False, ensemble: bool = True) -> "EmotionInterpreter":
        """Load a model directory (``None``: the bundled default model) for inference.

        ``dtype="auto"`` runs the LLM in bfloat16 where the device computes it natively (a CPU with AMX or
        AVX512-BF16, a bf16 GPU), else float32; ``"float32"`` forces full precision. The LoRA adapter is merged.
        ``verbose``: let the third-party libraries' loading messages through (quiet by default).
        ``ensemble=False``: a model with an ensemble head (``head_members/``) reads with its own tokenizer's head
        alone (one tokenizer pass per window instead of one per member, and no disagreement check).
        """
        from .model.modeling import EaiLlmModel

        path = Path(path) if path is not None else default_model_dir()
        model = EaiLlmModel.from_pretrained(path, device=device, dtype=dtype, merge_adapter=True, verbose=verbose)
        if not ensemble:
            del model.head_members[:]
        stats_file = path / "cue_stats.json"
        if not stats_file.is_file():
            raise FileNotFoundError(f"{stats_file}: missing (the cue statistics explanations are judged against)")
        from .ood import CueReference
        from .uncertainty import ConformalCalibration

        return cls(model, json.loads(stats_file.read_text()), path, ConformalCalibration.load(path),
                   CueReference.load(path))

    @property
    def label_sets(self) -> dict[str, list[str]]:
        return self.config.label_sets

    def _labels(self, task: str) -> list[str]:
        if task not in self.label_sets:
            raise ValueError(f"task {task!r}: this model knows {sorted(self.label_sets)}")
        return list(self.label_sets[task])

    # ---- inputs -----------------------------------------------------------------------------
    def _clip(self, clip_or_path, layout=None):
        from .skeleton.clip import SkeletonClip
        from .skeleton.io import load_clip

        if isinstance(clip_or_path, SkeletonClip):
            return clip_or_path
        return load_clip(clip_or_path, layout=layout)

    def _windows(self, clip):
        from .skeleton.unify import prepare_windows

        d = self.config.data
        return prepare_windows(clip, fps=d.fps, window=self.config.tokenizer.window, stride=d.stride)

    def _skel(self, wb, layout_name: str):
        from .model.modeling import SkeletonInput

        ids = self.model.skeleton_tokenizer.layout_ids([layout_name] * len(wb)).numpy()
        return SkeletonInput.from_numpy(wb.positions, wb.frame_mask, wb.joint_mask, ids)

    # ---- API --------------------------------------------------------------------------------
    def classify_windows(self, clips: Sequence, task: str = "emotion", batch_size: int = 32) -> WindowScores:
        """Per-clip window probabilities, scoring all windows of all clips in batches.

        Returns :class:`WindowScores`: unpacks as ``(windows, probs)``; ``.llm_probs`` holds the LLM's own
        label distribution per window (before fusion and temperature), or ``None`` per clip when the model's
        probabilities do not come from the LLM (``fusion_weight`` 1 with a classification head).
        """
        import torch

        from . import explain as T
        from .model.modeling import SkeletonInput

        labels = self._labels(task)
        question = T.classify_question(labels, task)
        wbs = [self._windows(c) for c in clips]
        skel = [self._skel(wb, c.layout.name) for wb, c in zip(wbs, clips)]
        allin = SkeletonInput(*(torch.cat([getattr(s, f) for s in skel]) for f in
                                ("positions", "frame_mask", "joint_mask", "layout_ids")))
        fused, llm, members = [], [], []
        for i in range(0, len(allin), batch_size):
            f, l, m = self._label_scores(allin.select(slice(i, i + batch_size)), question, labels, task)
            fused.append(f)
            llm.append(l)
            members.append(m)
        probs = torch.cat(fused).cpu().numpy()
        llm_probs = torch.cat(llm).cpu().numpy() if all(l is not None for l in llm) else None
        member_probs = torch.cat(members, 1).cpu().numpy() if all(m is not None for m in members) else None
        bounds = np.cumsum([0] + [len(wb) for wb in wbs])
        spans = list(zip(bounds[:-1], bounds[1:]))
        return WindowScores(wbs, [probs[a:b] for a, b in spans],
                            [llm_probs[a:b] if llm_probs is not None else None for a, b in spans],
                            [member_probs[:, a:b] if member_probs is not None else None for a, b in spans])

    def _label_scores(self, skel, question: str, labels: list[str], task: str = "emotion"):
        """(fused, llm, members): the shipped label probabilities, the LLM's own distribution (one LLM pass), and
        each head member's probabilities (M, B, L) when the head is an ensemble (else None).

        The pooling is :meth:`EaiLlmModel.label_probabilities`'s (log-linear with the tokenizer head, the members'
        mean probability, at ``fusion_weight``, then the calibration temperature); ``tests/test_interpreter.py``
        checks that both agree.
        """
        import torch
        import torch.nn.functional as F

        from .model.heads import pool_members

        model, cfg = self.model, self.config
        w = cfg.fusion_weight
        if not hasattr(model, "label_logprobs"):     # a model without separate LLM scoring
            return model.label_probabilities(skel, question, labels), None, None
        members = model.head_member_logprobs(skel, labels, task) if w > 0 else None
        head = None if members is None else pool_members(members)
        spread = members.exp() if members is not None and len(members) > 1 else None
        if head is not None and w >= 1.0:            # the head alone: the LLM does not score the labels
            return torch.softmax(head / cfg.temperature, dim=-1), None, spread
        llm = F.log_softmax(model.label_logprobs(skel, question, labels).float(), dim=-1)
        pooled = llm if head is None else (1.0 - w) * llm + w * head
        return torch.softmax(pooled / cfg.temperature, dim=-1), llm.exp(), spread

    def interpret(self, clip_or_path, *, explain: bool = True, task: str = "emotion", layout: str | None = None,
                  max_new_tokens: int = 40, do_sample: bool = False, conditioned: bool = True,
                  grounded: bool = True, on_text: Callable[[str], None] | None = None,
                  on_classified: Callable[[Interpretation], None] | None = None,
                  abstain_below: float | None = None, attribute: bool = True, causal: bool = True) -> Interpretation:
        """Interpret one clip (a :class:`SkeletonClip` or a path).

        ``conditioned``: the explanation continues the predicted label (else the model names the label itself).
        ``grounded``: decode inside the explanation grammar with only the cue phrases the clip's measurements
        support, that apply to the movement and agree with the label (``eai_llm.explain.constrained``); the model
        still chooses which of them to say. ``False``: plain generation (to compare).
        ``on_classified`` receives the result as soon as the label, probabilities, timeline and cues are known
        (before the explanation is generated); ``on_text`` then receives the explanation as it streams.
        ``abstain_below``: when the top probability is below it, the label is ``"uncertain"`` (``abstained``) and no
        explanation is written; the probabilities and the prediction set stay.
        ``attribute``: with an explanation, also find which body parts, when, drove the reading (``attribution``;
        one more batched scoring of 25 windows).
        ``causal``: with grounded decoding, an editable cue may be cited only when neutralising it in the motion
        lowers the head's p(label) of the clip more than neutralising an editable cue at random does
        (``eai_llm.explain.causal``; one batched tokenizer pass over the edited clips' windows).
        """
        return self.interpret_batch([clip_or_path], explain=explain, task=task, layout=layout,
                                    max_new_tokens=max_new_tokens, do_sample=do_sample, conditioned=conditioned,
                                    grounded=grounded, on_text=on_text, on_classified=on_classified,
                                    abstain_below=abstain_below, attribute=attribute, causal=causal)[0]

    def interpret_batch(self, clips: Sequence, *, explain: bool = True, task: str = "emotion",
                        layout: str | None = None, max_new_tokens: int = 40, do_sample: bool = False,
                        conditioned: bool = True, grounded: bool = True,
                        on_text: Callable[[str], None] | None = None,
                        on_classified: Callable[[Interpretation], None] | None = None,
                        progress=False, batch_size: int = 32, clips_per_step: int = 16,
                        abstain_below: float | None = None, attribute: bool = True,
                        causal: bool = True) -> list[Interpretation]:
        """Interpret many clips (each a :class:`SkeletonClip` or a path) with one model.

        Clips are classified ``clips_per_step`` at a time, their windows scored together in batches of
        ``batch_size``; each clip's explanation follows its classification. ``progress``: ``True`` shows a
        tqdm bar on stderr (one step per clip), or pass your own tqdm-like object (``update``/``close``).
        """
        from .skeleton.cues import kinematic_cues

        if abstain_below is not None and not 0.0 <= abstain_below <= 1.0:
            raise ValueError(f"abstain_below must be a probability in [0, 1], got {abstain_below}")
        labels = self._labels(task)
        clips = [self._clip(c, layout) for c in clips]
        bar = progress_bar(progress, len(clips), "explaining" if explain else "classifying")
        results = []
        try:
            for g in range(0, len(clips), max(1, clips_per_step)):
                group = clips[g:g + max(1, clips_per_step)]
                scores = self.classify_windows(group, task, batch_size)
                wbs, probs = scores
                llm_probs = getattr(scores, "llm_probs", [None] * len(group))
                member_probs = getattr(scores, "member_probs", [None] * len(group))
                for clip, wb, p, lp, mp in zip(group, wbs, probs, llm_probs, member_probs):
                    results.append(self._one(clip, wb, p, lp, labels, task, member_probs=mp, explain=explain,
                                             max_new_tokens=max_new_tokens, do_sample=do_sample,
                                             conditioned=conditioned, grounded=grounded, on_text=on_text,
                                             on_classified=on_classified, cues=kinematic_cues(clip),
                                             abstain_below=abstain_below, attribute=attribute, causal=causal))
                    bar.update(1)
        finally:
            if progress is True:      # a bar the caller passed stays theirs to close
                bar.close()
        return results

    def _one(self, clip, wb, p, lp, labels, task, *, member_probs=None, explain, max_new_tokens, do_sample, conditioned, grounded,
             on_text, on_classified, cues, abstain_below=None, attribute=True, causal=True) -> Interpretation:
        mean = p.mean(axis=0)
        k = int(mean.argmax())
        timeline = [{"start_s": float(s / wb.fps), "end_s": float((s + int(m.sum())) / wb.fps),
                     "probabilities": dict(zip(labels, map(float, row)))}
                    for s, m, row in zip(wb.starts, wb.frame_mask, p)]
        meta_warnings = clip.meta.get("warnings", []) if isinstance(clip.meta, dict) else []
        res = Interpretation(label=labels[k], probabilities=dict(zip(labels, map(float, mean))), explanation=None,
                             raw_explanation=None, cues={}, evidence=[], faithfulness=None, all_cues=cues,
                             timeline=timeline, task=task, source=clip.source,
                             llm_probabilities=None if lp is None else dict(zip(labels, map(float, lp.mean(axis=0)))),
                             warnings=[str(w) for w in meta_warnings], layout=clip.layout.name,
                             duration_s=round(float(clip.duration), 3))
        self._assess(res, clip, cues, member_probs)
        if self.conformal is not None and task == "emotion":
            res.prediction_set = [labels[i] for i in self.conformal.sets(mean[None])[0]]
            res.prediction_level = self.conformal.level
        if abstain_below is not None and float(mean[k]) < abstain_below:
            res.label, res.abstained, explain = "uncertain", True, False
        if on_classified is not None:
            on_classified(res)
        if explain:
            from .explain.attribution import body_part_attribution

            best = int(p[:, k].argmax())
            window = self._skel(wb, clip.layout.name).select(slice(best, best + 1))
            if attribute:
                res.attribution = body_part_attribution(self, window, label=res.label, labels=labels, task=task,
                                                        window_start_s=float(wb.starts[best] / wb.fps))
            effects = None
            if grounded and causal:
                effects = self._cue_effects(clip, wb, res, labels)
            self._explain(res, window, labels, max_new_tokens=max_new_tokens, do_sample=do_sample,
                          conditioned=conditioned, grounded=grounded, on_text=on_text, effects=effects)
        return res

    def _assess(self, res: Interpretation, clip, cues: dict[str, float], member_probs=None) -> None:
        from .ood import assess
        from .uncertainty import mutual_information

        # the head members' disagreement on the clip: each member's window probabilities averaged, then their MI
        mi = None if member_probs is None else float(mutual_information(member_probs.mean(axis=1)[:, None])[0])
        report = assess(clip, cues, self.ood_reference, disagreement=mi)
        res.in_distribution, res.ood_score = report.in_distribution, round(report.score, 4)
        res.ood_components = report.components
        if not report.in_distribution:
            res.warnings.append(f"out of distribution (score {report.score:.2f}, threshold 1.00): the reading is "
                                f"unreliable; " + "; ".join(report.reasons))

    def what_if(self, clip_or_path, cues: Sequence[str], *, targets: dict[str, float] | None = None,
                task: str = "emotion"):
        """Edit the motion so that ``cues`` move to their typical value (or ``targets``) and re-classify it:
        a :class:`~eai_llm.counterfactual.WhatIf` with p(label) before and after and the re-measured cues.
        Editable cues: :data:`eai_llm.skeleton.edits.EDITABLE_CUES`."""
        from .counterfactual import what_if

        return what_if(self, clip_or_path, cues, targets=targets, task=task)

    def _cue_effects(self, clip, wb, res: Interpretation, labels: list[str]):
        """The measured effects of the editable cues that apply to the clip (``eai_llm.explain.causal``)."""
        from .explain.causal import cue_effects
        from .explain.evidence import applicable

        names = [c for c in res.all_cues if applicable(c, res.all_cues)]
        return cue_effects(self, clip, names, labels, res.task, wb=wb)

    def _explain(self, res: Interpretation, skel, labels: list[str], *, max_new_tokens: int, do_sample: bool,
                 conditioned: bool, grounded: bool, on_text, effects=None) -> None:
        from . import explain as T
        from .explain.contrast import runner_up
        from .explain.decode import generate_answer

        streamer = CallbackStreamer(self.model.processor.tokenizer, on_text) if on_text else None
        answer, new = generate_answer(self.model, skel, label=res.label, labels=labels, cues=res.all_cues,
                                      stats=self.cue_stats, task=res.task, conditioned=conditioned,
                                      grounded=grounded, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                      streamer=streamer, label_prior=res.probabilities,
                                      prior_weight=self.config.fusion_weight, effects=effects)
        parsed = T.parse_answer(answer, labels)
        explanation = parsed.explanation if parsed.ok else new.strip()
        res.raw_explanation = answer.strip()
        check = T.check_explanation(explanation or "", res.label, labels, res.all_cues, self.cue_stats, task=res.task)
        if check.well_formed:
            rows = [dict(c.to_dict(), role=r) for c, r in zip(check.checks, check.roles)]
        else:     # free text: every vocabulary phrase in it is a claim
            rows = [dict(c.to_dict(), role="support") for c in
                    T.verify_claims(T.extract_claims(explanation or ""), res.all_cues, self.cue_stats,
                                    label=res.label, task=res.task)]
        res.evidence = rows
        res.cues = {r["cue"]: res.all_cues[r["cue"]] for r in rows if r["cue"] in res.all_cues}
        res.faithfulness = T.faithfulness(explanation or "", res.all_cues, self.cue_stats)
        res.well_formed, res.plausible = check.well_formed, check.plausible
        res.explanation = T.annotate(explanation, res.all_cues, self.cue_stats) if explanation else None
        if res.explanation and res.in_distribution is False:
            res.explanation += " (unreliable reading: the clip is out of distribution)"
        other = runner_up(res.probabilities)
        res.contrast = T.contrast_text(res.label, other, res.all_cues, self.cue_stats, task=res.task) if other else None
