"""Labelled clip records: the label sets and the sources that list a dataset's clips.

Each source returns a list of :class:`ClipRecord` (a clip file, its label, its group, its task):

- :func:`records_from_bandai` -- the Bandai Namco motion dataset-1 in ``../shared/data`` (emotions, styles);
- :func:`records_from_bandai2` -- the Bandai Namco motion dataset-2 (7 styles that are not emotions, task
  ``style2``; its groups keep the ``dataset-2_`` prefix so they never collide with dataset-1's content types);
- :func:`records_from_manifest` -- a CSV ``path,label[,group]``;
- :func:`records_from_folders` -- ``root/<label>/<file>``.

A bad source raises :class:`~eai_llm.skeleton.errors.ClipFormatError` naming the file and what is wrong.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..skeleton.errors import ClipFormatError

__all__ = ["EMOTION_LABELS", "STYLE_LABELS", "STYLE2_LABELS", "TASK_LABELS", "CLIP_SUFFIXES", "ClipRecord",
           "records_from_bandai", "records_from_bandai2", "records_from_manifest", "records_from_folders"]

#: The emotion task of the Bandai Namco data (its "styles" that are emotions), in a fixed order.
EMOTION_LABELS: tuple[str, ...] = ("happy", "sad", "angry", "proud", "not-confident", "tired", "normal")
#: The Bandai Namco styles that are not emotions (the "style" task).
STYLE_LABELS: tuple[str, ...] = (
    "active", "childish", "chimpira", "feminine", "giant", "masculinity", "musical", "old",
)
#: The styles of Bandai Namco dataset-2 (the "style2" task). They are not emotions: dataset-2's ``normal`` is a
#: neutral *style* of moving, ``exhausted`` is not dataset-1's ``tired``; nothing maps one set onto the other.
STYLE2_LABELS: tuple[str, ...] = ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful")
TASK_LABELS = {"emotion": EMOTION_LABELS, "style": STYLE_LABELS, "style2": STYLE2_LABELS}

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


def _check_task(task: str) -> tuple[str, ...]:
    if task not in TASK_LABELS:
        raise ValueError(f"task must be one of {sorted(TASK_LABELS)}, got {task!r}")
    return TASK_LABELS[task]


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
