"""Skeleton data layer: clips, layouts, readers/writers, unification, kinematic cues."""

from .clip import SkeletonClip
from .errors import ClipError, ClipFormatError, ClipLimitError, ClipValueError, LayoutError
from .layouts import UNIFIED, Layout, get_layout, list_layouts, load_layout_file, register_layout

__all__ = [
    "SkeletonClip", "ClipError", "ClipFormatError", "ClipLimitError", "ClipValueError", "LayoutError",
    "UNIFIED", "Layout", "get_layout", "list_layouts", "load_layout_file", "register_layout",
]
