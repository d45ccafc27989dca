"""Hugging Face ``datasets`` of model-ready skeleton windows: building, caching, reading back.

The data path, one clip at a time (:func:`build_window_dataset`)::

    file -> load_clip -> to_unified (joint mask) -> resample(fps) -+-> normalise -> make_windows   (model input)
                                                                   +-> make_windows (metres)     (per-window cues)

Each row of the resulting :class:`datasets.Dataset` is one window of one clip. Both branches cut the
same frames, so a window's ``cues`` (a JSON dict of :func:`~eai_llm.skeleton.cues.kinematic_cues`
measured in metres on its valid frames) describe exactly the ``positions`` the model sees.

Reading windows back for training (fast, no Python loops; see :func:`window_arrays`)::

    arrays = window_arrays(ds, train_idx)          # or by hand:
    np_ds = ds.with_format("numpy")
    positions = np_ds[:]["positions"]              # (N, window, 23, 3) float32, one contiguous array
    frame_mask = np_ds[:]["frame_mask"]            # (N, window) bool
    positions = np_ds.select(idx)[:]["positions"]  # a split

Note that in ``datasets`` >= 4, ``ds["positions"]`` is a lazy ``Column``; index it (``[:]``) or
index the dataset first (``ds[:]["positions"]``) to get the stacked array.

The clips come as :class:`ClipRecord` lists from the sources in :mod:`.records`; grouped splits and mixtures
are in :mod:`.splits`. Both are re-exported here, the package's one entry point for window datasets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..skeleton.clip import SkeletonClip
from ..skeleton.errors import ClipError, ClipFormatError, ClipValueError
from ..skeleton.layouts import UNIFIED, Layout
from .records import (CLIP_SUFFIXES, EMOTION_LABELS, STYLE2_LABELS, STYLE_LABELS, ClipRecord, records_from_bandai,
                      records_from_bandai2, records_from_folders, records_from_manifest)
from .splits import group_split, label_set, leave_one_group_out, mix_datasets

if TYPE_CHECKING:  # pragma: no cover
    from datasets import Dataset, Features

__all__ = [
    "CACHE_VERSION", "EMOTION_LABELS", "STYLE_LABELS", "CLIP_SUFFIXES", "ClipRecord",
    "STYLE2_LABELS", "records_from_bandai", "records_from_bandai2", "records_from_manifest", "records_from_folders",
    "window_features", "build_window_dataset", "cache_key", "window_arrays",
    "leave_one_group_out", "group_split", "mix_datasets", "label_set",
]

#: Bump when the dataset layout or the processing changes in a way the code fingerprint cannot see.
CACHE_VERSION = 1

# ---- building --------------------------------------------------------------------------------

def window_features(window: int) -> "Features":
    """The explicit :class:`datasets.Features` of a window dataset."""
    from datasets import Array3D, Features, List, Value

    return Features({
        "clip_id": Value("string"),
        "path": Value("string"),
        "label": Value("string"),
        "group": Value("string"),
        "task": Value("string"),
        "source_layout": Value("string"),
        "window_index": Value("int32"),
        "start": Value("int32"),
        "valid_frames": Value("int32"),
        "positions": Array3D((window, UNIFIED.num_joints, 3), "float32"),
        "frame_mask": List(Value("bool"), length=window),
        "joint_mask": List(Value("bool"), length=UNIFIED.num_joints),
        "cues": Value("string"),
        "clip_cues": Value("string"),
    })


def _load_clip(path: str, layout: str | Layout | None) -> SkeletonClip:
    """Indirection so tests can count or replace loads."""
    from ..skeleton.io import load_clip

    return load_clip(path, layout)


def _cues_json(clip: SkeletonClip) -> str:
    from ..skeleton.cues import kinematic_cues

    return json.dumps({k: float(v) for k, v in kinematic_cues(clip).items()}, sort_keys=True)


def _clip_windows(record: ClipRecord, fps: float, window: int, stride: int,
                  layout: str | Layout | None) -> dict[str, Any]:
    """All windows of one clip as column arrays (raises ClipError)."""
    from ..skeleton.unify import make_windows, normalise, resample, to_unified

    clip = _load_clip(record.path, layout)
    unified, joint_mask = to_unified(clip)
    norm = normalise(resample(unified, fps), joint_mask=joint_mask)
    wins, frame_mask, starts = make_windows(norm.positions, window, stride)
    # Cues are measured on the same frames in metres, in the SOURCE layout: resampling commutes
    # with to_unified (it only copies joints), and kinematic_cues then still knows which joints the
    # source lacks (a cue needing them stays absent instead of being measured on filled joints).
    metric = resample(clip, fps)
    metric_wins, _, _ = make_windows(metric.positions, window, stride)
    valid = frame_mask.sum(axis=1)
    n = len(starts)
    cues = [_cues_json(SkeletonClip(metric_wins[i, : valid[i]], fps, clip.layout,
                                    meta={"source": f"{record.path}#window{i}"}))
            for i in range(n)]
    return {
        "clip_id": [record.clip_id] * n, "path": [record.path] * n, "label": [record.label] * n,
        "group": [record.group] * n, "task": [record.task] * n,
        "source_layout": [clip.layout.name] * n,
        "window_index": np.arange(n, dtype=np.int32), "start": starts.astype(np.int32),
        "valid_frames": valid.astype(np.int32), "positions": wins, "frame_mask": frame_mask,
        "joint_mask": np.repeat(joint_mask[None], n, axis=0), "cues": cues,
        "clip_cues": [_cues_json(metric)] * n,
    }


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key in parts[0]:
        if isinstance(parts[0][key], np.ndarray):
            out[key] = np.concatenate([p[key] for p in parts], axis=0)
        else:
            out[key] = [v for p in parts for v in p[key]]
    return out


def _layout_key(layout: str | Layout | None) -> Any:
    if isinstance(layout, Layout):
        return [layout.name, list(layout.joint_names), list(layout.parents), sorted(layout.to_unified.items())]
    return layout


def _code_fingerprint() -> str:
    """Hash of the source of the modules that shape the windows and cues (stale caches rebuild)."""
    from ..skeleton import clip, cues, layouts, unify

    h = hashlib.sha256()
    mods = [clip, cues, layouts, unify]
    try:
        from ..skeleton import io

        mods.append(io)
    except ImportError:  # pragma: no cover - io is a hard dependency of building anyway
        pass
    files = [Path(f) for f in [getattr(m, "__file__", None) for m in mods] + [__file__] if f]
    # a package (skeleton/io/) counts with every module in it, in a fixed order
    files = [g for f in files for g in (sorted(f.parent.glob("*.py")) if f.name == "__init__.py" else [f])]
    for file in files:
        h.update(file.read_bytes())
    return h.hexdigest()[:16]


def cache_key(records: Sequence[ClipRecord], *, fps: float, window: int, stride: int,
              layout: str | Layout | None = None, skip_bad: bool = False) -> str:
    """Hash of everything a window dataset depends on.

    Records (all fields, in order) with each file's size and ``mtime_ns``, fps, window, stride,
    layout, ``skip_bad``, :data:`CACHE_VERSION` and a fingerprint of the processing code. Touching
    or editing a clip file changes the key. A missing file raises :class:`ClipFormatError`.
    """
    items = []
    for r in records:
        try:
            st = os.stat(r.path)
        except OSError as err:
            raise ClipFormatError(r.path, None, f"cannot stat the clip file ({err.strerror or err})") from None
        items.append([asdict(r), os.path.abspath(r.path), st.st_size, st.st_mtime_ns])
    payload = {
        "version": CACHE_VERSION, "code": _code_fingerprint(), "fps": float(fps), "window": int(window),
        "stride": int(stride), "layout": _layout_key(layout), "skip_bad": bool(skip_bad), "records": items,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def _build(records: Sequence[ClipRecord], fps: float, window: int, stride: int,
           layout: str | Layout | None, progress: bool, skip_bad: bool) -> "Dataset":
    from datasets import Dataset, DatasetInfo
    from tqdm import tqdm

    parts, skipped = [], []
    for record in tqdm(records, desc="windows", unit="clip", disable=not progress):
        try:
            parts.append(_clip_windows(record, fps, window, stride, layout))
        except ClipError as err:
            if not skip_bad:
                raise
            warnings.warn(f"skipping clip {record.clip_id}: {err}", stacklevel=3)
            skipped.append({"clip_id": record.clip_id, "error": str(err)})
    if not parts:
        raise ClipValueError("<records>", None, f"none of the {len(records)} clips could be loaded")
    features = window_features(window)
    info = DatasetInfo(features=features, description=json.dumps({
        "builder": "eai_llm.data.datasets.build_window_dataset", "cache_version": CACHE_VERSION,
        "fps": float(fps), "window": int(window), "stride": int(stride), "clips": len(parts),
        "skipped": skipped,
    }))
    return Dataset.from_dict(_concat(parts), features=features, info=info)


def _save_atomically(ds: "Dataset", final: Path, progress: bool) -> None:
    """save_to_disk into a temp folder beside ``final``, then rename; never leaves a half cache."""
    import datasets

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    was_disabled = datasets.are_progress_bars_disabled()
    try:
        if not progress:
            datasets.disable_progress_bars()
        ds.save_to_disk(str(tmp))
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # a concurrent builder that won the race leaves final in place
                raise
    finally:
        if not progress and not was_disabled:
            datasets.enable_progress_bars()
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def build_window_dataset(records: Sequence[ClipRecord], *, fps: float = 20.0, window: int = 64,
                         stride: int = 32, cache_dir: str | os.PathLike | None = None,
                         layout: str | Layout | None = None, progress: bool = True,
                         skip_bad: bool = False) -> "Dataset":
    """A :class:`datasets.Dataset` with one row per window of each clip.

    Per clip: ``load_clip`` (with ``layout`` for files that do not name theirs) -> ``to_unified`` ->
    ``resample(fps)``; then the normalised windows (``normalise`` + ``make_windows``: the model
    input, column ``positions`` (window, 23, 3) float32) and the same windows of the metric
    resampled clip, whose valid frames give the per-window ``cues`` (JSON; measured in the source
    layout so cues needing joints the source lacks stay absent). ``clip_cues`` holds the cues of
    the whole resampled clip. ``start`` is the window's first frame at ``fps``, ``frame_mask`` marks real
    frames (False = padding of a short clip), ``joint_mask`` the unified joints the source has.

    With ``cache_dir`` the dataset is stored under ``cache_dir/<cache_key(...)>`` and loaded from
    there on the next call with the same inputs (a changed, touched or added file gives a new key).
    A clip that fails raises its :class:`ClipError`; ``skip_bad=True`` skips it with a warning.
    """
    records = list(records)
    if not records:
        raise ValueError("build_window_dataset needs at least one ClipRecord")
    if window < 1 or stride < 1 or not fps > 0:
        raise ValueError(f"fps, window and stride must be positive, got {fps}, {window}, {stride}")
    ids = [r.clip_id for r in records]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"clip ids must be unique, repeated: {dup[:5]}")
    if cache_dir is None:
        return _build(records, fps, window, stride, layout, progress, skip_bad)

    from datasets import load_from_disk

    final = Path(cache_dir) / cache_key(records, fps=fps, window=window, stride=stride,
                                        layout=layout, skip_bad=skip_bad)
    if not (final / "state.json").is_file():
        _save_atomically(_build(records, fps, window, stride, layout, progress, skip_bad), final, progress)
    return load_from_disk(str(final))


def window_arrays(dataset: "Dataset", indices: Sequence[int] | np.ndarray | None = None,
                  columns: Sequence[str] = ("positions", "frame_mask", "joint_mask")) -> dict[str, np.ndarray]:
    """Stacked numpy arrays of (a subset of) a window dataset, without Python loops over rows.

    ``positions`` (N, window, 23, 3) float32, ``frame_mask`` (N, window) bool, ``joint_mask``
    (N, 23) bool; any other column is returned as a 1-D array.
    """
    ds = dataset if indices is None else dataset.select(np.asarray(indices, dtype=np.int64))
    if len(ds) == 0:
        return {c: _empty_column(ds.features[c]) for c in columns}
    return dict(ds.select_columns(list(columns)).with_format("numpy")[:])


def _empty_column(feature: Any) -> np.ndarray:
    """A 0-row array with the right trailing shape and dtype for ``feature``."""
    from datasets import Array3D, List, Value

    if isinstance(feature, Array3D):
        return np.zeros((0, *feature.shape), dtype=feature.dtype)
    if isinstance(feature, List) and isinstance(feature.feature, Value) and feature.length >= 0:
        return np.zeros((0, feature.length), dtype=feature.feature.pa_type.to_pandas_dtype())
    if isinstance(feature, Value) and feature.dtype != "string":
        return np.zeros((0,), dtype=feature.pa_type.to_pandas_dtype())
    return np.zeros((0,), dtype=object)
