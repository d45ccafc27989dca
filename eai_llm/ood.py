"""Is this clip like anything the model knows? An out-of-distribution score with a documented threshold.

Up to six checks, each scaled so that **1.0 is its threshold**; ``ood_score`` is the largest, and a clip is
``in_distribution`` when ``ood_score < 1``. Every check is a measured quantity, so a warning says what was wrong:

- ``body_size``: the bone-chain height (both legs hip-knee-ankle averaged, pelvis-neck-head, +10%: the quantity
  :func:`eai_llm.skeleton.unify.body_height` normalises by) against :data:`BONE_HEIGHT_RANGE_M`. Real Bandai Namco
  actors measure 1.36-1.40 m on it (about 0.81 of standing height), so the range (0.8, 1.9) m covers standing
  heights of about 1.0-2.35 m. The score is the log distance from the range's geometric centre (1.23 m) over
  that of its ends: real actors score about 0.3, a body 23 cm tall about 4.3. A reader that marked the units
  unclear scores 1 too;
- ``coverage``: unified core joints (:data:`~eai_llm.skeleton.layouts.UNIFIED_CORE_JOINTS`, 15) the rig does not
  map, divided by :data:`MAX_MISSING_CORE` (3). Every built-in layout maps all of them;
- ``bone_stretch``: the largest coefficient of variation over frames of a mapped bone's length (bones of a mean
  length over 2 cm), over :data:`BONE_CV_LIMIT` (0.25). Mocap bones are rigid (CV about 1e-6), pose estimators'
  vary by a few per cent; a joint that drifts as a random walk or stays frozen while the body moves stretches its
  bones;
- ``motionless``: :data:`MIN_MOTION_M` (2 mm) over the 95th percentile, across the mapped joints, of each joint's
  positional spread (root of the summed per-axis variance over frames). The stillest real clip measures 9.6 mm;
  a frozen clip scores :data:`SCORE_CAP`;
- ``motion``: the distance in kinematic-cue space to the nearest training clip, over the threshold fitted on the
  training clips (:class:`CueReference`, saved as ``ood.json`` in the model folder; the check is skipped without
  one). The 22 cues of :mod:`eai_llm.skeleton.cues` are robust-standardised (median, IQR / 1.349 of the training
  clips; a missing cue counts as the median); the threshold is a margin times the largest distance of a training
  clip to its nearest training clip *of another content type* (group), so that content types unlike the rest of
  training are known territory by construction. The margin is :data:`THRESHOLD_MARGIN` (1.1) or, when an inner
  leave-one-group-out over the training clips asks for more, the largest ratio it finds (:func:`_threshold`);
  everything is fitted on training clips only;
- ``disagreement``: with an ensemble head (``head_members/`` in the model folder, :mod:`eai_llm.model.heads`), the
  mutual information between the members' clip readings over :data:`DISAGREEMENT_THRESHOLD` (0.45 nats). The
  threshold was set from the 8 leave-one-content-type-out fold ensembles of ``docs/results.md`` (5 members each):
  their 63 held-out real clips reach at most 0.42 (99th percentile 0.37), so 0.45 is just above the highest real
  clip of a content type the ensemble never saw; there 15% of the procedural clips, which no other check flags,
  lie above it. It catches motion that looks plausible in cue space but that the members read differently.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .skeleton.clip import SkeletonClip
from .skeleton.cues import CUES
from .skeleton.layouts import UNIFIED, UNIFIED_CORE_JOINTS
from .skeleton.unify import body_height, to_unified

__all__ = ["OodReport", "CueReference", "assess", "fit_cue_reference", "OOD_FILE", "BONE_HEIGHT_RANGE_M",
           "MAX_MISSING_CORE", "BONE_CV_LIMIT", "MIN_MOTION_M", "THRESHOLD_MARGIN", "SCORE_CAP",
           "DISAGREEMENT_THRESHOLD"]

OOD_FILE = "ood.json"
BONE_HEIGHT_RANGE_M = (0.8, 1.9)
MAX_MISSING_CORE = 3
BONE_CV_LIMIT = 0.25
MIN_BONE_M = 0.02
MIN_MOTION_M = 0.002
THRESHOLD_MARGIN = 1.1
DISAGREEMENT_THRESHOLD = 0.45
SCORE_CAP = 100.0

_U = UNIFIED.index
_CHAIN = [("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"),
          ("pelvis", "neck"), ("neck", "head")]
_BONES = np.array([(p, c) for c, p in enumerate(UNIFIED.parents) if p >= 0])


@dataclass(frozen=True)
class OodReport:
    """``score`` (the largest component; 1.0 = threshold), ``components`` (each check's scaled value; absent
    when it does not apply) and one plain-words ``reasons`` line per component at or over 1."""

    score: float
    components: dict[str, float]
    reasons: list[str] = field(default_factory=list)

    @property
    def in_distribution(self) -> bool:
        return self.score < 1.0


def _cap(x: float) -> float:
    return float(min(SCORE_CAP, x)) if math.isfinite(x) else SCORE_CAP


def _body_size(pos: np.ndarray, mask: np.ndarray, meta: dict) -> tuple[float, str] | None:
    if meta.get("units_unclear"):
        return 1.0, "the reader could not tell the length units (see its warning)"
    if not all(mask[_U[a]] and mask[_U[b]] for a, b in _CHAIN):
        return None
    height = body_height(pos)          # the quantity clips are normalised by (its 1.0 fallback is for < 1 mm)
    lo, hi = BONE_HEIGHT_RANGE_M
    centre = math.sqrt(lo * hi)
    score = _cap(abs(math.log(height / centre)) / math.log(hi / centre) if height > 0 else math.inf)
    return score, f"implausible body size: {height:.2f} m from the bone lengths (expected {lo}-{hi} m)"


def _coverage(mask: np.ndarray) -> tuple[float, str]:
    missing = [j for j in UNIFIED_CORE_JOINTS if not mask[_U[j]]]
    return len(missing) / MAX_MISSING_CORE, f"the rig maps poorly: {len(missing)} of {len(UNIFIED_CORE_JOINTS)} " \
                                            f"core joints missing ({', '.join(missing[:6])})"


def _bone_stretch(pos: np.ndarray, mask: np.ndarray) -> tuple[float, str] | None:
    bones = _BONES[mask[_BONES[:, 0]] & mask[_BONES[:, 1]]]
    if not len(bones) or len(pos) < 2:
        return None
    length = np.linalg.norm(pos[:, bones[:, 1]] - pos[:, bones[:, 0]], axis=-1)     # (T, B)
    mean = length.mean(0)
    keep = mean > MIN_BONE_M
    if not keep.any():
        return None
    cv = length[:, keep].std(0) / mean[keep]
    worst = int(cv.argmax())
    p, c = bones[keep][worst]
    return _cap(float(cv[worst]) / BONE_CV_LIMIT), \
        f"joints drift: the {UNIFIED.joint_names[p]}-{UNIFIED.joint_names[c]} bone changes length by {cv[worst]:.0%} " \
        f"(coefficient of variation; a body's bones are rigid)"


def _motionless(pos: np.ndarray, mask: np.ndarray) -> tuple[float, str]:
    spread = np.sqrt(pos[:, mask].var(0).sum(-1))          # (J,) positional spread of each mapped joint
    p95 = float(np.percentile(spread, 95))
    return _cap(MIN_MOTION_M / p95 if p95 > 0 else math.inf), \
        f"the body does not move: its most mobile joints move {p95 * 1000:.1f} mm"


@dataclass(frozen=True)
class CueReference:
    """The training clips in standardised kinematic-cue space and the fitted distance threshold."""

    cues: tuple[str, ...]
    centre: np.ndarray      # (C,) median per cue
    scale: np.ndarray       # (C,) IQR / 1.349 per cue
    points: np.ndarray      # (N, C) the training clips, standardised
    threshold: float
    source: str = ""
    margin: float = THRESHOLD_MARGIN

    def standardise(self, cues: Sequence[dict[str, float]]) -> np.ndarray:
        raw = np.array([[c.get(n, np.nan) for n in self.cues] for c in cues], dtype=np.float64).reshape(-1, len(self.cues))
        z = (raw - self.centre) / self.scale
        return np.where(np.isfinite(z), z, 0.0)

    def distance(self, cues: dict[str, float]) -> float:
        """Euclidean distance of one clip's standardised cues to the nearest training clip."""
        z = self.standardise([cues])[0]
        return float(np.sqrt(((self.points - z) ** 2).sum(1).min()))

    def to_dict(self) -> dict:
        return {"cues": list(self.cues), "centre": [round(float(x), 6) for x in self.centre],
                "scale": [round(float(x), 6) for x in self.scale], "threshold": round(float(self.threshold), 6),
                "margin": round(float(self.margin), 6), "clips": int(len(self.points)), "source": self.source,
                "points": [[round(float(x), 3) for x in row] for row in self.points]}

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / OOD_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), separators=(",", ":")))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "CueReference | None":
        path = Path(folder) / OOD_FILE
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text())
            cues = tuple(str(c) for c in d["cues"])
            ref = cls(cues, np.asarray(d["centre"], float), np.asarray(d["scale"], float),
                      np.asarray(d["points"], float).reshape(-1, len(cues)), float(d["threshold"]),
                      str(d.get("source", "")), float(d.get("margin", THRESHOLD_MARGIN)))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not an out-of-distribution reference ({err})") from None
        if not len(ref.points) or ref.centre.shape != (len(cues),) or ref.scale.shape != (len(cues),) \
                or not (ref.scale > 0).all() or not ref.threshold > 0:
            raise ValueError(f"{path}: an out-of-distribution reference needs clips, one centre and one positive "
                             "scale per cue, and a positive threshold")
        return ref


