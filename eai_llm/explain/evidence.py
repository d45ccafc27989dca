"""Which measured cues an explanation may cite: z-scores, support, applicability and plausibility.

A cue claim is judged against reference statistics over a population of training windows
(``cue_statistics`` in :mod:`eai_llm.skeleton.cues`): ``z = (value - mean) / max(std, EPS)``.

- **supported**: the measured z has the claimed direction and ``|z| >= SUPPORT_Z`` (1.0: the value lies more
  than one standard deviation from the population mean, i.e. outside roughly the middle 68% of training
  windows; "small arm swing (0.12 m)" inside the typical range 0.04-0.51 m is not evidence of anything);
- **applicable**: the cue's precondition holds for this clip (:data:`PRECONDITIONS`): gait cues (pace, cadence,
  step length, bounce) and arm swing need locomotion (at least :data:`LOCOMOTION_MIN` of the frames on the move,
  the ``locomotion`` cue); every cue needs the joints it is measured on (hand cues need the wrists), which
  :func:`~eai_llm.skeleton.cues.kinematic_cues` enforces by leaving it absent;
- **plausible**: cited "typical of" a label only when it agrees with the label's correlates
  (:func:`~eai_llm.explain.vocabulary.agreement`); a supported cue that runs against them may be cited only as
  "despite ...".
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np

from .vocabulary import CUE_ORDER, CUE_PHRASES, agreement, correlate_table

__all__ = ["Claim", "EPS", "SUPPORT_Z", "LOCOMOTION_MIN", "GAIT_CUES", "PRECONDITIONS", "reference_statistics",
           "zscore", "zscores",
           "applicable", "not_applicable", "Selection", "select_claims", "select_evidence", "data_correlates"]

#: Floor on the reference standard deviation in z-scores.
EPS = 1e-6
#: A claim is supported when its cue's |z| is at least this (and the sign matches the claimed direction).
SUPPORT_Z = 1.0
#: Gait cues apply when at least this share of the clip's frames is on the move (cue ``locomotion``).
LOCOMOTION_MIN = 0.5
#: Cues that describe walking or running: meaningless for a bow or a wave on the spot.
GAIT_CUES = frozenset({"walking_speed", "cadence", "step_length", "vertical_bounce", "arm_swing"})
#: cue -> what must hold for the cue to describe the clip (shown as the reason it does not apply).
PRECONDITIONS: dict[str, str] = {c: f"locomotion >= {LOCOMOTION_MIN:.0%} of the clip" for c in GAIT_CUES}


def reference_statistics(cue_dicts: Sequence[Mapping[str, float]], *, min_moving: int = 20
                         ) -> dict[str, dict[str, float]]:
    """The population the z-scores are taken against: every cue over all windows, except the gait cues, which
    are taken over the windows on the move (``locomotion >= LOCOMOTION_MIN``; all windows when fewer than
    ``min_moving`` are), since they only describe such clips: "slow pace" means slower than people walk, not
    slower than a population where half the clips stand still."""
    from ..skeleton.cues import cue_statistics

    cue_dicts = list(cue_dicts)
    stats = cue_statistics(cue_dicts)
    moving = [c for c in cue_dicts if c.get("locomotion") is not None and c["locomotion"] >= LOCOMOTION_MIN]
    if len(moving) >= min_moving:
        gait = cue_statistics([{k: v for k, v in c.items() if k in GAIT_CUES} for c in moving])
        stats.update({k: dict(v, moving_only=1.0) for k, v in gait.items()})
    return stats


@dataclass(frozen=True)
class Claim:
    """One cue claim with the measurement behind it."""

    cue: str
    direction: str
    phrase: str
    value: float
    z: float


def zscore(cue: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]]) -> float | None:
    """``(value - mean) / max(std, EPS)``, or None when the cue is absent, non-finite or has no statistics."""
    value, ref = cues.get(cue), stats.get(cue)
    if value is None or ref is None or "mean" not in ref or "std" not in ref:
        return None
    value, mean, std = float(value), float(ref["mean"]), float(ref["std"])
    if not (math.isfinite(value) and math.isfinite(mean) and math.isfinite(std)):
        return None
    return (value - mean) / max(std, EPS)


def zscores(cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """z-scores of every vocabulary cue that is present in both ``cues`` and ``stats`` (vocabulary order)."""
    out = {}
    for cue in CUE_PHRASES:
        z = zscore(cue, cues, stats)
        if z is not None:
            out[cue] = z
    return out


def applicable(cue: str, cues: Mapping[str, float]) -> bool:
    """Whether ``cue``'s precondition holds for the clip whose measured cues are ``cues``.

    Gait cues need ``locomotion >= LOCOMOTION_MIN``; a clip measured without the ``locomotion`` cue (too short,
    no pelvis, or cue dicts from before it existed) keeps its gait cues applicable, as before."""
    if cue not in GAIT_CUES:
        return True
    share = cues.get("locomotion")
    return share is None or not math.isfinite(float(share)) or float(share) >= LOCOMOTION_MIN


def not_applicable(cues: Mapping[str, float]) -> list[str]:
    """The vocabulary cues whose precondition fails for this clip (vocabulary order)."""
    return [c for c in CUE_PHRASES if not applicable(c, cues)]


def _claim(cue: str, z: float, cues: Mapping[str, float]) -> Claim:
    direction = "high" if z > 0 else "low"
    return Claim(cue, direction, CUE_PHRASES[cue][direction], float(cues[cue]), float(z))


def _strongest(z: Mapping[str, float], min_z: float) -> list[tuple[str, float]]:
    """Cues with |z| >= min_z, strongest first (ties in vocabulary order: deterministic)."""
    picked = [(c, v) for c, v in z.items() if abs(v) >= min_z and v != 0.0]
    return sorted(picked, key=lambda cv: (-abs(cv[1]), CUE_ORDER[cv[0]]))


@dataclass(frozen=True)
class Selection:
    """What an explanation of one label cites: ``support`` (agreeing, or for a label without correlates the
    strongest deviations), ``against`` (supported cues contrary to the label: "despite ..."), and whether the
    label has correlates (``typical``: the link is "typical of", else "read as")."""

    support: tuple[Claim, ...]
    against: tuple[Claim, ...]
    typical: bool


def select_claims(label: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], *,
                  k: int = 3, k_against: int = 1, min_z: float = SUPPORT_Z,
                  correlates: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                  task: str = "emotion") -> Selection:
    """The supported, applicable cues an explanation of ``label`` cites, strongest first.

    A label with correlates cites up to ``k`` cues that agree with them and up to ``k_against`` that run against
    them; neutral cues are not cited (they are true of the clip but say nothing about the label). A label without
    correlates (dataset-2's styles) cites its ``k`` strongest deviations. Deterministic.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ranked = [(c, v) for c, v in _strongest(zscores(cues, stats), min_z) if applicable(c, cues)]
    if label not in correlate_table(task, correlates):
        return Selection(tuple(_claim(c, v, cues) for c, v in ranked[:k]), (), False)
    kinds = [(c, v, agreement(label, c, "high" if v > 0 else "low", task, correlates)) for c, v in ranked]
    support = [_claim(c, v, cues) for c, v, a in kinds if a == "agrees"][:k]
    against = [_claim(c, v, cues) for c, v, a in kinds if a == "contrary"][:k_against]
    return Selection(tuple(support), tuple(against), True)


def select_evidence(label: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], *,
                    k: int = 3, min_z: float = SUPPORT_Z,
                    correlates: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                    task: str = "emotion") -> list[Claim]:
    """The measured cues that explain ``label`` for this clip, strongest first, at most ``k``
    (:func:`select_claims`'s ``support``)."""
    return list(select_claims(label, cues, stats, k=k, min_z=min_z, correlates=correlates, task=task).support)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's 'mean of empty slice' warnings for all-NaN columns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def data_correlates(cue_dicts: Sequence[Mapping[str, float]], labels: Sequence[str],
                    stats: Mapping[str, Mapping[str, float]], *, groups: Sequence[str] | None = None,
                    top: int = 4, min_effect: float = 0.5) -> dict[str, tuple[tuple[str, str], ...]]:
    """Data-driven correlates per label: the cues whose mean z within the label deviates most.

    With ``groups`` (e.g. content types), each group's mean z is removed first, so that "walks faster"
    is judged within walking clips. Keeps up to ``top`` cues with ``|mean z| >= min_effect`` per label.
    The result can be passed to :func:`select_claims` / :func:`~eai_llm.explain.texts.explanation_text` as
    ``correlates``.
    """
    if len(cue_dicts) != len(labels) or (groups is not None and len(groups) != len(labels)):
        raise ValueError(f"cue_dicts ({len(cue_dicts)}), labels ({len(labels)}) and groups must have equal length")
    names = list(CUE_PHRASES)
    zmat = np.full((len(cue_dicts), len(names)), np.nan)
    for i, cues in enumerate(cue_dicts):
        for j, name in enumerate(names):
            v = zscore(name, cues, stats)
            if v is not None:
                zmat[i, j] = v
    if groups is not None:
        garr = np.asarray(groups, dtype=object)
        for g in dict.fromkeys(groups):
            rows = garr == g
            with _quiet():
                zmat[rows] -= np.nan_to_num(np.nanmean(zmat[rows], axis=0))
    larr = np.asarray(labels, dtype=object)
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for label in dict.fromkeys(labels):
        with _quiet():
            effect = np.nanmean(zmat[larr == label], axis=0)
        order = [j for j in np.argsort(-np.abs(np.nan_to_num(effect)), kind="stable")
                 if np.isfinite(effect[j]) and abs(effect[j]) >= min_effect][:top]
        out[label] = tuple((names[j], "high" if effect[j] > 0 else "low") for j in order)
    return out
