"""Hugging Face ``datasets`` of model-ready skeleton windows, grouped splits and sampling mixtures.

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

Label sources (each returns a list of :class:`ClipRecord`):

- :func:`records_from_bandai` -- the Bandai Namco motion dataset-1 in ``../shared/data`` (emotions, styles);
- :func:`records_from_bandai2` -- the Bandai Namco motion dataset-2 (7 styles that are not emotions, task
  ``style2``; its groups keep the ``dataset-2_`` prefix so they never collide with dataset-1's content types);
- :func:`records_from_manifest` -- a CSV ``path,label[,group]``;
- :func:`records_from_folders` -- ``root/<label>/<file>``.

Evaluation must keep all windows of a clip, and all clips of a group (e.g. a content type such as
"walk", or a subject) on one side of a split: :func:`leave_one_group_out` and :func:`group_split`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..skeleton.clip import SkeletonClip
from ..skeleton.errors import ClipError, ClipFormatError, ClipValueError
from ..skeleton.layouts import UNIFIED, Layout

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

#: The emotion task of the Bandai Namco data (its "styles" that are emotions), in a fixed order.
EMOTION_LABELS: tuple[str, ...] = ("happy", "sad", "angry", "proud", "not-confident", "tired", "normal")
#: The Bandai Namco styles that are not emotions (the "style" task).
STYLE_LABELS: tuple[str, ...] = (
    "active", "childish", "chimpira", "feminine", "giant", "masculinity", "musical", "old",
)
#: The styles of Bandai Namco dataset-2 (the "style2" task). They are not emotions: dataset-2's ``normal`` is a
#: neutral *style* of moving, ``exhausted`` is not dataset-1's ``tired``; nothing maps one set onto the other.
STYLE2_LABELS: tuple[str, ...] = ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful")
_TASK_LABELS = {"emotion": EMOTION_LABELS, "style": STYLE_LABELS, "style2": STYLE2_LABELS}

#: File types the folder source picks up.
CLIP_SUFFIXES: tuple[str, ...] = (".bvh", ".npz", ".npy", ".csv")

_BANDAI_NAME = re.compile(r"^dataset-1_(?P<content>[a-z]+(?:-[a-z]+)*)_(?P<style>[a-z]+(?:-[a-z]+)*)_(?P<take>\d+)$")
_BANDAI_PREFIX = "dataset-1_"
_BANDAI2_NAME = re.compile(r"^dataset-2_(?P<content>[a-z]+(?:-[a-z]+)*)_(?P<style>[a-z]+(?:-[a-z]+)*)_(?P<take>\d+)$")
_BANDAI2_PREFIX = "dataset-2_"


@dataclass(frozen=True)
class ClipRecord:
    """One labelled clip file.

    path: the clip file (absolute when made by the sources here)
    label: its class (e.g. an emotion)
    group: what must not straddle a split (content type, subject, ...); None = the clip is its own group
    task: the label set it belongs to ("emotion", "style", ...)
    clip_id: a unique id for the clip (all its windows share it)
    """

    path: str
    label: str
    group: str | None
    task: str
    clip_id: str

    def __post_init__(self) -> None:
        for name in ("path", "label", "task", "clip_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"ClipRecord.{name} must be a non-empty string, got {value!r}")
        if self.group is not None and (not isinstance(self.group, str) or not self.group):
            raise ValueError(f"ClipRecord.group must be None or a non-empty string, got {self.group!r}")


# ---- sources ---------------------------------------------------------------------------------

def _check_task(task: str) -> tuple[str, ...]:
    if task not in _TASK_LABELS:
        raise ValueError(f"task must be one of {sorted(_TASK_LABELS)}, got {task!r}")
    return _TASK_LABELS[task]


def _bandai_dirs(folder: str | os.PathLike) -> tuple[Path, Path]:
    """(data dir, cfg dir) from either the dataset root or its ``data/`` subfolder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ClipFormatError(folder, None, "not a folder; expected the Bandai Namco dataset root or its data/ subfolder")
    if (folder / "data").is_dir():
        return folder / "data", folder / "cfg"
    return folder, folder.parent / "cfg"


def _read_cfg_labels(path: Path, prefix: str = _BANDAI_PREFIX) -> list[str] | None:
    if not path.is_file():
        return None
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [n[len(prefix):] if n.startswith(prefix) else n for n in names]