def fit_cue_reference(cues: Sequence[dict[str, float]], groups: Sequence[str], *, source: str = "") -> CueReference:
    """Fit :class:`CueReference` on training clips' cue dicts and their content types (at least two groups)."""
    if len(cues) != len(groups):
        raise ValueError(f"fit_cue_reference: {len(cues)} cue dicts but {len(groups)} groups")
    groups = np.asarray([str(g) for g in groups])
    if len(set(groups)) < 2:
        raise ValueError("fit_cue_reference: the threshold needs clips of at least two content types (groups)")
    names = tuple(CUES)
    raw = np.array([[c.get(n, np.nan) for n in names] for c in cues], dtype=np.float64)
    with np.errstate(all="ignore"):
        centre = np.nan_to_num(np.nanmedian(raw, 0))
        q75, q25 = np.nanpercentile(raw, 75, 0), np.nanpercentile(raw, 25, 0)
    scale = np.nan_to_num((q75 - q25) / 1.349)
    spread = np.nan_to_num(np.nanstd(raw, 0))
    scale = np.where(scale > 1e-9, scale, np.where(spread > 1e-9, spread, 1.0))
    ref = CueReference(names, centre, scale, np.zeros((0, len(names))), 1.0, source)
    points = ref.standardise(cues)
    threshold, margin = _threshold(points, groups)
    return CueReference(names, centre, scale, points, threshold, source, margin)


