"""Writing clips: the project's NPZ format, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ..clip import SkeletonClip
from ..errors import ClipWriteError


def check_npz_target(path: str | PathLike) -> Path:
    """``path`` as a place :func:`save_clip` can write, or :class:`ClipWriteError` naming it (not a ``.npz``
    path, a folder, or in a missing folder). Callers check before long work (``eai-llm convert``)."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise ClipWriteError(path, None, "save_clip writes the NPZ format; the path must end in .npz")
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ClipWriteError(path, None, "is a folder, expected the path of a .npz file to write")
    if not directory.is_dir():
        what = "is not a folder" if directory.exists() else "does not exist"
        raise ClipWriteError(path, None, f"cannot write: the folder {str(directory)!r} {what}")
    return path


def save_clip(clip: SkeletonClip, path: str | PathLike) -> Path:
    """Write ``clip`` to ``path`` in the project's NPZ format (see the module docstring).

    The file is written to a temporary file in the same folder and moved into place with
    :func:`os.replace`, so ``path`` is either the complete new file or untouched. Returns the path.
    Raises :class:`ClipWriteError` (one line naming ``path``, never the temporary file) when ``path``
    is not a ``.npz`` path, is a folder, its folder is missing or the write fails.
    """
    if not isinstance(clip, SkeletonClip):
        raise TypeError(f"save_clip expects a SkeletonClip, got {type(clip).__name__}")
    path = check_npz_target(path)
    directory = path.parent if str(path.parent) else Path(".")
    arrays: dict[str, np.ndarray] = {
        "positions": np.ascontiguousarray(clip.positions, dtype=np.float32),
        "fps": np.array(float(clip.fps), dtype=np.float64),
        "layout": np.array(json.dumps(clip.layout.to_dict())),
        "meta": np.array(json.dumps(clip.meta, default=_json_default)),
    }
    if clip.label is not None:
        arrays["label"] = np.array(str(clip.label))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise ClipWriteError(path, None, f"cannot write ({err.strerror or err})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(path))  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):  # disk full, permissions, a folder appeared at path, ...
            raise ClipWriteError(path, None, f"cannot write ({err.strerror or err})") from None
        raise
    return path


def _new_file_mode(path: Path) -> int:
    """The mode ``path`` has now, or what ``open()`` would give a new file under the current umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, PathLike)):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)
