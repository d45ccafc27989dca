"""Saved fold results of `eai-llm evaluate` and the pooled metrics over them.

:class:`FoldResult` holds one system's test-clip predictions on one held-out group (saved as JSON as soon as it
exists, so a run resumes); :func:`summarise` pools the folds: 7- and 4-class metrics with training-fold
calibration (:func:`fold_temperatures`), explanation quality (:mod:`.explanations`), per-group accuracy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .explanations import summarise_checks
from .metrics import EMOTION4, EMOTION7, _softmax, classification_metrics, fit_temperature, uncertainty_metrics

__all__ = ["FoldResult", "fold_temperatures", "conformal_summary", "member_summary", "summarise"]


@dataclass
class FoldResult:
    """Test-clip predictions of one system on one held-out group, and the temperature fitted on its training clips."""

    clip_ids: list[str]
    groups: list[str]
    labels: list[str]
    probs: list[list[float]]           # (n, 7) uncalibrated clip probabilities over EMOTION7
    temperature: float
    explanations: list[str | None]
    faithfulness: list[float | None]
    consistent: list[bool | None]
    seconds: float
    dtype: str | None = None           # the LLM's precision at prediction time (llm systems)
    checks: list[dict | None] | None = None   # per clip: the explanation checked (evaluation/explanations.py)
    member_probs: list | None = None   # ensembles: (members, n, 7) each member's uncalibrated clip probabilities
    fusion_weight: float | None = None  # llm systems: the head's weight in the shipped pooling, when chosen per fold

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "FoldResult":
        return cls(**json.loads(path.read_text()))


def _calibrated(probs: np.ndarray, temperature: float) -> np.ndarray:
    return _softmax(np.log(np.clip(probs, 1e-12, None)) / temperature)


def _restrict(probs: np.ndarray, labels: Sequence[str], keep: Sequence[str]) -> np.ndarray:
    idx = [list(labels).index(k) for k in keep]
    p = probs[:, idx]
    return p / p.sum(1, keepdims=True)


def _fit_t(train_probs: np.ndarray, train_y: Sequence[int]) -> float:
    return fit_temperature(np.log(np.clip(train_probs, 1e-12, None)), train_y)


def fold_temperatures(results: list[FoldResult]) -> list[float]:
    """The temperature applied to each fold's held-out predictions, using training folds only: fitted on the
    pooled held-out predictions of all *other* folds (out-of-sample, and none of them from this fold's content
    type). A temperature fitted on a fold's own training clips sharpens, because the model fits those clips
    (kept in ``FoldResult.temperature`` and reported as ``ece_train_clip_temperature``). One fold alone: its own."""
    if len(results) < 2:
        return [r.temperature for r in results]
    temps = []
    for i in range(len(results)):
        others = [r for j, r in enumerate(results) if j != i and r.probs]
        temps.append(_fit_t(np.concatenate([np.asarray(r.probs) for r in others]),
                            [EMOTION7.index(l) for r in others for l in r.labels]))
    return temps


def _calibrated_all(results: list[FoldResult]) -> np.ndarray:
    return np.concatenate([_calibrated(np.asarray(r.probs), t) for r, t in zip(results, fold_temperatures(results))
                           if r.probs])


def conformal_summary(results: list[FoldResult], level: float = 0.9) -> dict | None:
    """Coverage of split-conformal prediction sets by held-out content type: each fold's sets use a threshold
    calibrated on the other folds' (calibrated) held-out predictions only, as :func:`fold_temperatures` does."""
    from ..uncertainty import METHODS, calibrate, prediction_sets

    folds = [r for r in results if r.probs]
    if len(folds) < 2:
        return None
    temps = fold_temperatures(folds)
    probs = [_calibrated(np.asarray(r.probs), t) for r, t in zip(folds, temps)]
    ys = [np.array([EMOTION7.index(l) for l in r.labels]) for r in folds]
    out = {"level": level}
    for method in METHODS:
        covered, sizes, per_group = [], [], {}
        for i, r in enumerate(folds):
            cal = calibrate(np.concatenate([p for j, p in enumerate(probs) if j != i]),
                            np.concatenate([y for j, y in enumerate(ys) if j != i]), level=level, method=method)
            sets = prediction_sets(probs[i], cal.threshold, method)
            hit = [int(y) in s for y, s in zip(ys[i], sets)]
            covered += hit
            sizes += [len(s) for s in sets]
            per_group[r.groups[0]] = float(np.mean(hit))
        out[method] = {"coverage": float(np.mean(covered)), "mean_set_size": float(np.mean(sizes)),
                       "per_group_coverage": per_group}
    return out


