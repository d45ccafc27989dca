"""Seeded fuzzing of the four readers: every outcome is a valid clip or a one-line project error.

1,200 mutations (300 per format) of real files (demo/examples, cut to a few frames) and synthetic ones:
byte flips, cut and repeated chunks, truncation, hostile tokens spliced into text (NaN, 1e-320, braces,
NUL, Unicode whitespace, huge counts), and, for NPZ/NPY, structural mutations of the arrays and text
members (odd shapes and dtypes, absurd frame rates, layouts naming paths, broken or giant layout JSON,
bad meta). No other exception type, no traceback, no hang (pytest-timeout).
"""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from eai_llm.skeleton.clip import SkeletonClip
from eai_llm.skeleton.errors import ClipError
from eai_llm.skeleton.io import load_clip, save_clip
from eai_llm.skeleton.layouts import list_layouts

EXAMPLES = ROOT / "demo" / "examples"
PER_FORMAT = 300
SEED = 20261201

_TOKENS = ["nan", "inf", "-inf", "1e-320", "1e308", "-0", "", " ", "{", "}", "\x00", "\x1c", "\u2028", "\ufeff",
           "JOINT x", "End Site", "ROOT", "MOTION", "Frames: 99999999999", "Frames: 0", "Frame Time: 0",
           "Frame Time: 1e-320", "Frame Time: 100000", "CHANNELS 7", "CHANNELS 3 Xrotation", "OFFSET 1 2",
           ",", ";", "\t", "\n", "\r", "\"", "time", "x_x", "1,2,3", "9" * 400, "é", "💥"]


def _cut_bvh(text: str, frames: int = 12) -> str:
    """The hierarchy and the first ``frames`` motion rows of a BVH file."""
    head, motion = text.split("MOTION", 1)
    rows = [r for r in motion.strip().splitlines()[2:] if r.strip()][:frames]
    ft = re.search(r"Frame Time:\s*(\S+)", motion).group(1)
    return f"{head}MOTION\nFrames: {len(rows)}\nFrame Time: {ft}\n" + "\n".join(rows) + "\n"


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        kind = rng.randrange(6)
        i = rng.randrange(len(b) + 1)
        if kind == 0 and b:  # flip bytes
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:  # truncate
            del b[i:]
        elif kind == 2:  # cut a chunk
            del b[i:i + rng.randint(1, 200)]
        elif kind == 3:  # repeat a chunk
            b[i:i] = b[i:i + rng.randint(1, 200)] * rng.randint(1, 3)
        elif kind == 4:  # splice a hostile token
            b[i:i] = rng.choice(_TOKENS).encode("utf-8")
        elif kind == 5:  # replace a number by a hostile one
            text = b.decode("latin-1")
            nums = list(re.finditer(r"-?\d+\.?\d*(e-?\d+)?", text))
            if nums:
                m = rng.choice(nums)
                text = text[:m.start()] + rng.choice(["nan", "1e-320", "1e308", "-5", "0", "abc"]) + text[m.end():]
                b = bytearray(text.encode("latin-1"))
        if not b:
            break
    return bytes(b)


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _mutate_arrays(base: dict, rng: random.Random, tmp: Path) -> dict:
    """A structural mutation of an NPZ's members (or of an NPY's single array, key 'positions')."""
    a = dict(base)
    pos = np.asarray(a["positions"])
    kind = rng.randrange(12)
    if kind == 0:
        a["positions"] = pos[:, : rng.randint(0, pos.shape[1])]
    elif kind == 1:
        a["positions"] = pos[: rng.randint(0, 2)]
    elif kind == 2:
        a["positions"] = rng.choice([pos.reshape(pos.shape[0], -1), pos[..., :2], pos[None], pos.ravel(),
                                     np.zeros((3, 1025, 3), "f4"), np.zeros((2, 17, 4), "f4")])
    elif kind == 3:
        p = pos.astype(np.float64).copy()
        p.flat[rng.randrange(p.size)] = rng.choice([np.nan, np.inf, 1e308, -1e308])
        a["positions"] = p
    elif kind == 4:
        a["positions"] = pos.astype(rng.choice(["f2", "i1", "u8", "c8", "U3", "bool", "m8[s]"]))
    elif kind == 5:
        a["fps"] = np.array(rng.choice([0.0, -30.0, np.nan, np.inf, 1e-320, 1e6, 0.001, 5000.0, 29.97]))
    elif kind == 6:
        a["fps"] = rng.choice([np.array("thirty"), np.array([30.0, 60.0]), np.array(30, "i8"), np.zeros((0,))])
    elif kind == 7:
        a["layout"] = np.array(rng.choice(["/etc/passwd", str(tmp / "x.json"), "h36m_17", "kinect_v2", "nope",
                                           "../../layout.yaml", "", "{", "[1,2]", "{\"name\": 3}"]))
    elif kind == 8 and "layout" in a:
        spec = json.loads(str(a["layout"]))
        j = rng.randrange(len(spec["joints"]))
        change = rng.randrange(5)
        if change == 0:
            spec["joints"][j]["parent"] = rng.choice([None, spec["joints"][j]["name"], "ghost", 10 ** 6, -7, True])
        elif change == 1:
            spec["joints"][j]["name"] = spec["joints"][(j + 1) % len(spec["joints"])]["name"]
        elif change == 2:
            spec["joints"][j]["unified"] = rng.choice(["tail", "pelvis", 3])
        elif change == 3:
            spec["name"] = rng.choice([str(tmp / "y.json"), "unified", "", None])
        else:
            spec["joints"] = [{"name": f"j{i}", "parent": None if i == 0 else f"j{i - 1}"} for i in range(5000)]
        a["layout"] = np.array(json.dumps(spec))
    elif kind == 9:
        a["meta"] = np.array(rng.choice(["{", "[]", "null", json.dumps({"warnings": [1, "x" * 999, None]}),
                                         json.dumps({"source": "/etc/shadow", "units": "parsec"})]))
    elif kind == 10:
        a["label"] = rng.choice([np.array(7), np.array(["a", "b"]), np.array("angry")])
    else:
        a.pop(rng.choice(sorted(a)), None)
    return a


