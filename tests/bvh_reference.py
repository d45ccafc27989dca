"""An independent reference for the clip-reader tests: a BVH text writer and per-frame forward kinematics in
plain Python lists and math (it shares no code with eai_llm.skeleton.io), plus small rigs and motions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


# ---- an independent reference: BVH text writer and per-frame forward kinematics -----------------
# (plain Python lists and math; shares no code with eai_llm.skeleton.io)


def _rot(axis: str, deg: float) -> list[list[float]]:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    if axis == "X":
        return [[1, 0, 0], [0, c, -s], [0, s, c]]
    if axis == "Y":
        return [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    return [[c, -s, 0], [s, c, 0], [0, 0, 1]]


def _mm(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _mv(a: list[list[float]], v: list[float]) -> list[float]:
    return [sum(a[i][k] * v[k] for k in range(3)) for i in range(3)]


def reference_fk(joints: list[dict], motion: np.ndarray) -> np.ndarray:
    """World positions (T, J, 3), one frame and one joint at a time with explicit matrix products."""
    out = np.zeros((motion.shape[0], len(joints), 3))
    index = {j["name"]: k for k, j in enumerate(joints)}
    for t, row in enumerate(motion.tolist()):
        col, world = 0, []
        for k, j in enumerate(joints):
            trans, rot = list(j["offset"]), [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]
            for ch in j["channels"]:
                axis, kind = ch[0], ch[1:]
                if kind == "position":
                    trans["XYZ".index(axis)] = row[col]
                else:
                    rot = _mm(rot, _rot(axis, row[col]))
                col += 1
            if j["parent"] is None:
                wr, wp = rot, trans
            else:
                pr, pp = world[index[j["parent"]]]
                wr = _mm(pr, rot)
                wp = [a + b for a, b in zip(pp, _mv(pr, trans))]
            world.append((wr, wp))
            out[t, k] = wp
    return out


def bvh_text(joints: list[dict], motion: np.ndarray, frame_time: float = 1 / 30,
             end_sites: dict[str, tuple] | None = None, frames: int | None = None) -> str:
    """BVH text for joints given in depth-first order (dicts: name, parent, offset, channels)."""
    end_sites = end_sites or {}
    children: dict[str | None, list[dict]] = {}
    for j in joints:
        children.setdefault(j["parent"], []).append(j)
    lines = ["HIERARCHY"]

    def write(j: dict, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if j['parent'] is None else 'JOINT'} {j['name']}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {' '.join(repr(float(v)) for v in j['offset'])}")
        lines.append(f"{pad}  CHANNELS {len(j['channels'])} {' '.join(j['channels'])}".rstrip())
        for c in children.get(j["name"], []):
            write(c, depth + 1)
        if j["name"] in end_sites:
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET {' '.join(repr(float(v)) for v in end_sites[j['name']])}", f"{pad}  }}"])
        lines.append(pad + "}")

    write(children[None][0], 0)
    lines += ["MOTION", f"Frames: {motion.shape[0] if frames is None else frames}", f"Frame Time: {frame_time:.7f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in motion]
    return "\n".join(lines) + "\n"


ROT = ["Zrotation", "Xrotation", "Yrotation"]
POS = ["Xposition", "Yposition", "Zposition"]


def human_rig(orders: list[str] | None = None, six_everywhere: bool = False, prefix: str = "",
              names: dict[str, str] | None = None, scale: float = 1.0) -> list[dict]:
    """A 16-joint human-like rig in cm (height ~175), rotation orders cycling through ``orders``."""
    spec = [
        ("Hips", None, (0, 95, 0)), ("Spine", "Hips", (0, 12, 0)), ("Chest", "Spine", (0, 20, 0)),
        ("Neck", "Chest", (0, 22, 0)), ("Head", "Neck", (0, 10, 0)),
        ("LeftArm", "Chest", (18, 18, 0)), ("LeftForeArm", "LeftArm", (28, 0, 0)),
        ("LeftHand", "LeftForeArm", (25, 0, 0)),
        ("RightArm", "Chest", (-18, 18, 0)), ("RightForeArm", "RightArm", (-28, 0, 0)),
        ("RightHand", "RightForeArm", (-25, 0, 0)),
        ("LeftUpLeg", "Hips", (9, -5, 0)), ("LeftLeg", "LeftUpLeg", (0, -43, 0)), ("LeftFoot", "LeftLeg", (0, -42, 0)),
        ("RightUpLeg", "Hips", (-9, -5, 0)), ("RightLeg", "RightUpLeg", (0, -43, 0)),
    ]
    orders = orders or ["ZXY"]
    names = names or {}
    out = []
    for k, (name, parent, off) in enumerate(spec):
        rot = [f"{a}rotation" for a in orders[k % len(orders)]]
        chans = POS + rot if parent is None or six_everywhere else rot
        rename = lambda n: None if n is None else prefix + names.get(n, n)  # noqa: E731
        out.append({"name": rename(name), "parent": rename(parent), "offset": tuple(v * scale for v in off),
                    "channels": chans})
    return out


def random_motion(joints: list[dict], frames: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cols = []
    for j in joints:
        for ch in j["channels"]:
            if ch.endswith("position"):
                base = j["offset"]["XYZ".index(ch[0])]
                cols.append(base + rng.normal(0, 3 * scale, frames) if j["parent"] is None else
                            base + rng.normal(0, 0.5 * scale, frames))
            else:
                cols.append(rng.uniform(-60, 60, frames))
    return np.stack(cols, axis=1)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path
