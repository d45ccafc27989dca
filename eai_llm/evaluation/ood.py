"""How well the out-of-distribution check (:mod:`eai_llm.ood`) separates real clips from corrupted and foreign ones.

The test set is built from real clips: every held-out clip of a leave-one-content-type-out fold is scored as it is
(in distribution) and in each of :data:`CORRUPTIONS` (out), against a cue reference fitted on that fold's training
clips only (dataset-1 without the held-out content type, plus every dataset-2 clip); dataset-2's content types
are held out the same way. Procedural clips (``eai_llm.data.synthetic``) are the "movement from nowhere" kind.
The report: AUROC of ``ood_score`` (in vs out), the share flagged per kind at the documented threshold (1.0), and
every real held-out clip that was flagged (the target: none).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..ood import assess, fit_cue_reference
from ..skeleton.clip import SkeletonClip
from ..skeleton.layouts import UNIFIED, Layout

__all__ = ["CORRUPTIONS", "corrupt", "procedural_clips", "auroc", "evaluate_ood"]

_U = UNIFIED.index


def _layout(name: str, joints: Sequence[tuple[str, str | None]]) -> Layout:
    return Layout.from_dict({"name": name, "description": f"a foreign rig for the OOD test ({name})",
                             "joints": [{"name": j.upper(), "parent": p.upper() if p else None, "unified": j}
                                        for j, p in joints]})


#: Foreign rigs: a 6-point tracker set (head, wrists, pelvis, ankles) and an upper body without legs.
TRACKER_6 = _layout("tracker_6", [("pelvis", None), ("head", "pelvis"), ("l_wrist", "pelvis"),
                                  ("r_wrist", "pelvis"), ("l_ankle", "pelvis"), ("r_ankle", "pelvis")])
UPPER_BODY = _layout("upper_body_10", [("pelvis", None), ("neck", "pelvis"), ("head", "neck"),
                                       ("l_shoulder", "neck"), ("l_elbow", "l_shoulder"), ("l_wrist", "l_elbow"),
                                       ("r_shoulder", "neck"), ("r_elbow", "r_shoulder"), ("r_wrist", "r_elbow")])
# a rig whose joint names were matched wrongly: arms read as legs and legs as arms
_SWAP = [("l_shoulder", "l_hip"), ("l_elbow", "l_knee"), ("l_wrist", "l_ankle"),
         ("r_shoulder", "r_hip"), ("r_elbow", "r_knee"), ("r_wrist", "r_ankle")]


def _with(clip: SkeletonClip, positions: np.ndarray, what: str, **kw) -> SkeletonClip:
    meta = {k: v for k, v in clip.meta.items() if k not in ("warnings", "units_unclear", "body_height_m")}
    return SkeletonClip(positions.astype(np.float32), kw.get("fps", clip.fps), kw.get("layout", clip.layout),
                        clip.label, dict(meta, source=f"{clip.source} [{what}]"))


def _unified_part(clip: SkeletonClip, layout: Layout) -> SkeletonClip:
    from ..skeleton.unify import to_unified

    unified, _ = to_unified(clip)
    idx = [_U[layout.to_unified[j]] for j in layout.joint_names]
    return _with(clip, unified.positions[:, idx], layout.name, layout=layout)


def _random_walk(clip: SkeletonClip, rng: np.random.Generator, joints: Sequence[int] | None) -> SkeletonClip:
    pos = clip.positions.astype(np.float64).copy()
    sel = np.arange(clip.num_joints) if joints is None else np.asarray(joints)
    steps = rng.normal(0.0, 0.02, size=(clip.num_frames, len(sel), 3))          # 2 cm per frame
    pos[:, sel] = pos[0, sel] + np.cumsum(steps, axis=0)
    return _with(clip, pos, "random walk" if joints is None else "random-walk joints")


def _frozen_joints(clip: SkeletonClip) -> SkeletonClip:
    pos = clip.positions.copy()
    names = [j for j, u in clip.layout.to_unified.items() if u in ("l_wrist", "r_wrist", "l_elbow", "r_elbow")]
    sel = [clip.layout.index[j] for j in names]
    pos[:, sel] = pos[:1, sel]
    return _with(clip, pos, "frozen arms")


def _swapped(clip: SkeletonClip) -> SkeletonClip:
    from ..skeleton.unify import to_unified

    unified, _ = to_unified(clip)
    pos = unified.positions.copy()
    for a, b in _SWAP:
        pos[:, [_U[a], _U[b]]] = pos[:, [_U[b], _U[a]]]
    return _with(clip, pos, "arms and legs swapped", layout=UNIFIED)


def _scaled(clip: SkeletonClip, factor: float, what: str) -> SkeletonClip:
    return _with(clip, clip.positions * factor, what)


#: name -> corruption of a real clip (seeded by the clip's index).
CORRUPTIONS: dict[str, Callable[[SkeletonClip, np.random.Generator], SkeletonClip]] = {
    "body 23 cm tall": lambda c, r: _scaled(c, 0.135, "23 cm tall"),
    "centimetres read as metres": lambda c, r: _scaled(c, 100.0, "x100"),
    "random-walk joints (3)": lambda c, r: _random_walk(c, r, r.choice(c.num_joints, 3, replace=False)),
    "every joint a random walk": lambda c, r: _random_walk(c, r, None),
    "frozen arms": lambda c, r: _frozen_joints(c),
    "frozen clip": lambda c, r: _with(c, np.repeat(c.positions[:1], c.num_frames, 0), "frozen"),
    "tracker rig (6 joints)": lambda c, r: _unified_part(c, TRACKER_6),
    "upper body only": lambda c, r: _unified_part(c, UPPER_BODY),
    "arms and legs mapped wrongly": lambda c, r: _swapped(c),
    "frame rate 4x too low (sped up)": lambda c, r: _with(c, c.positions, "4x speed", fps=c.fps * 4),
}


def corrupt(clip: SkeletonClip, kind: str, seed: int = 0) -> SkeletonClip:
    """``clip`` with one of :data:`CORRUPTIONS` applied."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}, expected one of {list(CORRUPTIONS)}")
    return CORRUPTIONS[kind](clip, np.random.default_rng(seed))