def _check_bandai_json(json_path: Path, content: str, style: str,
                       contents: list[str] | None, styles: list[str] | None) -> None:
    """Cross-check the sibling ``{"content": i, "style": j}`` file against the file name."""
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ClipFormatError(json_path, None, f"not a readable JSON label file ({err})") from None
    if not isinstance(info, dict):
        raise ClipFormatError(json_path, None, f'expected an object {{"content": i, "style": j}}, got {type(info).__name__}')
    for key, names, expected in (("content", contents, content), ("style", styles, style)):
        if names is None:
            continue
        index = info.get(key)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(names):
            raise ClipFormatError(json_path, f"field {key!r}",
                                  f"expected an index 0..{len(names) - 1} into cfg/{key}_label.txt, got {index!r}")
        if names[index] != expected:
            raise ClipFormatError(json_path, f"field {key!r}",
                                  f"index {index} means {names[index]!r} but the file name says {expected!r}")


def _bandai_records(folder: str | os.PathLike, *, pattern: re.Pattern[str], prefix: str, labels: Sequence[str],
                    task: str, group_prefix: str = "") -> list[ClipRecord]:
    """Records of one Bandai Namco release: file names ``{prefix}{content}_{style}_{take}.bvh``, cross-checked
    against the sibling JSON label files; keeps the clips whose style is in ``labels``."""
    data_dir, cfg_dir = _bandai_dirs(folder)
    files = sorted(data_dir.glob("*.bvh"))
    expected = f"{prefix}{{content}}_{{style}}_{{take}}.bvh"
    if not files:
        raise ClipFormatError(data_dir, None, f"no .bvh files; expected {expected}")
    contents = _read_cfg_labels(cfg_dir / "content_label.txt", prefix)
    styles = _read_cfg_labels(cfg_dir / "style_label.txt", prefix)
    records = []
    for path in files:
        m = pattern.match(path.stem)
        if m is None:
            raise ClipFormatError(path, "file name", f"expected {expected}")
        json_path = path.with_suffix(".json")
        if json_path.is_file():
            _check_bandai_json(json_path, m["content"], m["style"], contents, styles)
        if m["style"] in labels:
            records.append(ClipRecord(str(path.resolve()), m["style"], group_prefix + m["content"], task, path.stem))
    return records


def records_from_bandai(folder: str | os.PathLike, task: str = "emotion", *,
                        balance_normal: bool = False) -> list[ClipRecord]:
    """Records of the Bandai Namco motion dataset-1 (``dataset-1_{content}_{style}_{take}.bvh``).

    ``folder`` is the dataset root (``.../bandai_namco_motion_1``) or its ``data/`` subfolder.
    The label is the file name's style word; ``task="emotion"`` keeps :data:`EMOTION_LABELS`,
    ``task="style"`` keeps :data:`STYLE_LABELS`. The group is the content type (walk, run, bye, ...),
    the clip id the file stem. When ``cfg/content_label.txt`` and ``cfg/style_label.txt`` exist, each
    clip's sibling ``.json`` (0-based indices into them) must agree with its file name, else
    :class:`ClipFormatError`. ``balance_normal=True`` keeps ``normal`` clips only in the content
    types the other labels of the task all share, so that content does not predict the class.
    """
    labels = _check_task(task)
    if task == "style2":
        raise ValueError("task 'style2' is dataset-2's label set: read it with records_from_bandai2 (kind bandai2)")
    records = _bandai_records(folder, pattern=_BANDAI_NAME, prefix=_BANDAI_PREFIX, labels=labels, task=task)
    if balance_normal and "normal" in labels:
        others = [{r.group for r in records if r.label == lab} for lab in labels if lab != "normal"]
        others = [g for g in others if g]
        shared = set.intersection(*others) if others else set()
        records = [r for r in records if r.label != "normal" or r.group in shared]
    if not records:
        raise ClipFormatError(_bandai_dirs(folder)[0], None, f"no clips with a {task} label ({', '.join(labels)})")
    return records


def records_from_bandai2(folder: str | os.PathLike) -> list[ClipRecord]:
    """Records of the Bandai Namco motion dataset-2 (``dataset-2_{content}_{style}_{take}.bvh``), task ``style2``.

    ``folder`` is the dataset root (``.../bandai_namco_motion_2``) or its ``data/`` subfolder; the sibling JSON
    files are cross-checked against ``cfg/`` as for dataset-1. Labels are the 7 styles of
    :data:`STYLE2_LABELS` (not emotions; a style outside them is a format error, not silently dropped). The
    group is ``dataset-2_<content>`` (the name ``cfg/content_label.txt`` uses), so excluding a dataset-1
    content type such as ``walk`` in a fold never removes dataset-2 clips: they carry no emotion label and
    stay in training in every fold.
    """
    records = _bandai_records(folder, pattern=_BANDAI2_NAME, prefix=_BANDAI2_PREFIX, labels=STYLE2_LABELS,
                              task="style2", group_prefix=_BANDAI2_PREFIX)
    data_dir = _bandai_dirs(folder)[0]
    n_files = len(list(data_dir.glob("*.bvh")))
    if len(records) != n_files:
        bad = sorted({p.stem.split("_")[2] for p in data_dir.glob("*.bvh")} - set(STYLE2_LABELS))
        raise ClipFormatError(data_dir, None, f"styles {bad} are not dataset-2 styles ({', '.join(STYLE2_LABELS)})")
    return records