def _threshold(points: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """(threshold, margin): ``margin`` x the largest distance of a clip to its nearest clip of another group.

    The margin comes from an inner leave-one-group-out over the training clips: for each group ``g``, the threshold
    fitted without ``g`` is compared with the distance of ``g``'s clips to the rest; the margin is the largest
    ratio (at least :data:`THRESHOLD_MARGIN`), so a content type as unlike the others as the most unusual training
    type would have been is not flagged.
    """
    names, gid = np.unique(groups, return_inverse=True)
    d = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    per_group = np.full((len(points), len(names)), np.inf)          # distance of each clip to each group
    for k in range(len(names)):
        per_group[:, k] = d[:, gid == k].min(1)
    per_group[np.arange(len(points)), gid] = np.inf                 # never its own group
    nearest_other = per_group.min(1)
    base = float(nearest_other.max())
    margin = THRESHOLD_MARGIN
    if len(names) >= 3:
        for k in range(len(names)):
            rest = gid != k
            without = np.delete(per_group[rest], k, axis=1).min(1)  # nearest group other than its own and k
            t_k = float(without.max())
            if t_k > 0:
                margin = max(margin, float(nearest_other[gid == k].max()) / t_k)
    return margin * base, margin


    return CueReference(names, centre, scale, points, threshold, source)


def assess(clip: SkeletonClip, cues: dict[str, float] | None = None,
           reference: CueReference | None = None, disagreement: float | None = None) -> OodReport:
    """The out-of-distribution checks of one clip (any layout, metres). ``cues``: its kinematic cues (computed
    when None and a ``reference`` is given); ``disagreement``: the ensemble head's mutual information on the clip
    (nats; None without an ensemble)."""
    unified, mask = to_unified(clip)
    pos = unified.positions.astype(np.float64)
    meta = clip.meta if isinstance(clip.meta, dict) else {}
    found: dict[str, tuple[float, str] | None] = {
        "body_size": _body_size(pos, mask, meta), "coverage": _coverage(mask),
        "bone_stretch": _bone_stretch(pos, mask), "motionless": _motionless(pos, mask)}
    if reference is not None:
        if cues is None:
            from .skeleton.cues import kinematic_cues

            cues = kinematic_cues(clip)
        d = reference.distance(cues)
        found["motion"] = (d / reference.threshold,
                           f"the movement is unlike the training clips (cue-space distance {d:.1f}, threshold "
                           f"{reference.threshold:.1f})")
    if disagreement is not None:
        found["disagreement"] = (_cap(disagreement / DISAGREEMENT_THRESHOLD),
                                 f"the ensemble's members disagree about the movement (mutual information "
                                 f"{disagreement:.2f} nats, threshold {DISAGREEMENT_THRESHOLD})")
    components = {k: round(float(v[0]), 4) for k, v in found.items() if v is not None}
    reasons = [v[1] for k, v in found.items() if v is not None and v[0] >= 1.0]
    return OodReport(max(components.values()), components, reasons)


def reference_from_records(records: Iterable, *, source: str = "", progress: bool = False) -> CueReference:
    """Fit the cue reference on clip records (``path``, ``group``; each file once): loads every clip and measures
    its cues."""
    from tqdm.auto import tqdm

    from .skeleton.cues import kinematic_cues
    from .skeleton.io import load_clip

    seen: dict[str, str] = {}
    for r in records:
        seen.setdefault(r.path, r.group or r.clip_id)
    cues = [kinematic_cues(load_clip(p)) for p in tqdm(list(seen), desc="ood reference", unit="clip",
                                                          disable=not progress)]
    groups = list(seen.values()) if len(set(seen.values())) >= 2 else list(seen)   # one group: each clip its own
    return fit_cue_reference(cues, groups, source=source)
