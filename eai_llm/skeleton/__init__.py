"""Skeleton data layer: clips, layouts, readers/writers, unification, kinematic cues."""

from .clip import SkeletonClip
from .errors import ClipError, ClipFormatError, ClipLimitError, ClipValueError, ClipWriteError, LayoutError
from .layouts import UNIFIED, Layout, get_layout, list_layouts, load_layout_file, register_layout

__all__ = [
    "SkeletonClip", "ClipError", "ClipFormatError", "ClipLimitError", "ClipValueError", "ClipWriteError", "LayoutError",
    "UNIFIED", "Layout", "get_layout", "list_layouts", "load_layout_file", "register_layout",
]
