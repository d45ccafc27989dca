"""The BVH parser: hierarchy (joints, offsets, channels, end sites) and the MOTION block."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..clip import MAX_FRAMES
from ..errors import ClipFormatError, ClipLimitError, ClipValueError
from .limits import DEFAULT_MAX_MEMORY, MAX_BVH_JOINTS, MAX_HIERARCHY_BYTES, check_frame_time, check_shape
from .text import _NUMBER, _parse_numeric_rows, _show


_CHANNELS = {f"{a.lower()}{k}": (f"{a}{k}", "XYZ".index(a), k == "rotation")
             for a in "XYZ" for k in ("position", "rotation")}

@dataclass
class BvhData:
    """A parsed BVH file, before forward kinematics (all lengths in file units)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray                     # (J, 3)
    channels: list[list[str]]               # per joint, e.g. ["Xposition", ..., "Zrotation", ...]
    end_sites: list[tuple[int, np.ndarray]]  # (parent joint, offset)
    frame_time: float
    motion: np.ndarray                      # (T, C) channel values, joints in file order
    motion_lines: np.ndarray = field(repr=False)  # file line of each frame
    joint_lines: list[int] = field(default_factory=list, repr=False)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    def column_name(self, col: int) -> str:
        """'value 5 (Hips Yrotation)' for a 0-based motion column."""
        k = 0
        for name, chans in zip(self.names, self.channels):
            if col < k + len(chans):
                return f"value {col + 1} ({name} {chans[col - k]})"
            k += len(chans)
        return f"value {col + 1}"


class _Tokens:
    """Tokens of the BVH hierarchy with their line numbers (braces are tokens of their own)."""

    def __init__(self, text: str, source: str):
        self.source = source
        self.items: list[tuple[str, int]] = []
        for ln, line in enumerate(text.split("\n"), 1):
            for tok in line.replace("{", " { ").replace("}", " } ").split():
                self.items.append((tok, ln))
        self.pos = 0
        self.last_line = text.count("\n") + 1

    def peek(self) -> tuple[str | None, int]:
        return self.items[self.pos] if self.pos < len(self.items) else (None, self.last_line)

    def next(self, expected: str) -> tuple[str, int]:
        tok, ln = self.peek()
        if tok is None:
            raise ClipFormatError(self.source, f"line {ln}",
                                  f"unexpected end of the hierarchy, expected {expected} (file truncated?)")
        self.pos += 1
        return tok, ln

    def expect(self, word: str) -> int:
        tok, ln = self.next(repr(word))
        if tok != word:
            raise ClipFormatError(self.source, f"line {ln}", f"expected {word!r}, got {_show(tok)}")
        return ln

    def rest_of_line(self, ln: int) -> list[str]:
        out = []
        while self.pos < len(self.items) and self.items[self.pos][1] == ln and self.items[self.pos][0] not in "{}":
            out.append(self.items[self.pos][0])
            self.pos += 1
        return out


def _parse_offset(toks: _Tokens) -> np.ndarray:
    ln = toks.expect("OFFSET")
    vals = []
    for _ in range(3):
        tok, tln = toks.next("3 OFFSET numbers")
        if tln != ln or not _NUMBER.fullmatch(tok):
            raise ClipFormatError(toks.source, f"line {tln}", f"OFFSET needs 3 numbers, got {_show(tok)}")
        vals.append(float(tok))
    tok, tln = toks.peek()
    if tok is not None and tln == ln and tok not in "{}":
        raise ClipFormatError(toks.source, f"line {ln}", f"OFFSET needs exactly 3 numbers, got more ({_show(tok)})")
    if not all(math.isfinite(v) for v in vals):
        raise ClipValueError(toks.source, f"line {ln}", "non-finite OFFSET, expected 3 finite numbers")
    return np.array(vals)


