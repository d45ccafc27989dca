"""Prediction sets with a coverage guarantee: split conformal prediction over the label probabilities.

Calibrated on held-out predictions (for the bundled model: the pooled held-out clips of a leave-one-content-type-
out run, each predicted by a model that never saw its content type), a threshold ``q`` is chosen so that on
exchangeable new clips the true label is in the set with probability at least ``level`` (Vovk et al. 2005; Angelopoulos &
Bates 2021, "A gentle introduction to conformal prediction"):

- ``lac`` (least ambiguous set-valued classifier, Sadinle et al. 2019): score ``1 - p(true label)``; the set holds
  every label with ``1 - p <= q``. Smallest sets on average;
- ``aps`` (adaptive prediction sets, Romano et al. 2020, non-randomised): score = the probability mass of the labels
  ranked at or above the true one; the set is the top labels whose mass at or above them is at most ``q``.

``q`` is the ``ceil((n + 1) * level) / n`` empirical quantile of the ``n`` calibration scores (the finite-sample
correction). The guarantee is marginal and needs calibration and test clips to be exchangeable: a new content type
or rig is not, which is why the evaluation measures coverage by held-out content type.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["METHODS", "ConformalCalibration", "calibrate", "prediction_sets", "mutual_information", "CONFORMAL_FILE"]

METHODS = ("lac", "aps")
CONFORMAL_FILE = "conformal.json"


def _scores(probs: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    p_true = probs[np.arange(len(y)), y]
    if method == "lac":
        return 1.0 - p_true
    return np.where(probs >= p_true[:, None], probs, 0.0).sum(1)      # aps: mass at or above the true label


@dataclass(frozen=True)
class ConformalCalibration:
    """A fitted threshold: ``method``, the target ``level`` (e.g. 0.9), ``threshold`` and the calibration size."""

    method: str
    level: float
    threshold: float
    clips: int
    source: str = ""

    def sets(self, probs: np.ndarray) -> list[list[int]]:
        return prediction_sets(probs, self.threshold, self.method)

    def to_dict(self) -> dict:
        return {"method": self.method, "level": self.level, "threshold": self.threshold, "clips": self.clips,
                "source": self.source}

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / CONFORMAL_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "ConformalCalibration | None":
        path = Path(folder) / CONFORMAL_FILE
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text())
            cal = cls(str(d["method"]), float(d["level"]), float(d["threshold"]), int(d["clips"]),
                      str(d.get("source", "")))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a conformal calibration ({err})") from None
        if cal.method not in METHODS or not 0 < cal.level < 1:
            raise ValueError(f"{path}: method must be one of {METHODS} and level in (0, 1)")
        return cal


def calibrate(probs: np.ndarray, y: Sequence[int], *, level: float = 0.9, method: str = "lac",
              source: str = "") -> ConformalCalibration:
    """The split-conformal threshold of held-out ``probs`` (n, K) with true labels ``y``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    probs, y = np.asarray(probs, dtype=np.float64), np.asarray(y, dtype=int)
    n = len(y)
    if n == 0:
        raise ValueError("no calibration predictions")
    scores = np.sort(_scores(probs, y, method))
    rank = math.ceil((n + 1) * level)
    q = 1.0 if rank > n else float(scores[rank - 1])     # too few clips for the level: every label
    return ConformalCalibration(method, float(level), q, n, source)


def prediction_sets(probs: np.ndarray, threshold: float, method: str = "lac") -> list[list[int]]:
    """The label indices in each row's set (most probable first; never empty)."""
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    out = []
    for row in probs:
        order = np.argsort(-row, kind="stable")
        if method == "lac":
            keep = [int(k) for k in order if 1.0 - row[k] <= threshold + 1e-12]
        else:
            mass = np.cumsum(row[order])          # a label's score: the mass at or above it
            keep = [int(k) for k, m in zip(order, mass) if m <= threshold + 1e-12]
        out.append(keep or [int(order[0])])
    return out


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(-1)


def mutual_information(member_probs: np.ndarray) -> np.ndarray:
    """(members, clips, classes) -> (clips,): the members' disagreement, entropy of their mean minus their mean
    entropy (>= 0, in nats; 0 when every member reads the same distribution)."""
    p = np.asarray(member_probs, float)
    return np.maximum(_entropy(p.mean(0)) - _entropy(p).mean(0), 0.0)
