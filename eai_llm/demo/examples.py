"""The bundled example clips of a source checkout (``demo/examples/``, data, not code): which exist, the layout
each needs, and how the page labels them."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from .limits import AUTO

__all__ = ["EXAMPLES_DIR", "CLIP_SUFFIXES", "find_examples"]

#: Where the bundled example clips live in a source checkout (absent in a plain wheel install).
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "demo" / "examples"
CLIP_SUFFIXES = (".bvh", ".npz", ".npy", ".csv")


def _example_label(path: Path) -> str:
    stem = path.stem
    if stem.startswith("dataset-1_"):
        _, content, style, *_ = stem.split("_")
        return f"{style.capitalize()} {content.replace('-', ' ')} · real mocap (BVH)"
    if stem.startswith("synthetic_"):
        parts = stem.split("_")
        emotion, content = parts[-2], parts[-1]
        layout = "_".join(parts[1:-2])
        return f"{emotion.capitalize()} {content} · synthetic, {layout} ({path.suffix[1:].upper()})"
    return path.name


def _example_layout(path: Path) -> str:
    """The layout an example needs (NPY files do not say): ``synthetic_<layout>_...`` names carry it."""
    from ..skeleton.layouts import list_layouts

    if path.suffix.lower() == ".npy" and path.stem.startswith("synthetic_"):
        for name in sorted(list_layouts(), key=len, reverse=True):
            if path.stem.startswith(f"synthetic_{name}_"):
                return name
    return AUTO


def find_examples(examples_dir: str | PathLike | None = EXAMPLES_DIR) -> list[tuple[str, str, str]]:
    """``(path, layout, label)`` for each example clip in ``examples_dir`` (real ones first); [] when absent."""
    d = Path(examples_dir) if examples_dir else None
    if d is None or not d.is_dir():
        return []
    files = sorted((p for p in d.iterdir() if p.suffix.lower() in CLIP_SUFFIXES),
                   key=lambda p: (not p.name.startswith("dataset-1_"), p.name))
    return [(str(p), _example_layout(p), _example_label(p)) for p in files]

