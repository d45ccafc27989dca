"""Reader limits and defaults: file size, frames, joints, frame rate, duration, memory.

Every limit is checked *before* the memory it guards is allocated and fails with a one-line
:class:`~eai_llm.skeleton.errors.ClipLimitError` naming the file. A positive frame rate outside
``MIN_FPS..MAX_FPS`` is a limit too (a BVH ``Frame Time: 100000`` is 0.00001 fps: resampling it to 30
fps would need gigabytes), and so is a clip longer than ``MAX_DURATION_S`` seconds.
"""

from __future__ import annotations

import math

from ..clip import MAX_FRAMES
from ..errors import ClipLimitError, ClipValueError
from ..layouts import MAX_JOINTS

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_MEMORY", "FORMATS", "DEFAULT_GAP_FRAMES", "MAX_BVH_JOINTS", "MAX_JOINTS",
    "MIN_FPS", "MAX_FPS", "MAX_DURATION_S", "MAX_TEXT_BYTES", "MAX_HIERARCHY_BYTES",
    "check_fps", "check_frame_time", "check_shape", "check_duration", "estimate_bytes",
]

#: Files larger than this many bytes are refused (``max_bytes=`` overrides).
DEFAULT_MAX_BYTES = 200 * 1024 * 1024

#: A read whose estimated peak memory exceeds this many bytes is refused (``max_memory=`` overrides).
DEFAULT_MAX_MEMORY = 2 * 1024 ** 3

FORMATS = ("bvh", "npz", "npy", "csv")

#: ``interpolate_gaps=True`` means gaps of up to this many frames.
DEFAULT_GAP_FRAMES = 5

#: BVH hierarchies with more joints than this are refused (the same cap as every layout and array).
MAX_BVH_JOINTS = MAX_JOINTS

#: Frame rates (file or caller) outside this range are refused.
MIN_FPS, MAX_FPS = 1.0, 1000.0

#: Clips longer than this are refused: MAX_FRAMES at 30 fps (about 55 minutes).
MAX_DURATION_S = MAX_FRAMES / 30.0

#: Text members of an NPZ (layout JSON, meta JSON, label) larger than this are refused.
MAX_TEXT_BYTES = 1024 * 1024

#: A BVH hierarchy (the text before MOTION) longer than this is refused before it is tokenised.
MAX_HIERARCHY_BYTES = 4 * 1024 * 1024

_DEFAULT_FPS = 30.0

#: Bytes a reader holds per joint-frame at its peak (float64 positions, their unit-scaled copy, the
#: float32 clip, masks), per parsed text value (the float64 table and numpy's parse buffer) and per
#: byte of text (the decoded string and its copies). Measured with tracemalloc, 20,000-frame files:
#: BVH (19 joints) peak 114 MB vs 117 MB estimated, CSV (25 joints) 111 vs 129, NPY 33 vs 72.
_BYTES_PER_JOINT_FRAME = 3 * 8 * 6
_BYTES_PER_VALUE = 8 * 3
_BYTES_PER_TEXT_BYTE = 2


def estimate_bytes(frames: int, joints: int, values_per_frame: int = 0, text_bytes: int = 0) -> int:
    """Estimated peak bytes of reading ``frames`` x ``joints`` (plus a parsed numeric table and its text)."""
    return (int(frames) * (int(joints) * _BYTES_PER_JOINT_FRAME + int(values_per_frame) * _BYTES_PER_VALUE)
            + int(text_bytes) * _BYTES_PER_TEXT_BYTE)


def check_shape(source: str, place: str, frames: int, joints: int, *, max_frames: int, max_memory: int,
                values_per_frame: int = 0, text_bytes: int = 0) -> None:
    """Frames, joints and estimated memory of a read, before anything of that size is allocated."""
    if joints > MAX_JOINTS:
        raise ClipLimitError(source, place, f"{joints} joints, the limit is {MAX_JOINTS}")
    if frames > max_frames:
        raise ClipLimitError(source, place, f"{frames} frames, the limit is {max_frames}")
    need = estimate_bytes(frames, joints, values_per_frame, text_bytes)
    if need > max_memory:
        raise ClipLimitError(source, place, f"{frames} frames x {joints} joints would need about "
                                            f"{need / 2**30:.1f} GiB to read, the limit is {max_memory / 2**30:.1f} GiB "
                                            "(pass max_memory=)")


def check_fps(value: float, source: str, place: str) -> float:
    """A frame rate: a positive finite number (ClipValueError) within MIN_FPS..MAX_FPS (ClipLimitError)."""
    if math.isnan(value) or value <= 0:
        raise ClipValueError(source, place, f"frame rate {value:g}, expected a positive number of frames per second")
    if not MIN_FPS <= value <= MAX_FPS:  # inf included
        raise ClipLimitError(source, place, f"frame rate {value:.6g} fps, expected {MIN_FPS:g} to {MAX_FPS:g} fps")
    return float(value)


def check_frame_time(seconds: float, source: str, place: str) -> float:
    """A BVH ``Frame Time`` (seconds per frame) whose frame rate is within MIN_FPS..MAX_FPS; returns the fps."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ClipValueError(source, place, f"Frame Time {seconds:g}, expected a positive number of seconds")
    if not 1.0 / MAX_FPS <= seconds <= 1.0 / MIN_FPS:  # compared before dividing: 1 / 1e-320 overflows
        raise ClipLimitError(source, place, f"Frame Time {seconds!r} s, expected {1.0 / MAX_FPS:g} to "
                                            f"{1.0 / MIN_FPS:g} s ({MIN_FPS:g} to {MAX_FPS:g} fps)")
    return 1.0 / seconds


def check_duration(frames: int, fps: float, source: str) -> None:
    """Clips longer than MAX_DURATION_S seconds are refused (resampling them would need the memory)."""
    seconds = frames / fps
    if seconds > MAX_DURATION_S:
        raise ClipLimitError(source, "duration", f"{frames} frames at {fps:g} fps = {seconds:.0f} s, the limit is "
                                                 f"{MAX_DURATION_S:.0f} s")
