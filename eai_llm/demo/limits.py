"""What one demo request may ask of the server, and the one-line messages the page shows when it asks too much.

:class:`DemoLimits` holds the limits (upload size, clip length, joints, seconds per request, requests at once);
:func:`read_upload` reads an upload within them (after :func:`~eai_llm.demo.guard.inspect_upload` has looked at
the file's structure without trusting it); :func:`user_message` turns any failure into one line that names the
uploaded file by its own name and never shows a server path (:func:`scrub_paths`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..skeleton.errors import LayoutError

if TYPE_CHECKING:  # pragma: no cover
    from ..skeleton.clip import SkeletonClip

__all__ = ["AUTO", "DemoLimits", "LayoutNeeded", "page_words", "read_upload", "scrub_paths", "user_message"]

AUTO = "auto"


@dataclass(frozen=True)
class DemoLimits:
    """What one request may ask of the server (the first two are shown in the page).

    max_upload_mb: file size; max_seconds: clip duration; max_joints: joints in the file (checked from its
    structure before anything is allocated); request_seconds: wall time of one request (reading, classifying and
    explaining) before the page is told it took too long; concurrency: requests served at once.
    """

    max_upload_mb: float = 20.0
    max_seconds: float = 120.0
    max_joints: int = 1024
    request_seconds: float = 120.0
    concurrency: int = 2

    def __post_init__(self) -> None:
        if not (self.max_upload_mb > 0 and self.max_seconds > 0 and self.request_seconds > 0):
            raise ValueError(f"demo limits must be positive, got {self.max_upload_mb} MB, {self.max_seconds} s "
                             f"and {self.request_seconds} s per request")
        if self.max_joints < 1 or self.concurrency < 1:
            raise ValueError(f"demo limits must be at least 1, got {self.max_joints} joints and "
                             f"{self.concurrency} requests at once")

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def describe(self) -> str:
        """E.g. ``"files up to 20 MB, clips up to 2 minutes"``."""
        secs = self.max_seconds
        length = f"{secs / 60:g} minutes" if secs >= 60 and secs % 60 == 0 else f"{secs:g} s"
        return f"files up to {self.max_upload_mb:g} MB, clips up to {length}"


class LayoutNeeded(LayoutError):
    """The file has no joint names and the page's layout is "auto": the user has to choose one."""

    def __init__(self, source: str, joints: int, candidates: Sequence[str]):
        self.joints, self.candidates = joints, list(candidates)
        hint = (f" ({', '.join(self.candidates)} {'has' if len(self.candidates) == 1 else 'have'} {joints} joints)"
                if self.candidates else f" (no built-in layout has {joints} joints)")
        super().__init__(source, None, f"this file has {joints} joints and no joint names: choose its skeleton "
                                       f"layout below{hint}")


# an absolute path of two or more parts (POSIX or Windows), not preceded by a word character (keeps "m/s")
_ABS_PATH = re.compile(r"(?<![\w.~])(?:[A-Za-z]:)?(?:[/\\][^\s/\\'\"`:,;()\[\]]+)+[/\\]([^\s/\\'\"`:,;()\[\]]+)")
# command-line wording the readers use, in the page's words
_CLI_WORDS = [(re.compile(r"pass layout= \(--layout\) or register a layout file"),
               "none of the demo's layouts has these joint names"),
              (re.compile(r"pass layout= \(--layout\)"), "choose its skeleton layout below"),
              (re.compile(r"[;,]? *(?:or )?pass interpolate_gaps=\S+ to fill [^;]*"), ""),
              (re.compile(r" *\(pass max_bytes= to raise it\)"), ""),
              (re.compile(r"pass --units\b"), "lengths and speeds may be off")]


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last part (the page never shows a server path)."""
    return _ABS_PATH.sub(r"\1", text)


def page_words(text: str) -> str:
    """The readers' command-line wording (``pass layout= (--layout)``, ``pass --units``) in the page's words."""
    for pattern, words in _CLI_WORDS:
        text = pattern.sub(words, text)
    return text


def user_message(err: BaseException, path: str | PathLike | None = None) -> str:
    """One line for the page: the uploaded file's own name (not the server's temp path), place and reason."""
    from ..skeleton.errors import ClipError

    name = Path(path).name if path else None
    if isinstance(err, ClipError):
        source = Path(err.source).name if err.source not in ("<array>", "") else (name or err.source)
        text = ": ".join([source] + ([str(err.place)] if err.place else []) + [err.reason])
    elif isinstance(err, FileNotFoundError):
        text = f"{name or Path(str(err.filename or 'upload')).name}: file not found"
    else:
        text = " ".join(str(err).split()) or type(err).__name__
        if path:
            text = text.replace(str(path), name or "")
        if isinstance(err, (ValueError, OSError)) and not isinstance(err, RuntimeError):
            text = text if name and text.startswith(name) else f"{name or 'upload'}: {text}"
        elif not isinstance(err, RuntimeError):
            text = f"{name or 'upload'}: internal error ({type(err).__name__}: {text}); the server logged the details"
    return scrub_paths(page_words(" ".join(text.split())))


def read_upload(path: str | PathLike, layout: str | None = AUTO, limits: DemoLimits = DemoLimits(),
                layouts: Sequence[str] | None = None) -> "SkeletonClip":
    """Read an uploaded clip within the demo's limits; raises :class:`ClipError` (one line) otherwise.

    layout: a layout name from ``layouts`` (default: the registered ones), or ``"auto"`` / None to take it
    from the file; a file without joint names then raises :class:`LayoutNeeded`. The file's structure is
    checked first (:func:`~eai_llm.demo.guard.inspect_upload`: size, joint count, no path named inside it).
    """
    from ..skeleton.errors import ClipLimitError
    from ..skeleton.io import load_clip
    from ..skeleton.layouts import get_layout, list_layouts
    from .guard import inspect_upload

    p = Path(path)
    names = list(layouts) if layouts is not None else list_layouts()
    chosen = None if layout in (None, "", AUTO) else str(layout)
    if chosen is not None and chosen not in names:
        raise LayoutError(p.name, "layout", f"{chosen!r} is not one of the demo's layouts ({', '.join(names)})")
    size = p.stat().st_size
    if size > limits.max_bytes:
        raise ClipLimitError(p.name, "file size", f"{size / 2**20:.1f} MB, the demo accepts files up to "
                                                  f"{limits.max_upload_mb:g} MB")
    facts = inspect_upload(p, limits.max_bytes, limits.max_joints, names)
    if chosen is None and facts.needs_layout:
        raise LayoutNeeded(p.name, facts.joints, [n for n in names if get_layout(n).num_joints == facts.joints])
    clip = load_clip(p, layout=chosen, max_bytes=limits.max_bytes)
    if clip.duration > limits.max_seconds:
        raise ClipLimitError(p.name, "duration", f"{clip.duration:.1f} s, the demo accepts clips up to "
                                                 f"{limits.max_seconds:g} s")
    return clip
