"""A look at an uploaded file's structure before the readers parse it, without trusting anything in it.

:func:`inspect_upload` reads only headers (NPY array headers, the NPZ member list, the BVH joint count, the CSV
header) and refuses, with one-line :class:`~eai_llm.skeleton.errors.ClipError` messages, what the demo must never
act on whatever the readers do: more joints than the demo's cap (validation cost grows with them), NPZ members
larger than the upload limit once unpacked, and a ``layout`` inside the file that is not a built-in layout name or
the layout itself as JSON (a data file may not name a file on the server). It also tells whether the file carries
joint names, so that the page can ask for a layout before anything runs.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..skeleton.errors import ClipFormatError, ClipLimitError, LayoutError

__all__ = ["UploadFacts", "inspect_upload"]

#: The largest ``layout`` member of an NPZ that is read at all (a 1024-joint layout is ~0.5 MB as a numpy
#: unicode string, 4 bytes a character).
MAX_TEXT_MEMBER = 8 * 1024 * 1024


@dataclass(frozen=True)
class UploadFacts:
    """What the file's structure says: its joint count (None when the header does not tell) and whether it
    names its joints (BVH, CSV, an NPZ with a layout); ``needs_layout`` when the user has to choose one."""

    joints: int | None
    named: bool

    @property
    def needs_layout(self) -> bool:
        return not self.named and self.joints is not None


def inspect_upload(path: Path, max_bytes: int, max_joints: int, layouts: Sequence[str]) -> UploadFacts:
    """Check an upload's structure (see the module docstring); raises a one-line ClipError naming the file."""
    name = path.name
    size = path.stat().st_size
    if size > max_bytes:
        raise ClipLimitError(name, "file size", f"{size / 2**20:.1f} MB, the demo accepts files up to "
                                                f"{max_bytes / 2**20:.3g} MB")
    with open(path, "rb") as f:
        head = f.read(8)
    suffix = path.suffix.lower()
    if head.startswith(b"PK"):
        facts = _inspect_npz(path, name, max_bytes, max_joints, layouts)
    elif head.startswith(b"\x93NUMPY"):
        facts = UploadFacts(_npy_joints(path, name), named=False)
    elif suffix == ".bvh":
        facts = UploadFacts(path.read_bytes().count(b"JOINT") + 1, named=True)
    elif suffix == ".csv":
        facts = UploadFacts(_csv_joints(path), named=True)
    else:
        facts = UploadFacts(None, named=True)
    if facts.joints is not None and facts.joints > max_joints:
        raise ClipLimitError(name, "joints", f"{facts.joints} joints, the demo accepts skeletons of up to "
                                             f"{max_joints} joints")
    return facts


def _npy_shape(fp, name: str, where: str) -> tuple[int, ...]:
    try:
        version = np.lib.format.read_magic(fp)
        shape, _, _ = (np.lib.format.read_array_header_1_0(fp) if version == (1, 0)
                       else np.lib.format.read_array_header_2_0(fp))
    except Exception as err:  # numpy's header parser raises many types on corrupt bytes
        raise ClipFormatError(name, where, f"not a readable NPY array header ({' '.join(str(err).split())[:100]})") \
            from None
    return tuple(int(n) for n in shape)


def _joints_of(shape: tuple[int, ...]) -> int | None:
    if len(shape) == 3:
        return shape[1]
    if len(shape) == 2 and shape[1] % 3 == 0:
        return shape[1] // 3
    return None


def _npy_joints(path: Path, name: str) -> int | None:
    with open(path, "rb") as f:
        return _joints_of(_npy_shape(f, name, "header"))


def _csv_joints(path: Path) -> int:
    with open(path, "rb") as f:
        line = b""
        for line in f:
            if line.strip():
                break
    return (max(line.count(b","), line.count(b";"), line.count(b"\t")) + 1) // 3   # columns // 3 (an upper bound)


def _inspect_npz(path: Path, name: str, max_bytes: int, max_joints: int, layouts: Sequence[str]) -> UploadFacts:
    try:
        zf = zipfile.ZipFile(path)
    except Exception as err:  # BadZipFile, struct errors, ...
        raise ClipFormatError(name, None, f"corrupt NPZ archive ({' '.join(str(err).split())[:100]})") from None
    with zf:
        members = {info.filename: info for info in zf.infolist()}
        for info in members.values():
            if info.file_size > max_bytes:
                raise ClipLimitError(name, info.filename, f"{info.file_size / 2**20:.1f} MB unpacked, the demo "
                                                          f"accepts files up to {max_bytes / 2**20:.3g} MB")
        shapes = {}
        for member in members:
            if member.endswith(".npy"):
                with zf.open(member) as fp:
                    shapes[member[:-4]] = _npy_shape(fp, name, member[:-4])
        key = "positions" if "positions" in shapes else next((k for k, s in shapes.items() if len(s) == 3), None)
        joints = _joints_of(shapes[key]) if key else None
        if joints is not None and joints > max_joints:
            raise ClipLimitError(name, "joints", f"{joints} joints, the demo accepts skeletons of up to "
                                                 f"{max_joints} joints")
        if "layout" not in shapes:
            return UploadFacts(joints, named=False)
        if members["layout.npy"].file_size > MAX_TEXT_MEMBER:
            raise ClipLimitError(name, "layout", f"{members['layout.npy'].file_size / 2**20:.1f} MB, an embedded "
                                                 f"layout may be up to {MAX_TEXT_MEMBER / 2**20:g} MB")
        with zf.open("layout.npy") as fp:
            try:
                value = np.lib.format.read_array(fp, allow_pickle=False)
            except Exception as err:
                raise ClipFormatError(name, "layout", f"not a readable string ({' '.join(str(err).split())[:100]})") \
                    from None
    _check_layout_field(value, name, layouts, max_joints)
    return UploadFacts(joints, named=True)


def _check_layout_field(value: np.ndarray, name: str, layouts: Sequence[str], max_joints: int) -> None:
    """A layout named inside a data file: a built-in name or embedded JSON, never a path; JSON within the cap."""
    if value.ndim != 0 or value.dtype.kind not in "US":
        raise ClipFormatError(name, "layout", f"expected a string (0-d unicode array), got {value.dtype} "
                                              f"{value.shape}")
    item = value.item()
    text = (item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)).strip()
    if not text.startswith("{"):
        if text not in layouts:
            raise LayoutError(name, "layout", "the file names a layout that is not one of the demo's built-in "
                                              "layouts (a clip file may carry a layout name or the layout itself "
                                              "as JSON, never a file to open)")
        return
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise ClipFormatError(name, "layout", f"not valid JSON ({err.msg})") from None
    names = spec.get("joints") if isinstance(spec, dict) else None
    if isinstance(names, list) and len(names) > max_joints:
        raise ClipLimitError(name, "layout", f"{len(names)} joints, the demo accepts skeletons of up to "
                                             f"{max_joints} joints")
    if isinstance(names, list) and names:
        return  # the readers validate the rest
    raise ClipFormatError(name, "layout", "embedded layout JSON without a 'joints' list")