#: The layout argument per format: mostly the right one (or none), sometimes a wrong one.
_LAYOUTS = {"bvh": [None, None, None, "bandai_namco_22", "h36m_17"], "csv": [None, None, None, "kinect_v2", "smpl_22"],
            "npy": ["h36m_17", "h36m_17", "h36m_17", None, "kinect_v2"], "npz": [None, None, None, "h36m_17", "unified"]}


def _check(path: Path, fmt: str, rng: random.Random) -> str:
    layout = rng.choice(_LAYOUTS[fmt])
    try:
        clip = load_clip(path, layout=layout, interpolate_gaps=rng.choice([0, 0, 3]))
    except ClipError as err:
        msg = str(err)
        assert "\n" not in msg and str(path) in msg, repr(msg)
        return "error"
    assert isinstance(clip, SkeletonClip) and np.isfinite(clip.positions).all() and 1 <= clip.fps <= 1000
    return "clip"


@pytest.mark.timeout(180)
def test_fuzz_all_four_readers(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    before = set(list_layouts())
    real_bvh = [_cut_bvh(p.read_text()) for p in sorted(EXAMPLES.glob("*.bvh"))[:2]]
    from test_reader_hardening import write_bvh

    synth_bvh = [write_bvh(tmp_path / f"s{s}.bvh", s, frames=10).read_text() for s in (170, 22.8)]
    real_csv = "\n".join((EXAMPLES / "synthetic_kinect_v2_angry_walk.csv").read_text().splitlines()[:10]) + "\n"
    npy_arr = np.load(EXAMPLES / "synthetic_h36m_17_happy_gesture.npy")[:8]
    clip = load_clip(EXAMPLES / "synthetic_h36m_17_happy_gesture.npy", layout="h36m_17")
    own_npz = save_clip(clip.replace(positions=clip.positions[:8]), tmp_path / "own.npz")
    with np.load(own_npz) as z:
        own = {k: z[k] for k in z.files}
    foreign = {"positions": npy_arr, "fps": np.array(30.0)}
    outcomes: dict[str, dict[str, int]] = {}
    for fmt in ("bvh", "csv", "npy", "npz"):
        counts = outcomes.setdefault(fmt, {"clip": 0, "error": 0})
        for k in range(PER_FORMAT):
            path = tmp_path / f"m{k % 7}.{fmt}"
            if fmt == "bvh":
                data = _mutate_bytes(rng.choice(real_bvh + synth_bvh).encode(), rng)
            elif fmt == "csv":
                data = _mutate_bytes(real_csv.encode(), rng)
            elif fmt == "npy":
                if rng.random() < 0.5:
                    buf = io.BytesIO()
                    np.save(buf, _mutate_arrays({"positions": npy_arr}, rng, tmp_path).get("positions", npy_arr))
                    data = buf.getvalue()
                else:
                    buf = io.BytesIO()
                    np.save(buf, npy_arr)
                    data = _mutate_bytes(buf.getvalue(), rng)
            else:
                base = own if rng.random() < 0.7 else foreign
                data = _npz_bytes(_mutate_arrays(base, rng, tmp_path)) if rng.random() < 0.7 \
                    else _mutate_bytes(_npz_bytes(base), rng)
            path.write_bytes(data)
            counts[_check(path, fmt, rng)] += 1
    total = sum(c["clip"] + c["error"] for c in outcomes.values())
    assert total == 4 * PER_FORMAT >= 1000
    for fmt, c in outcomes.items():  # the mutations reach both outcomes in every format
        assert c["clip"] > 0 and c["error"] > 0, (fmt, c)
    assert set(list_layouts()) == before  # nothing read from data was registered
    print(outcomes)
