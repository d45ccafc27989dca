"""Training data: the recipe's sources as in-memory window arrays, cue statistics and instruction samples."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton.layouts import UNIFIED
from ..skeleton.unify import mirror
from .recipe import DataSource, TrainRecipe

__all__ = ["WindowArrays", "load_source", "load_sources", "cue_stats_of", "instruction", "alignment_text",
           "mirror_batch", "reexpress_batch", "class_name", "label_vocabulary"]


@dataclass
class WindowArrays:
    """One source's windows, ready for batching (all numpy, in memory: the data are small)."""

    name: str
    task: str
    label_set: list[str]
    positions: np.ndarray      # (N, W, 23, 3) float32
    frame_mask: np.ndarray     # (N, W) bool
    joint_mask: np.ndarray     # (N, 23) bool
    layouts: list[str]
    labels: list[str]
    groups: list[str]
    clip_ids: list[str]
    cues: list[dict[str, float]]
    weight: float = 1.0

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def subset(self, index: np.ndarray) -> "WindowArrays":
        pick = lambda xs: [xs[i] for i in index]  # noqa: E731
        return WindowArrays(self.name, self.task, self.label_set, self.positions[index], self.frame_mask[index],
                            self.joint_mask[index], pick(self.layouts), pick(self.labels), pick(self.groups),
                            pick(self.clip_ids), pick(self.cues), self.weight)


def _synthetic_records(src: DataSource, recipe: TrainRecipe, labels: list[str]):
    """Write procedural clips once as NPZ into the cache and return them as records (label subfolders)."""
    from ..data.datasets import records_from_folders
    from ..data.synthetic import synthetic_clip
    from ..skeleton.io import save_clip

    key = hashlib.sha1(json.dumps([src.n_per_class, src.layouts, src.seconds, labels, recipe.seed]).encode()).hexdigest()[:12]
    root = recipe.resolve(recipe.cache_dir) / "synthetic" / key
    if not (root / ".complete").is_file():
        for label in labels:
            for layout in src.layouts:
                for i in range(src.n_per_class):
                    out = root / label / f"{layout}_{i:03d}.npz"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    seed = recipe.seed * 100_003 + i * 7919 + labels.index(label) * 31 + src.layouts.index(layout)
                    save_clip(synthetic_clip(label, layout, seconds=src.seconds, seed=seed), out)
        (root / ".complete").touch()
    return records_from_folders(root)


def source_records(src: DataSource, recipe: TrainRecipe) -> list:
    """The clip records of one data source, the recipe's excluded groups left out."""
    from ..data import datasets as D

    if src.kind == "bandai":
        records = D.records_from_bandai(recipe.resolve(src.path), task=src.task, balance_normal=src.balance_normal)
    elif src.kind == "bandai2":
        records = D.records_from_bandai2(recipe.resolve(src.path))
    elif src.kind == "manifest":
        records = D.records_from_manifest(recipe.resolve(src.path))
    elif src.kind == "folders":
        records = D.records_from_folders(recipe.resolve(src.path))
    else:
        labels = list(recipe.model.label_sets.get(src.task) or D.EMOTION_LABELS)
        records = _synthetic_records(src, recipe, labels)
    records = [r for r in records if r.group not in set(recipe.exclude_groups)]
    if not records:
        raise ValueError(f"data source {src.name!r}: no clips left (after excluding groups {recipe.exclude_groups})")
    return records


def load_source(src: DataSource, recipe: TrainRecipe, *, progress: bool = True) -> WindowArrays:
    from ..data import datasets as D

    records = source_records(src, recipe)
    cfg = recipe.model
    ds = D.build_window_dataset(records, fps=cfg.data.fps, window=cfg.tokenizer.window, stride=cfg.data.stride,
                                cache_dir=recipe.resolve(recipe.cache_dir) / "windows", progress=progress)
    arr = D.window_arrays(ds)
    cols = ds.select_columns(["label", "group", "clip_id", "source_layout", "cues"]).to_dict()
    labels = cols["label"]
    label_set = list(cfg.label_sets.get(src.task) or D.label_set(ds))
    unknown = sorted(set(labels) - set(label_set))
    if unknown:
        raise ValueError(f"data source {src.name!r}: labels {unknown} are not in label_sets.{src.task} {label_set}")
    return WindowArrays(
        name=src.name, task=src.task, label_set=label_set,
        positions=arr["positions"], frame_mask=arr["frame_mask"].astype(bool),
        joint_mask=arr["joint_mask"].astype(bool), layouts=cols["source_layout"], labels=labels,
        groups=[g or "" for g in cols["group"]], clip_ids=cols["clip_id"], cues=[json.loads(c) for c in cols["cues"]],
        weight=src.weight)


