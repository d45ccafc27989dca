"""Classification and calibration metrics (numpy only), and the two report figures (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["EMOTION7", "EMOTION4", "wilson_interval", "confusion", "macro_f1", "per_class_recall", "expected_calibration_error",
           "fit_temperature", "classification_metrics", "plot_confusion", "plot_reliability"]

#: The evaluated emotion label sets (dataset-1's 7 emotions, and the 4 that most emotion datasets share).
EMOTION7 = ("happy", "sad", "angry", "proud", "not-confident", "tired", "normal")
EMOTION4 = ("happy", "sad", "angry", "normal")


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (well behaved for small n and p near 0 or 1)."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = correct / total
    d = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / d
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / d
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def confusion(y_true: Sequence[int], y_pred: Sequence[int], k: int) -> np.ndarray:
    """(k, k) counts, rows = true class, columns = predicted class."""
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return m


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    support = cm.sum(1)
    return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def macro_f1(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(float)
    prec = tp / np.maximum(cm.sum(0), 1)
    rec = tp / np.maximum(cm.sum(1), 1)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
    present = cm.sum(1) > 0
    return float(f1[present].mean()) if present.any() else float("nan")


def expected_calibration_error(probs: np.ndarray, y: Sequence[int], bins: int = 15) -> float:
    """ECE: confidence-vs-accuracy gap averaged over equal-width confidence bins, weighted by bin size."""
    probs = np.asarray(probs, float)
    conf = probs.max(1)
    correct = probs.argmax(1) == np.asarray(y, int)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def ece_equal_mass(probs: np.ndarray, y: Sequence[int], bins: int = 10) -> float:
    """ECE over ``bins`` equal-mass confidence bins (each holds about the same number of clips; the clips sorted by
    confidence and split into ``bins`` runs), weighted by bin size. Less biased than equal-width bins when the
    confidences crowd into a few bins."""
    probs = np.asarray(probs, float)
    conf = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(y, int)).astype(float)
    order = np.argsort(conf, kind="stable")
    return float(sum(len(b) / len(conf) * abs(correct[b].mean() - conf[b].mean())
                     for b in np.array_split(order, min(bins, len(conf))) if len(b)))


def negative_log_likelihood(probs: np.ndarray, y: Sequence[int]) -> float:
    probs = np.asarray(probs, float)
    return float(-np.log(np.clip(probs[np.arange(len(probs)), np.asarray(y, int)], 1e-12, None)).mean())


def brier_score(probs: np.ndarray, y: Sequence[int]) -> float:
    """Mean over clips of the squared distance between the probability vector and the one-hot true label."""
    probs = np.asarray(probs, float)
    onehot = np.eye(probs.shape[1])[np.asarray(y, int)]
    return float(((probs - onehot) ** 2).sum(1).mean())


def bootstrap_interval(stat, probs: np.ndarray, y: Sequence[int], *, resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(probs, y)`` over clips resampled with replacement."""
    probs, y = np.asarray(probs, float), np.asarray(y, int)
    gen = np.random.default_rng(seed)
    vals = [stat(probs[i], y[i]) for i in gen.integers(0, len(y), size=(resamples, len(y)))]
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def uncertainty_metrics(probs: np.ndarray, y: Sequence[int]) -> dict:
    """NLL, Brier, ECE (10 equal-mass and 15 equal-width bins) and bootstrap 95% intervals of both ECEs."""
    return {"nll": negative_log_likelihood(probs, y), "brier": brier_score(probs, y),
            "ece_mass10": ece_equal_mass(probs, y), "ece_mass10_ci95": list(bootstrap_interval(ece_equal_mass, probs, y)),
            "ece_width15": expected_calibration_error(probs, y),
            "ece_width15_ci95": list(bootstrap_interval(expected_calibration_error, probs, y))}


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: Sequence[int]) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) (golden-section search on log T)."""
    logits = np.asarray(logits, float)
    y = np.asarray(y, int)
    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        p = _softmax(logits / np.exp(log_t))
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def classification_metrics(probs: np.ndarray, y: Sequence[int], labels: Sequence[str]) -> dict:
    """Accuracy with its 95% interval, macro-F1, per-class recall, confusion matrix and ECE."""
    probs = np.asarray(probs, float)
    y = np.asarray(y, int)
    pred = probs.argmax(1)
    cm = confusion(y, pred, len(labels))
    correct = int((pred == y).sum())
    lo, hi = wilson_interval(correct, len(y))
    return {
        "n": int(len(y)), "accuracy": correct / max(len(y), 1), "accuracy_ci95": [lo, hi],
        "macro_f1": macro_f1(cm),
        "recall": {l: (None if np.isnan(r) else float(r)) for l, r in zip(labels, per_class_recall(cm))},
        "confusion": cm.tolist(), "labels": list(labels), "ece": expected_calibration_error(probs, y),
    }


def plot_confusion(cm: np.ndarray, labels: Sequence[str], path: str | Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2, 1.0 * len(labels) + 1.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(probs: np.ndarray, y: Sequence[int], path: str | Path, title: str, bins: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = np.asarray(probs, float)
    conf = probs.max(1)
    correct = probs.argmax(1) == np.asarray(y, int)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    acc = np.array([correct[idx == b].mean() if (idx == b).any() else np.nan for b in range(bins)])
    count = np.bincount(idx, minlength=bins)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    centres = (edges[:-1] + edges[1:]) / 2
    ax.bar(centres, np.nan_to_num(acc), width=1 / bins, edgecolor="black", alpha=0.8, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    for c, a, n in zip(centres, acc, count):
        if n:
            ax.text(c, min(1.0, np.nan_to_num(a) + 0.02), str(n), ha="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE {expected_calibration_error(probs, y):.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
