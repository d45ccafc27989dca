"""Reader limits and defaults: file size, frames, joints, frame rate, memory."""

from __future__ import annotations



#: Files larger than this many bytes are refused (``max_bytes=`` overrides).
DEFAULT_MAX_BYTES = 200 * 1024 * 1024

FORMATS = ("bvh", "npz", "npy", "csv")

#: ``interpolate_gaps=True`` means gaps of up to this many frames.
DEFAULT_GAP_FRAMES = 5

#: BVH hierarchies with more joints than this are refused.
MAX_BVH_JOINTS = 1024

_DEFAULT_FPS = 30.0
