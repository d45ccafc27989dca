"""Bad clip input: every case is one clean line naming the file; fuzzed files load or fail cleanly."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from bvh_reference import bvh_text, human_rig, random_motion, write
from conftest import ROOT, real_bvh_files
from eai_llm.cli import main
from eai_llm.skeleton.clip import MAX_FRAMES
from eai_llm.skeleton.errors import ClipError, ClipFormatError, ClipLimitError, ClipValueError
from eai_llm.skeleton.io import load_clip


# ---- bad input: every case is one clean line naming the file ------------------------------------
def _tiny_text(**kw) -> str:
    joints = human_rig()
    return bvh_text(joints, random_motion(joints, 4, seed=9), **kw)


def _replace_first(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _set_value(text: str, frame: int, col: int, token: str) -> str:
    """Replace one motion value (0-based frame and column) by ``token``."""
    lines = text.splitlines()
    row = lines.index(next(l for l in lines if l.startswith("Frame Time"))) + 1 + frame
    vals = lines[row].split()
    vals[col] = token
    lines[row] = " ".join(vals)
    return "\n".join(lines) + "\n"


BAD_CASES = {
    "no_motion": (lambda t: t.split("MOTION")[0], ClipFormatError, "missing MOTION"),
    "cut_in_hierarchy": (lambda t: t[:t.index("JOINT LeftArm")], ClipFormatError, "unexpected end of the hierarchy"),
    "fewer_rows": (lambda t: "\n".join(t.splitlines()[:-2]) + "\n", ClipFormatError,
                   "truncated: expected 4 frames"),
    "cut_mid_row": (lambda t: t[:-40], ClipFormatError, r"line \d+: expected 51 values per row, got \d+"),
    "channels_4": (lambda t: _replace_first(t, "CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation"), ClipFormatError,
                   r"line 9: CHANNELS 4 but 3 channel names follow"),
    "row_too_long": (lambda t: t.rstrip("\n") + " 1.0\n", ClipFormatError, r"expected 51 values per row, got 52"),
    "non_numeric": (lambda t: _set_value(t, 1, 10, "x1.5"), ClipFormatError,
                    r"line \d+, value 11 \(Chest Xrotation\): 'x1.5' is not a number"),
    "zero_frames": (lambda t: _replace_first(t, "Frames: 4", "Frames: 0"), ClipValueError, "Frames: 0"),
    "nan": (lambda t: _set_value(t, 2, 0, "nan"), ClipValueError, r"line \d+, value 1 \(Hips Xposition\): non-finite"),
    "inf": (lambda t: _set_value(t, 0, 50, "-inf"), ClipValueError,
            r"line \d+, value 51 \(RightLeg Yrotation\): non-finite"),
    "overflow": (lambda t: _set_value(t, 0, 1, "1e300"), ClipValueError,
                 r"line \d+ \(frame 0\), joint 'Hips': non-finite"),
    "bad_channel": (lambda t: _replace_first(t, "Xrotation", "Wrotation"), ClipFormatError,
                    r"unknown channel 'Wrotation'"),
    "bad_offset": (lambda t: _replace_first(t, "OFFSET 0.0 12.0", "OFFSET 0.0 twelve"), ClipFormatError,
                   r"OFFSET needs 3 numbers"),
    "frame_time_0": (lambda t: t.replace("Frame Time: 0.0333333", "Frame Time: 0"), ClipValueError,
                     "expected a positive number of seconds"),
    "too_many_frames": (lambda t: _replace_first(t, "Frames: 4", f"Frames: {MAX_FRAMES + 1}"), ClipLimitError,
                        "the limit is"),
    "huge_frame_number": (lambda t: _replace_first(t, "Frames: 4", "Frames: " + "9" * 5000), ClipLimitError,
                          "the limit is"),
    "not_bvh": (lambda t: "HELLO\n" + t, ClipFormatError, "expected 'HIERARCHY'"),
    "empty": (lambda t: "", ClipFormatError, "empty file"),
    "blank": (lambda t: "  \n\n", ClipFormatError, "empty file"),
    "binary": (lambda t: bytes(random.Random(0).randrange(256) for _ in range(3000)), ClipFormatError,
               "binary data|expected 'HIERARCHY'"),
    "binary_no_nul": (lambda t: bytes(random.Random(1).randrange(128, 256) for _ in range(3000)), ClipFormatError,
                      "expected 'HIERARCHY'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_bvh_raises_one_clean_line(tmp_path: Path, case: str, capsys: pytest.CaptureFixture) -> None:
    mutate, err_type, pattern = BAD_CASES[case]
    path = write(tmp_path / f"bad_{case}.bvh", mutate(_tiny_text()))
    with pytest.raises(err_type, match=pattern) as info:
        load_clip(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ": ") and "\n" not in msg
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_other_bad_inputs(tmp_path: Path, tiny_bvh, capsys: pytest.CaptureFixture) -> None:
    path, _, _ = tiny_bvh
    with pytest.raises(ClipLimitError, match=r"tiny\.bvh: size: \d+ bytes, the limit is 100"):
        load_clip(path, max_bytes=100)
    with pytest.raises(ClipLimitError, match=r"tiny\.bvh: line \d+: Frames: 6, the limit is 5"):
        load_clip(path, max_frames=5)
    with pytest.raises(FileNotFoundError):
        load_clip(tmp_path / "missing.bvh")
    assert main(["inspect", str(tmp_path / "missing.bvh")]) == 2
    assert "missing.bvh: file not found" in capsys.readouterr().err
    with pytest.raises(ClipFormatError, match="is a directory"):
        load_clip(tmp_path)
    with pytest.raises(ClipFormatError, match=r"junk\.xyz: format: unknown file type '.xyz'"):
        load_clip(write(tmp_path / "junk.xyz", b"hello world"))
    with pytest.raises(ClipFormatError, match=r"junk\.npz: not a readable NPZ"):
        load_clip(write(tmp_path / "junk.npz", b"PK\x03\x04 not really a zip"))
    with pytest.raises(ClipFormatError, match=r"junk\.npy: not a readable NPY"):
        load_clip(write(tmp_path / "junk.npy", b"\x93NUMPY garbage"))
    np.save(tmp_path / "flat.npy", np.zeros((4, 5)))
    with pytest.raises(ClipFormatError, match=r"flat\.npy: array: expected shape \(frames, joints, 3\)"):
        load_clip(tmp_path / "flat.npy", layout="h36m_17")
    np.save(tmp_path / "empty.npy", np.zeros((0, 17, 3)))
    with pytest.raises(ClipValueError, match="zero frames"):
        load_clip(tmp_path / "empty.npy", layout="h36m_17")
    with pytest.raises(ClipValueError, match=r"tiny\.bvh: units argument: unknown units 'furlong'"):
        load_clip(path, units="furlong")
    for bad in ([str(path), "--units", "furlong"], [str(path), "--layout", "nope"],
                [str(tmp_path / "flat.npy"), "--layout", "h36m_17"]):
        assert main(["inspect", *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


# ---- fuzz: mutated files give a valid clip or one clean ClipError -------------------------------
def _fuzz_base() -> bytes:
    files = real_bvh_files()
    if files:
        return min(files, key=lambda p: p.stat().st_size).read_bytes()
    example = ROOT / "demo" / "examples" / "dataset-1_walk_sad_001.bvh"
    if example.exists():
        return example.read_bytes()
    return _tiny_text().encode()


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    header_end = data.find(b"MOTION") + 200 if b"MOTION" in data else len(data)
    for _ in range(rng.randint(1, 3)):
        hi = header_end if rng.random() < 0.5 else len(buf)
        i = rng.randrange(max(1, min(hi, len(buf))))
        op = rng.choice(("flip", "insert", "delete", "special", "truncate", "dupline", "digit", "digit"))
        if op == "digit":  # keeps the file valid when it hits a number: exercises the success path
            digits = [m.start() for m in re.finditer(rb"[0-9]", bytes(buf[i:i + 64]))]
            if digits:
                buf[i + digits[0]] = ord(str(rng.randrange(10)))
        elif op == "flip" and buf:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == "insert":
            buf[i:i] = bytes([rng.randrange(256)])
        elif op == "delete":
            del buf[i:i + rng.randint(1, 24)]
        elif op == "special":
            buf[i:i + 1] = rng.choice([b"{", b"}", b"\n", b" ", b"-", b".", b"e", b"9", b"nan", b"\x00", b"\xff", b"#"])
        elif op == "truncate":
            del buf[i:]
        else:
            start = buf.rfind(b"\n", 0, i) + 1
            end = buf.find(b"\n", i)
            end = len(buf) if end < 0 else end + 1
            buf[end:end] = buf[start:end]
    return bytes(buf)


def test_fuzz_mutants_fail_cleanly_or_load(tmp_path: Path) -> None:
    base = _fuzz_base()
    rng = random.Random(1234)
    outcomes = {"ok": 0, "error": 0}
    for k in range(200):
        path = write(tmp_path / f"mutant_{k:03d}.bvh", _mutate(base, rng))
        try:
            clip = load_clip(path)
        except ClipError as err:
            msg = str(err)
            assert msg.startswith(str(path) + ": ") and "\n" not in msg, msg
            outcomes["error"] += 1
            continue
        assert np.isfinite(clip.positions).all() and clip.positions.shape[2] == 3 and clip.fps > 0
        outcomes["ok"] += 1
    assert outcomes["ok"] > 10 and outcomes["error"] > 10, outcomes
