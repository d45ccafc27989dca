"""Unknown rigs: guess the unified mapping from joint names and the tree, derive a layout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from ..errors import LayoutError
from ..layouts import Layout


_SIDE_WORD = re.compile(r"left|right", re.IGNORECASE)

_SIDE_TOKEN = re.compile(r"(?:^|(?<=[\s_.:-]))([LlRr])(?=[\s_.:-]|$)")

_SIDE_CAMEL_PREFIX = re.compile(r"^([LR])(?=[A-Z])")

_SIDE_CAMEL_SUFFIX = re.compile(r"(?<=[a-z])([LR])$")

_ARM_UPPER = ("upperarm", "arm", "uparm", "humerus")

_COLLAR = ("clavicle", "collar", "clav", "scapula", "collarbone")

_ELBOW = ("forearm", "lowerarm", "loarm", "elbow", "radius", "lowarm")

_HIP = ("upleg", "upperleg", "thigh", "hip", "femur", "uleg")

_KNEE = ("leg", "lowerleg", "knee", "shin", "calf", "tibia", "loleg", "lowleg", "lleg")

_TOE = ("toebase", "toe", "toes", "ball", "toe0", "foottip")

def _split_name(name: str) -> tuple[str | None, str]:
    """(side 'l'/'r'/None, core) of a joint name: 'mixamorig:LeftUpLeg' -> ('l', 'upleg')."""
    n = re.sub(r"^.*[:|]", "", name).strip()
    side = None
    m = _SIDE_WORD.search(n)
    if m:
        side, n = m.group(0)[0].lower(), n[:m.start()] + " " + n[m.end():]
    else:
        for pattern in (_SIDE_TOKEN, _SIDE_CAMEL_PREFIX, _SIDE_CAMEL_SUFFIX):
            m = pattern.search(n)
            if m:
                side, n = m.group(1).lower(), n[:m.start(1)] + " " + n[m.end(1):]
                break
    core = re.sub(r"[^a-z0-9]", "", n.lower())
    core = re.sub(r"^(bip|biped)\d*", "", core)
    return side, core


def _ancestors(j: int, parents: Sequence[int]) -> list[int]:
    out = [j]
    while parents[out[-1]] >= 0:
        out.append(parents[out[-1]])
    return out


def _lca(a: int, b: int, parents: Sequence[int]) -> int:
    up = set(_ancestors(a, parents))
    for k in _ancestors(b, parents):
        if k in up:
            return k
    return -1


def guess_unified_mapping(joint_names: Sequence[str], parents: Sequence[int]) -> dict[str, str]:
    """Guess ``to_unified`` for a rig from its joint names and tree (CMU, Mixamo, Blender, Biped, ...).

    Limb joints come from name patterns per side (``Left``/``Right`` words, ``_L``/``.R`` suffixes,
    ``l_``/``R_`` prefixes, ``LHip``-style capitals, ``mixamorig:``-style namespaces); the pelvis is the
    common ancestor of the two hips, the chest that of the two shoulders, the spine a joint between
    them. The mapping is injective; joints it cannot place are left out.
    """
    parts = [_split_name(n) for n in joint_names]
    by_side: dict[str | None, dict[str, int]] = {"l": {}, "r": {}, None: {}}
    for i, (side, core) in enumerate(parts):
        by_side[side].setdefault(core, i)
    found: dict[str, int] = {}

    def first(cores: dict[str, int], options: Sequence[str]) -> tuple[str, int] | None:
        for opt in options:
            if opt in cores:
                return opt, cores[opt]
        return None

    for side in ("l", "r"):
        cores = by_side[side]
        pick: dict[str, tuple[str, int] | None] = {}
        pick["shoulder"] = first(cores, _ARM_UPPER)
        if pick["shoulder"] is None:
            pick["shoulder"] = first(cores, ("shoulder",))
            pick["collar"] = first(cores, _COLLAR)
        else:
            pick["collar"] = first(cores, _COLLAR + ("shoulder",))
        pick["elbow"] = first(cores, _ELBOW)
        pick["wrist"] = first(cores, ("wrist", "hand"))
        pick["hand"] = first(cores, ("hand",)) if pick["wrist"] and pick["wrist"][0] == "wrist" else None
        pick["hip"] = first(cores, _HIP)
        pick["knee"] = first(cores, _KNEE)
        pick["ankle"] = first(cores, ("ankle", "foot"))
        pick["foot"] = first(cores, _TOE + (("foot",) if pick["ankle"] and pick["ankle"][0] == "ankle" else ()))
        for target, hit in pick.items():
            if hit is not None:
                found[f"{side}_{target}"] = hit[1]

    center = by_side[None]
    if "l_hip" in found and "r_hip" in found:
        pelvis = _lca(found["l_hip"], found["r_hip"], parents)
    else:
        hit = first(center, ("hips", "pelvis", "hip"))
        pelvis = hit[1] if hit else -1
    if pelvis >= 0:
        found["pelvis"] = pelvis
    arm_l = found.get("l_shoulder", found.get("l_collar"))
    arm_r = found.get("r_shoulder", found.get("r_collar"))
    chest = -1
    if arm_l is not None and arm_r is not None:
        chest = _lca(arm_l, arm_r, parents)
        if chest in (found.get("l_collar"), found.get("r_collar"), found.get("l_shoulder"), found.get("r_shoulder")):
            chest = -1
        elif chest >= 0 and parts[chest][1].startswith("neck") and parents[chest] >= 0:
            chest = parents[chest]  # arms hang off the neck (gait layouts): the chest is below it
    if chest < 0:
        hit = first(center, ("upperchest", "chest", "thorax", "spine3", "spine2"))
        chest = hit[1] if hit else -1
    if chest >= 0 and chest != pelvis:
        found["chest"] = chest
        if pelvis >= 0 and pelvis in _ancestors(chest, parents):
            path = _ancestors(chest, parents)
            between = path[1:path.index(pelvis)][::-1]  # pelvis side first
            if between:
                found["spine"] = between[(len(between) - 1) // 2]
    hit = first(center, ("head",))
    if hit:
        found["head"] = hit[1]
    hit = first(center, ("neck", "neck1", "neck0", "lowerneck"))
    if hit:
        found["neck"] = hit[1]
    elif "head" in found and "chest" in found:
        path = _ancestors(found["head"], parents)
        if found["chest"] in path:
            between = path[1:path.index(found["chest"])]
            if between:
                found["neck"] = between[-1]
    mapping: dict[str, str] = {}
    for target, j in found.items():
        name = joint_names[j]
        if name not in mapping:
            mapping[name] = target
    return mapping


def derive_layout(name: str, joint_names: Sequence[str], parents: Sequence[int], *, source: str = "<bvh>",
                  description: str = "") -> Layout:
    """A layout for an unknown rig: names and parents from the file, ``to_unified`` guessed.

    The layout is not registered (it travels with the clip only).
    """
    mapping = guess_unified_mapping(joint_names, parents)
    try:
        return Layout(name, tuple(joint_names), tuple(parents), mapping,
                      description or f"Derived from the BVH hierarchy of {Path(source).name}.")
    except LayoutError as err:
        raise LayoutError(source, "hierarchy", err.reason) from None
