"""Grouped splits, sampling mixtures and label sets of window datasets.

Evaluation must keep all windows of a clip, and all clips of a group (e.g. a content type such as "walk", or a
subject) on one side of a split: :func:`leave_one_group_out` and :func:`group_split`. Joint training over several
datasets draws from a reproducible plan: :func:`mix_datasets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

import numpy as np

from .records import TASK_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from datasets import Dataset

__all__ = ["leave_one_group_out", "group_split", "mix_datasets", "label_set"]


def _column(dataset: "Dataset", name: str) -> list[Any]:
    if name not in dataset.column_names:
        raise ValueError(f"dataset has no column {name!r}; columns: {dataset.column_names}")
    return dataset.select_columns([name]).with_format("arrow")[:][name].to_pylist()


def _groups(dataset: "Dataset") -> np.ndarray:
    """Per-row group (None -> the row's clip id); refuses a clip that sits in two groups."""
    clip_ids = _column(dataset, "clip_id")
    groups = [g if g is not None else c for g, c in zip(_column(dataset, "group"), clip_ids)]
    owner: dict[str, str] = {}
    for c, g in zip(clip_ids, groups):
        if owner.setdefault(c, g) != g:
            raise ValueError(f"clip {c!r} belongs to two groups ({owner[c]!r}, {g!r}); a grouped split would leak it")
    return np.asarray(groups, dtype=object)


def group_split(dataset: "Dataset", test_groups: str | Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """(train row indices, test row indices) with all rows of ``test_groups`` on the test side.

    Rows whose group is None are grouped by clip id. Unknown group names raise ValueError.
    """
    groups = _groups(dataset)
    wanted = {test_groups} if isinstance(test_groups, str) else set(test_groups)
    unknown = wanted - set(groups.tolist())
    if unknown:
        raise ValueError(f"unknown groups {sorted(unknown)}; the dataset has {sorted(set(groups.tolist()))}")
    is_test = np.isin(groups, list(wanted))
    return np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64)


def leave_one_group_out(dataset: "Dataset", groups: Iterable[str] | None = None
                        ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield (held-out group, train indices, test indices), one fold per group (sorted by name).

    ``groups`` limits the folds to those groups (the others always stay in training). No group,
    and hence no clip, is ever on both sides.
    """
    row_groups = _groups(dataset)
    present = sorted(set(row_groups.tolist()))
    folds = present if groups is None else list(groups)
    unknown = set(folds) - set(present)
    if unknown:
        raise ValueError(f"unknown groups {sorted(unknown)}; the dataset has {present}")
    if len(present) < 2:
        raise ValueError(f"leave-one-group-out needs at least 2 groups, the dataset has {present}")
    for g in folds:
        is_test = row_groups == g
        yield g, np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64)


def _allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts proportional to weights that sum to total (largest remainder)."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    rest = total - int(counts.sum())
    if rest:
        counts[np.argsort(-(exact - counts), kind="stable")[:rest]] += 1
    return counts


def mix_datasets(datasets: Mapping[str, "Dataset"], weights: Mapping[str, float], num_samples: int,
                 seed: int = 0) -> np.ndarray:
    """A reproducible sampling plan for joint training over several datasets.

    Returns an (num_samples, 2) int64 array of (dataset index in ``datasets``' order, row index).
    Dataset ``name`` gets ``weights[name] / sum(weights)`` of the samples (exact up to rounding;
    names missing from ``weights`` get 0). Within a dataset rows are drawn epoch by epoch from fresh
    permutations (every row once before any repeats); the plan is shuffled. Same inputs and seed,
    same plan. Use it as ``datasets[names[i]][row]`` with ``names = list(datasets)``.
    """
    names = list(datasets)
    unknown = set(weights) - set(names)
    if unknown:
        raise ValueError(f"weights name unknown datasets {sorted(unknown)}; datasets: {names}")
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    w = np.array([float(weights.get(n, 0.0)) for n in names], dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all 0, got {dict(weights)}")
    for n, wi in zip(names, w):
        if wi > 0 and len(datasets[n]) == 0:
            raise ValueError(f"dataset {n!r} is empty but has weight {wi}")
    rng = np.random.default_rng(seed)
    counts = _allocate(w, int(num_samples))
    plan = []
    for i, (n, c) in enumerate(zip(names, counts)):
        if c == 0:
            continue
        size = len(datasets[n])
        rows = np.concatenate([rng.permutation(size) for _ in range(-(-int(c) // size))])[:c]
        plan.append(np.stack([np.full(c, i, dtype=np.int64), rows.astype(np.int64)], axis=1))
    if not plan:
        return np.zeros((0, 2), dtype=np.int64)
    out = np.concatenate(plan)
    return out[rng.permutation(len(out))]


def label_set(dataset: "Dataset") -> list[str]:
    """The dataset's labels in a stable order.

    Emotion datasets follow :data:`EMOTION_LABELS` (labels outside it come after, sorted); style
    datasets follow :data:`STYLE_LABELS`, dataset-2 (``style2``) :data:`STYLE2_LABELS`; anything else (or
    mixed tasks) is sorted.
    """
    labels = set(_column(dataset, "label"))
    tasks = set(_column(dataset, "task"))
    order = TASK_LABELS.get(tasks.pop()) if len(tasks) == 1 else None
    if order is None:
        return sorted(labels)
    return [lab for lab in order if lab in labels] + sorted(labels - set(order))