def load_sources(recipe: TrainRecipe, *, progress: bool = True) -> list[WindowArrays]:
    return [load_source(s, recipe, progress=progress) for s in recipe.sources]


def cue_stats_of(sources: list[WindowArrays]) -> dict[str, dict[str, float]]:
    """Population statistics of every cue over the training windows (the reference for z-scores; gait cues over
    the windows on the move: :func:`eai_llm.explain.evidence.reference_statistics`)."""
    from ..explain.evidence import reference_statistics

    return reference_statistics([c for s in sources for c in s.cues])


def alignment_text(label: str, cues: dict[str, float], stats: dict, rng: random.Random,
                   task: str = "emotion") -> str:
    """The grounded description a window's semantic tokens are aligned with in stage 1."""
    from .. import explain as T

    claims = T.select_evidence(label, cues, stats, task=task)
    head = label if task in _PLAIN_TASKS else class_name(task, label)
    return f"{head}: {T.explanation_text(label, claims, task=task)} {T.describe_movement(cues, stats, rng)}"


def instruction(src: WindowArrays, row: int, kind: str, stats: dict, rng: random.Random) -> tuple[str, str]:
    """(question, answer) of the given kind for one window."""
    from .. import explain as T

    label = src.labels[row]
    items = T.build_instructions(label, src.cues[row], stats, src.label_set, rng, task=src.task)
    item = next(it for it in items if it["kind"] == kind)
    # a classification answer is the bare label: exactly the continuation the label set is scored on
    return item["question"], (label if kind == "classify" else item["answer"])


def mirror_batch(positions: np.ndarray, joint_mask: np.ndarray, flip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left/right mirror the windows where ``flip`` is True (positions and joint masks)."""
    if not flip.any():
        return positions, joint_mask
    positions, joint_mask = positions.copy(), joint_mask.copy()
    positions[flip] = mirror(positions[flip])
    joint_mask[flip] = joint_mask[flip][:, UNIFIED.mirror_permutation]
    return positions, joint_mask


#: Tasks whose labels name the stage-1 head's classes as they are (the bundled model's head uses them).
_PLAIN_TASKS = ("emotion", "style")


def class_name(task: str, label: str) -> str:
    """The stage-1 head's class for a label: the label itself for dataset-1's tasks, ``"<task>:<label>"`` for
    any other task, so that dataset-2's ``normal`` (a style) is never the emotion ``normal`` and its
    ``active``/``feminine`` are not dataset-1's styles of the same name."""
    return label if task in _PLAIN_TASKS else f"{task}:{label}"


def class_names(src: WindowArrays) -> list[str]:
    """Per window of ``src``: its stage-1 class (see :func:`class_name`)."""
    return [class_name(src.task, l) for l in src.labels]


def reexpress_batch(positions: np.ndarray, joint_mask: np.ndarray, layouts: list[str], rng: np.random.Generator,
                    p: float, targets: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Smaller-rig augmentation: each window, with probability ``p``, becomes what ``to_unified`` gives for a
    clip of a layout drawn uniformly from ``targets`` (skeleton/reexpress.py). Returns new arrays and the
    windows' layout names (a re-expressed window reports its new layout). ``p == 0`` draws nothing."""
    if p <= 0 or not targets or len(positions) == 0:
        return positions, joint_mask, list(layouts)
    from ..skeleton.reexpress import reexpress_windows

    pick = rng.random(len(positions)) < p
    which = rng.integers(len(targets), size=len(positions))
    if not pick.any():
        return positions, joint_mask, list(layouts)
    positions, joint_mask, layouts = positions.copy(), joint_mask.copy(), list(layouts)
    for t, name in enumerate(targets):
        rows = np.flatnonzero(pick & (which == t))
        if len(rows):
            positions[rows], joint_mask[rows] = reexpress_windows(positions[rows], joint_mask[rows], name)
            for r in rows:
                layouts[r] = name
    return positions, joint_mask, layouts


def label_vocabulary(sources: list[WindowArrays]) -> list[str]:
    """All classes of all sources (see :func:`class_name`), in first-seen order (the auxiliary head's classes)."""
    seen: dict[str, None] = {}
    for s in sources:
        for label in s.label_set:
            seen.setdefault(class_name(s.task, label), None)
    return list(seen)


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