def _parse_channels(toks: _Tokens) -> list[str]:
    ln = toks.expect("CHANNELS")
    tok, tln = toks.next("a channel count")
    if tln != ln or not re.fullmatch(r"[0-9]{1,6}", tok):
        raise ClipFormatError(toks.source, f"line {tln}", f"expected a channel count after CHANNELS, got {_show(tok)}")
    count = int(tok)
    names = toks.rest_of_line(ln)
    if len(names) != count:
        raise ClipFormatError(toks.source, f"line {ln}",
                              f"CHANNELS {count} but {len(names)} channel names follow; expected the count to match "
                              "(3 rotations, or 3 positions + 3 rotations)")
    if count > 6:
        raise ClipFormatError(toks.source, f"line {ln}", f"CHANNELS {count}, expected at most 6 channels per joint")
    out = []
    for name in names:
        spec = _CHANNELS.get(name.lower())
        if spec is None:
            raise ClipFormatError(toks.source, f"line {ln}",
                                  f"unknown channel {_show(name)}, expected one of "
                                  "Xposition Yposition Zposition Xrotation Yrotation Zrotation")
        out.append(spec[0])
    if len(set(out)) != len(out):
        raise ClipFormatError(toks.source, f"line {ln}", f"repeated channel in {' '.join(names)}")
    return out


def _parse_hierarchy(text: str, source: str) -> tuple[list[str], list[int], list[np.ndarray], list[list[str]],
                                                       list[tuple[int, np.ndarray]], list[int]]:
    toks = _Tokens(text, source)
    tok, ln = toks.next("'HIERARCHY'")
    if tok != "HIERARCHY":
        raise ClipFormatError(source, f"line {ln}",
                              f"expected 'HIERARCHY' at the start of a BVH file, got {_show(tok)}")
    tok, ln = toks.next("'ROOT'")
    if tok != "ROOT":
        raise ClipFormatError(source, f"line {ln}", f"expected 'ROOT <name>', got {_show(tok)}")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray] = []
    channels: list[list[str]] = []
    lines: list[int] = []
    end_sites: list[tuple[int, np.ndarray]] = []
    stack: list[int] = []

    def open_joint(parent: int, ln: int) -> None:
        name = " ".join(toks.rest_of_line(ln))
        if not name:
            raise ClipFormatError(source, f"line {ln}", "expected a joint name after ROOT/JOINT")
        if len(names) >= MAX_BVH_JOINTS:
            raise ClipLimitError(source, f"line {ln}", f"more than {MAX_BVH_JOINTS} joints")
        toks.expect("{")
        names.append(name)
        parents.append(parent)
        lines.append(ln)
        offsets.append(_parse_offset(toks))
        channels.append(_parse_channels(toks))
        stack.append(len(names) - 1)

    open_joint(-1, ln)
    while stack:
        tok, ln = toks.next("'JOINT', 'End Site' or '}'")
        if tok == "JOINT":
            open_joint(stack[-1], ln)
        elif tok == "End":
            site, sln = toks.next("'Site'")
            if site != "Site":
                raise ClipFormatError(source, f"line {sln}", f"expected 'End Site', got 'End {site}'")
            toks.expect("{")
            end_sites.append((stack[-1], _parse_offset(toks)))
            toks.expect("}")
        elif tok == "}":
            stack.pop()
        else:
            raise ClipFormatError(source, f"line {ln}", f"expected 'JOINT', 'End Site' or '}}', got {_show(tok)}")
    tok, ln = toks.peek()
    if tok is not None:
        raise ClipFormatError(source, f"line {ln}", f"expected 'MOTION' after the hierarchy, got {_show(tok)}")
    return names, parents, offsets, channels, end_sites, lines