def procedural_clips(per_class: int) -> list[SkeletonClip]:
    """The "movement from nowhere" of the OOD test set: ``per_class`` procedural clips per emotion and content."""
    from ..data.synthetic import CONTENTS, EMOTIONS, synthetic_clip

    return [synthetic_clip(emotion, seconds=6.0, seed=1000 + e * 97 + s, content=content)
            for e, emotion in enumerate(EMOTIONS) for content in CONTENTS for s in range(per_class)]


def auroc(scores_in: Sequence[float], scores_out: Sequence[float]) -> float:
    """P(score of an out clip > score of an in clip), ties counting half (the Mann-Whitney statistic)."""
    a, b = np.asarray(scores_in, float), np.asarray(scores_out, float)
    if not len(a) or not len(b):
        raise ValueError("auroc needs scores of both kinds")
    greater = (b[:, None] > a[None, :]).sum() + 0.5 * (b[:, None] == a[None, :]).sum()
    return float(greater / (len(a) * len(b)))


def evaluate_ood(data1: str | Path, data2: str | Path | None, out: str | Path, *, synthetic_per_class: int = 4,
                 progress: bool = True) -> dict:
    """Score every held-out real clip, its corruptions and procedural clips; write ``ood.json`` + ``ood.md``."""
    from tqdm.auto import tqdm

    from ..data import datasets as D
    from ..skeleton.cues import kinematic_cues
    from ..skeleton.io import load_clip

    recs = D.records_from_bandai(data1, task="style") + D.records_from_bandai(data1, balance_normal=True)
    recs += D.records_from_bandai2(data2) if data2 else []
    files: dict[str, tuple[str, str]] = {}
    for r in recs:
        files.setdefault(r.path, (("dataset-2" if r.group.startswith("dataset-2") else "dataset-1"), r.group))
    paths = list(files)
    clips = [load_clip(p) for p in tqdm(paths, desc="loading", unit="clip", disable=not progress)]
    cues = [kinematic_cues(c) for c in tqdm(clips, desc="cues", unit="clip", disable=not progress)]
    groups = np.array([files[p][1] for p in paths])
    rows: list[dict] = []
    kinds = list(CORRUPTIONS)
    for g in tqdm(sorted(set(groups)), desc="folds", unit="fold", disable=not progress):
        train = np.flatnonzero(groups != g)
        ref = fit_cue_reference([cues[i] for i in train], groups[train].tolist(), source=f"all but {g}")
        for i in np.flatnonzero(groups == g):
            rep = assess(clips[i], cues[i], ref)
            rows.append({"kind": "real", "dataset": files[paths[i]][0], "group": g, "clip": Path(paths[i]).stem,
                         "score": rep.score, "components": rep.components, "reasons": rep.reasons})
            if files[paths[i]][0] != "dataset-1":
                continue
            for k, kind in enumerate(kinds):
                bad = corrupt(clips[i], kind, seed=int(i) * 31 + k)
                rep = assess(bad, kinematic_cues(bad), ref)
                rows.append({"kind": kind, "dataset": "dataset-1", "group": g, "clip": Path(paths[i]).stem,
                             "score": rep.score, "components": rep.components, "reasons": rep.reasons})
    full = fit_cue_reference(cues, groups.tolist(), source="all clips")
    for clip in procedural_clips(synthetic_per_class):
        content = clip.meta["content"]
        rep = assess(clip, kinematic_cues(clip), full)
        rows.append({"kind": f"procedural {content}", "dataset": "synthetic", "group": content,
                     "clip": clip.source, "score": rep.score, "components": rep.components, "reasons": rep.reasons})
    return _report(rows, Path(out), cue_threshold=full.threshold)