def member_summary(results: list[FoldResult]) -> dict | None:
    """An ensemble's members one by one (each calibrated as :func:`summarise` does): mean and SD over members of
    accuracy, NLL, Brier and ECE, i.e. what a single model of a random seed would have scored."""
    from dataclasses import replace

    folds = [r for r in results if r.probs]
    if not folds or any(r.member_probs is None for r in folds):
        return None
    y = [EMOTION7.index(l) for r in folds for l in r.labels]
    rows = []
    for m in range(len(folds[0].member_probs)):
        probs = _calibrated_all([replace(r, probs=r.member_probs[m]) for r in folds])
        u = uncertainty_metrics(probs, y)
        rows.append({"accuracy": float(np.mean(probs.argmax(1) == np.asarray(y))), "nll": u["nll"],
                     "brier": u["brier"], "ece_mass10": u["ece_mass10"], "ece_width15": u["ece_width15"]})
    return {"members": len(rows), "per_member": rows,
            **{f"{k}_mean": float(np.mean([r[k] for r in rows])) for k in rows[0]},
            **{f"{k}_sd": float(np.std([r[k] for r in rows], ddof=1)) if len(rows) > 1 else 0.0 for k in rows[0]}}


def summarise(results: list[FoldResult]) -> dict:
    """Pooled clip-level metrics over all folds (7- and 4-class, calibrated), explanation quality, per group."""
    probs = _calibrated_all(results)
    raw = np.concatenate([np.asarray(r.probs) for r in results if r.probs])
    labels = [l for r in results for l in r.labels]
    groups = [g for r in results for g in r.groups]
    y7 = [EMOTION7.index(l) for l in labels]
    m7 = classification_metrics(probs, y7, EMOTION7)
    m7["ece_uncalibrated"] = classification_metrics(raw, y7, EMOTION7)["ece"]
    own = np.concatenate([_calibrated(np.asarray(r.probs), r.temperature) for r in results if r.probs])
    m7["ece_train_clip_temperature"] = classification_metrics(own, y7, EMOTION7)["ece"]
    m7.update(uncertainty_metrics(probs, y7))
    keep = [i for i, l in enumerate(labels) if l in EMOTION4]
    p4 = _restrict(probs[keep], EMOTION7, EMOTION4)
    m4 = classification_metrics(p4, [EMOTION4.index(labels[i]) for i in keep], EMOTION4)
    faith = [f for r in results for f in r.faithfulness if f is not None]
    cons = [c for r in results for c in r.consistent if c is not None]
    per_group = {}
    for g in sorted(set(groups)):
        sel = [i for i, gg in enumerate(groups) if gg == g]
        per_group[g] = float(np.mean([probs[i].argmax() == y7[i] for i in sel]))
    return {"7class": m7, "4class": m4, "per_group_accuracy": per_group,
            "faithfulness": float(np.mean(faith)) if faith else None, "explanations": len(faith),
            "explained": sum(e is not None for r in results for e in r.explanations),
            "label_consistency": float(np.mean(cons)) if cons else None,
            "explanation_checks": summarise_checks([c for r in results for c in (r.checks or [])]),
            "conformal": conformal_summary(results), "members": member_summary(results),
            "temperatures": fold_temperatures(results), "seconds": float(sum(r.seconds for r in results)),
            # llm systems: fold files written before the dtype was recorded ran in float32
            "llm_dtype": sorted({r.dtype or "float32" for r in results})
            if any(r.dtype for r in results) or any(e is not None for r in results for e in r.explanations) else None}