def parse_bvh(text: str, source: str = "<bvh>", max_frames: int = MAX_FRAMES,
              max_memory: int = DEFAULT_MAX_MEMORY) -> BvhData:
    """Parse BVH text (hierarchy + motion) without forward kinematics.

    The MOTION block is parsed in one vectorised call; rows are checked against ``Frames:`` and the
    channel count. Frames, frame rate, joints and the estimated memory of the read are checked before the
    motion block is parsed. Raises :class:`ClipFormatError` / :class:`ClipValueError` / :class:`ClipLimitError`.
    """
    m = re.search(r"^[ \t]*MOTION[ \t]*$", text, re.MULTILINE)
    header = text if m is None else text[:m.start()]
    if len(header) > MAX_HIERARCHY_BYTES:
        raise ClipLimitError(source, "HIERARCHY", f"{len(header)} characters before MOTION, the limit is "
                                                  f"{MAX_HIERARCHY_BYTES} ({MAX_BVH_JOINTS} joints at most)")
    names, parents, offsets, channels, end_sites, jlines = _parse_hierarchy(header, source)
    if m is None:
        raise ClipFormatError(source, f"line {text.count(chr(10)) + 1}",
                              "missing MOTION section after the hierarchy (file truncated?)")
    line_no = text.count("\n", 0, m.start()) + 1
    pos = m.end() + 1

    def next_line(what: str) -> tuple[str, int]:
        nonlocal pos, line_no
        while pos <= len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            pos = end + 1
            line_no += 1
            if line.strip():
                return line, line_no
        raise ClipFormatError(source, f"line {line_no}", f"expected {what} after MOTION (file truncated?)")

    line, ln = next_line("'Frames: N'")
    fm = re.fullmatch(r"\s*Frames\s*:\s*(\S+)\s*", line, re.IGNORECASE)
    if fm is None:
        raise ClipFormatError(source, f"line {ln}", f"expected 'Frames: N', got {_show(line.strip())}")
    if not re.fullmatch(r"[0-9]+", fm.group(1)):
        raise ClipFormatError(source, f"line {ln}", f"expected a whole number of frames, got {_show(fm.group(1))}")
    if len(fm.group(1).lstrip("0")) > 12:
        raise ClipLimitError(source, f"line {ln}", f"Frames: {fm.group(1)[:16]}..., the limit is {max_frames}")
    nframes = int(fm.group(1))
    if nframes == 0:
        raise ClipValueError(source, f"line {ln}", "Frames: 0, expected at least 1 frame")
    if nframes > max_frames:
        raise ClipLimitError(source, f"line {ln}", f"Frames: {nframes}, the limit is {max_frames}")
    line, ln = next_line("'Frame Time: seconds'")
    tm = re.fullmatch(r"\s*Frame\s+Time\s*:\s*(\S+)\s*", line, re.IGNORECASE)
    if tm is None:
        raise ClipFormatError(source, f"line {ln}", f"expected 'Frame Time: seconds', got {_show(line.strip())}")
    if not _NUMBER.fullmatch(tm.group(1)):
        raise ClipFormatError(source, f"line {ln}", f"Frame Time {_show(tm.group(1))} is not a number")
    frame_time = float(tm.group(1))
    check_frame_time(frame_time, source, f"line {ln}")
    ncols = sum(len(c) for c in channels)
    if ncols == 0:
        raise ClipFormatError(source, "CHANNELS", "no joint has channels, expected motion channels")
    check_shape(source, f"line {ln - 1}", nframes, len(names) + len(end_sites), max_frames=max_frames,
                max_memory=max_memory, values_per_frame=ncols, text_bytes=len(text))
    data = BvhData(names, parents, np.array(offsets), channels, end_sites, frame_time,
                   np.zeros((0, ncols)), np.zeros(0, dtype=np.int64), jlines)
    block = text[pos:] if pos <= len(text) else ""
    newlines = block.count("\n")
    if newlines > 2 * nframes + 1000:  # counted before the block is split into line objects
        raise ClipFormatError(source, f"line {line_no + 1}", f"{newlines} lines of motion for Frames: {nframes}; "
                                                             "expected one line per frame")
    motion, mlines = _parse_numeric_rows(block, ncols, line_no + 1, source, data.column_name,
                                         expected_rows=nframes, rows_what="frames (Frames: line)")
    data.motion, data.motion_lines = motion, mlines
    return data