def _report(rows: list[dict], out: Path, cue_threshold: float) -> dict:
    real = [r["score"] for r in rows if r["kind"] == "real"]
    bad = [r["score"] for r in rows if r["kind"] != "real"]
    per_kind = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        s = [r["score"] for r in rows if r["kind"] == kind]
        per_kind[kind] = {"clips": len(s), "flagged": int(sum(x >= 1.0 for x in s)),
                          "auroc": None if kind == "real" else auroc(real, s),
                          "median_score": float(np.median(s))}
    flagged_real = [r for r in rows if r["kind"] == "real" and r["score"] >= 1.0]
    metrics = {"auroc": auroc(real, bad), "real_clips": len(real), "out_clips": len(bad),
               "real_flagged": len(flagged_real), "per_kind": per_kind,
               "flagged_real_clips": [{k: r[k] for k in ("dataset", "group", "clip", "score", "reasons")}
                                      for r in flagged_real],
               "max_real_components": {c: max(r["components"].get(c, 0.0) for r in rows if r["kind"] == "real")
                                       for c in ("body_size", "coverage", "bone_stretch", "motionless", "motion")},
               "cue_threshold_all_clips": cue_threshold}
    out.mkdir(parents=True, exist_ok=True)
    (out / "ood.json").write_text(json.dumps(metrics, indent=2))
    lines = ["# Out-of-distribution check", "",
             f"AUROC in vs out: **{metrics['auroc']:.3f}** ({len(real)} real held-out clips, {len(bad)} out); "
             f"real clips flagged: **{len(flagged_real)}**", "",
             "| kind | clips | flagged (score >= 1) | AUROC vs real | median score |", "| --- | --- | --- | --- | --- |"]
    for kind, m in per_kind.items():
        au = "" if m["auroc"] is None else f"{m['auroc']:.3f}"
        lines.append(f"| {kind} | {m['clips']} | {m['flagged']} ({m['flagged'] / m['clips']:.0%}) | {au} | "
                     f"{m['median_score']:.2f} |")
    lines += ["", "Largest component over the real held-out clips (1.0 = threshold): " +
              ", ".join(f"{k} {v:.2f}" for k, v in metrics["max_real_components"].items())]
    (out / "ood.md").write_text("\n".join(lines) + "\n")
    return metrics
