"""Does a deep ensemble's disagreement tell foreign clips from real ones? (Issue 13: "a student ensemble that
detects out-of-domain inputs"; Deng et al. 2021.)

On the leave-one-content-type-out folds of `eai-llm evaluate`, each fold's ensemble (the recipe's tokenizer and
its teachers, :mod:`.probe`) scores its held-out real clips (in distribution), the same clips in each of
:data:`.ood.CORRUPTIONS`, and the procedural clips of :mod:`eai_llm.data.synthetic` (out). Two scores per clip:

- ``mutual_information``: H(mean of the members) - mean of the members' H (the members' disagreement, the
  epistemic part of the uncertainty; Depeweg et al. 2018);
- ``max_prob``: 1 - the ensemble's top probability (total uncertainty, the baseline).

- ``shipped_check``: the interpreter's whole out-of-distribution score with an ensemble head (:func:`eai_llm.ood.assess`
  with ``disagreement``: the cue-space reference fitted on the fold's training clips of both datasets, as the
  bundle's is on all of them), beside ``cue_checks``, the same without the disagreement component.

Reported: the AUROC of each score, over all out clips and per kind, and the share of each kind the shipped check
flags (score >= 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..uncertainty import mutual_information
from .metrics import EMOTION7
from .ood import CORRUPTIONS, auroc, corrupt, procedural_clips

__all__ = ["mutual_information", "evaluate_disagreement"]


def _fold_members(run: Path, members: int) -> list:
    from ..tokenizer.mgst import SkeletonTokenizer
    from ..training.distill import teacher_dir

    stage1 = Path("checkpoints") / "stage1_tokenizer"
    folders = [run / stage1, *(teacher_dir(run, i) / stage1 for i in range(1, members))]
    missing = [str(f) for f in folders if not (f / "model.safetensors").is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: ensemble member not trained (run `eai-llm evaluate --systems "
                                "tokenizer-linear-ensemble` on these folds first)")
    return [SkeletonTokenizer.from_pretrained(f).eval() for f in folders]


def _training_cues(data: Path, data2: Path | None, progress: bool) -> tuple[list[dict], np.ndarray]:
    """Kinematic cues and content types of every clip the bundle's cue reference is fitted on (dataset-1's style
    and emotion clips, dataset-2's), each file once."""
    from tqdm.auto import tqdm

    from ..data import datasets as D
    from ..skeleton.cues import kinematic_cues
    from ..skeleton.io import load_clip

    recs = D.records_from_bandai(data, task="style") + D.records_from_bandai(data, balance_normal=True)
    recs += D.records_from_bandai2(data2) if data2 else []
    files: dict[str, str] = {}
    for r in recs:
        files.setdefault(r.path, r.group)
    cues = [kinematic_cues(load_clip(p)) for p in tqdm(list(files), desc="cue reference", unit="clip",
                                                         disable=not progress)]
    return cues, np.array(list(files.values()))


def evaluate_disagreement(data: str | Path, runs: str | Path, out: str | Path, *, members: int = 5,
                          groups: Sequence[str] | None = None, fps: float = 20.0, stride: int = 16,
                          synthetic_per_class: int = 2, data2: str | Path | None = None,
                          progress: bool = True) -> dict:
    """Score every fold's held-out clips, their corruptions and procedural clips with the fold's ensemble
    (``runs/<group>`` as `eai-llm evaluate` leaves them: ``<out>/runs/full``); write ``disagreement.json/.md``.
    ``data2``: dataset-2's folder, whose clips join every fold's cue reference (as in the bundle's)."""
    from tqdm.auto import tqdm

    from ..data.datasets import records_from_bandai
    from ..ood import assess, fit_cue_reference
    from ..skeleton.cues import kinematic_cues
    from ..skeleton.io import load_clip
    from .probe import clip_probabilities

    records = records_from_bandai(data, "emotion", balance_normal=True)
    groups = list(groups or sorted({r.group for r in records}))
    procedural = procedural_clips(synthetic_per_class)
    ref_cues, ref_groups = _training_cues(Path(data), Path(data2) if data2 else None, progress)
    rows: list[dict] = []
    for g in tqdm(groups, desc="folds", unit="fold", disable=not progress):
        toks = _fold_members(Path(runs) / g, members)
        keep = np.flatnonzero(ref_groups != g)
        ref = fit_cue_reference([ref_cues[i] for i in keep], ref_groups[keep].tolist(), source=f"all but {g}")
        held = [load_clip(r.path) for r in records if r.group == g]
        sets = [("real", held)] + [(k, [corrupt(c, k, seed=i * 31 + j) for i, c in enumerate(held)])
                                   for j, k in enumerate(CORRUPTIONS)] + [("procedural", procedural)]
        for kind, clips in sets:
            p = clip_probabilities(toks, clips, fps=fps, stride=stride, labels=EMOTION7)
            for clip, mi, top in zip(clips, mutual_information(p), p.mean(0).max(1)):
                cues = kinematic_cues(clip)
                rows.append({"fold": g, "kind": kind, "mutual_information": float(mi), "max_prob": float(1 - top),
                             "cue_checks": assess(clip, cues, ref).score,
                             "shipped_check": assess(clip, cues, ref, disagreement=float(mi)).score})
    return _report(rows, Path(out), members)


def _report(rows: list[dict], out: Path, members: int) -> dict:
    scores = ("mutual_information", "max_prob", "cue_checks", "shipped_check")
    real = {s: [r[s] for r in rows if r["kind"] == "real"] for s in scores}
    kinds = sorted({r["kind"] for r in rows} - {"real"}, key=lambda k: (k == "procedural", k))
    result = {"members": members, "real_clips": len(real[scores[0]]),
              "auroc": {s: auroc(real[s], [r[s] for r in rows if r["kind"] != "real"]) for s in scores},
              "per_kind": {k: {s: auroc(real[s], [r[s] for r in rows if r["kind"] == k]) for s in scores}
                           for k in kinds},
              "flagged": {k: float(np.mean([r["shipped_check"] >= 1 for r in rows if r["kind"] == k]))
                          for k in ["real", *kinds]}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "disagreement.json").write_text(json.dumps({**result, "rows": rows}, indent=1))
    lines = [f"# Ensemble disagreement as an out-of-distribution score ({members} members per fold)", "",
             f"{result['real_clips']} real held-out clips (in) against their corruptions and procedural clips (out), "
             "each fold's ensemble scoring its own held-out clips. AUROC (1.0 = every out clip scores above every "
             "in clip, 0.5 = chance), and the share the shipped check flags (score >= 1):", "",
             "| kind | mutual information | 1 - top probability | cue checks | shipped check (+ disagreement) | "
             "flagged by the shipped check |", "| --- | --- | --- | --- | --- | --- |",
             f"| real (in) | | | | | {100 * result['flagged']['real']:.1f}% |",
             "| all out | " + " | ".join(f"{result['auroc'][s]:.3f}" for s in scores) + " | |"]
    lines += [f"| {k} | " + " | ".join(f"{v[s]:.3f}" for s in scores) + f" | {100 * result['flagged'][k]:.1f}% |"
              for k, v in result["per_kind"].items()]
    (out / "disagreement.md").write_text("\n".join(lines) + "\n")
    return result