def records_from_manifest(csv_path: str | os.PathLike, task: str = "emotion") -> list[ClipRecord]:
    """Records from a CSV manifest with a header ``path,label[,group]`` (other columns are ignored).

    Paths are relative to the CSV file's folder (absolute paths are kept). An empty ``group`` cell
    means the clip is its own group. The clip id is the path relative to the CSV folder without its
    suffix. Errors name the CSV file and line: a missing column, an empty cell, a missing clip file,
    a repeated path.
    """
    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ClipFormatError(csv_path, None, f"cannot read the manifest ({err})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    for column in ("path", "label"):
        if column not in header:
            raise ClipFormatError(csv_path, "line 1", f"missing column {column!r}; expected a header path,label[,group], got {','.join(header) or 'nothing'}")
    base = csv_path.resolve().parent
    records, seen = [], {}
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        rel, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
        group = (row.get("group") or "").strip() or None
        if not rel:
            raise ClipFormatError(csv_path, f"line {line}", "empty 'path'")
        if not label:
            raise ClipFormatError(csv_path, f"line {line}", f"empty 'label' for {rel!r}")
        path = (base / rel).resolve()
        if not path.is_file():
            raise ClipFormatError(csv_path, f"line {line}", f"clip file {rel!r} not found (looked for {path})")
        if str(path) in seen:
            raise ClipFormatError(csv_path, f"line {line}", f"{rel!r} is already listed on line {seen[str(path)]}")
        seen[str(path)] = line
        try:
            clip_id = path.relative_to(base).with_suffix("").as_posix()
        except ValueError:
            clip_id = path.with_suffix("").as_posix()
        records.append(ClipRecord(str(path), label, group, task, clip_id))
    if not records:
        raise ClipFormatError(csv_path, None, "no rows; expected at least one 'path,label' line after the header")
    return records


def _folder_group(path: Path, label_dir: Path) -> str:
    """Group of a file under ``root/<label>/``: see :func:`records_from_folders`."""
    rel = path.relative_to(label_dir)
    if len(rel.parts) > 1:
        return rel.parts[0]
    bandai = _BANDAI_NAME.match(path.stem)
    if bandai is not None:
        return bandai["content"]
    if "__" in path.stem.strip("_"):
        return path.stem.strip("_").split("__", 1)[0]
    return path.stem


def records_from_folders(root: str | os.PathLike, task: str = "emotion") -> list[ClipRecord]:
    """Records from per-label subfolders: ``root/<label>/*.{bvh,npz,npy,csv}``.

    The group of a file is derived, first rule that applies:

    1. a file one folder deeper, ``root/<label>/<group>/<file>``, takes that folder's name
       (e.g. a subject or a content type);
    2. a Bandai Namco style name ``dataset-1_{content}_{style}_{take}`` takes the content;
    3. a stem of the form ``<group>__<rest>`` (double underscore) takes ``<group>``;
    4. otherwise the file stem (the clip is its own group).

    The clip id is ``<label>/<path below the label folder without suffix>``. Hidden files and other
    suffixes are ignored; an empty tree raises :class:`ClipFormatError`.
    """
    root = Path(root)
    if not root.is_dir():
        raise ClipFormatError(root, None, "not a folder; expected root/<label>/<clip files>")
    records = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in label_dir.rglob("*")
                       if p.is_file() and p.suffix.lower() in CLIP_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(label_dir).parts)
                       and len(p.relative_to(label_dir).parts) <= 2)
        for path in files:
            clip_id = f"{label_dir.name}/{path.relative_to(label_dir).with_suffix('').as_posix()}"
            records.append(ClipRecord(str(path.resolve()), label_dir.name, _folder_group(path, label_dir), task, clip_id))
    if not records:
        raise ClipFormatError(root, None, f"no clip files ({', '.join(CLIP_SUFFIXES)}) in per-label subfolders root/<label>/")
    return records


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


# ---- splits, mixtures, labels ------------------------------------------------------------------

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
    order = _TASK_LABELS.get(tasks.pop()) if len(tasks) == 1 else None
    if order is None:
        return sorted(labels)
    return [lab for lab in order if lab in labels] + sorted(labels - set(order))
