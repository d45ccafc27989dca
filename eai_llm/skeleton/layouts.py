"""Skeleton layouts: the one source of truth for joint names and parents.

A layout is data: joint names, parent indices and (optionally) a mapping of its joints onto the
**unified** layout. Everything else -- edges, bones, left/right mirror pairs, adjacency -- is derived
here and never typed twice. Users describe their own layout in a small JSON or YAML file::

    {"name": "my_rig", "joints": [{"name": "pelvis", "parent": null, "unified": "pelvis"},
                                  {"name": "spine", "parent": "pelvis", "unified": "spine"}, ...]}

A layout file is read only where the *caller* names it (``load_clip(layout="rig.json")``, ``--layout
rig.json``, :func:`load_layout_file`); such a layout travels with the clips read with it and is not
registered unless the caller asks (``register_layout`` / ``load_layout_file(..., register=True)``).
Nothing inside a data file is ever opened as a path: a clip file names a layout only by a registered
name (:func:`registered_layout`) or embeds the layout as JSON. Validation is linear in the joint count
and layouts are capped at :data:`MAX_JOINTS` joints.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .errors import ClipLimitError, LayoutError

__all__ = [
    "Layout",
    "UNIFIED",
    "UNIFIED_CORE_JOINTS",
    "BODY_PARTS",
    "register_layout",
    "get_layout",
    "list_layouts",
    "load_layout_file",
    "match_layout",
    "registered_layout",
    "MAX_JOINTS",
]

#: Layouts (and every reader's arrays) with more joints than this are refused.
MAX_JOINTS = 1024


def _tree_order(parents: tuple[int, ...]) -> tuple[list[int], list[int]] | None:
    """(breadth-first order from the root, depth of each joint), or None when the parents are no tree.

    Linear in the number of joints: with one root and in-range parents, the parents form a tree exactly
    when a walk down the children from the root reaches every joint.
    """
    n = len(parents)
    children: list[list[int]] = [[] for _ in range(n)]
    root = -1
    for i, p in enumerate(parents):
        if p < 0:
            root = i
        else:
            children[p].append(i)
    if root < 0:
        return None
    depth = [0] * n
    order = [root]
    for j in order:  # grows while iterating: breadth-first
        for c in children[j]:
            depth[c] = depth[j] + 1
            order.append(c)
    return (order, depth) if len(order) == n else None


_MIRROR_RULES: tuple[tuple[re.Pattern, str, str], ...] = (
    # (pattern, left token, right token); the token is swapped where the pattern matches.
    (re.compile(r"(?i)left"), "left", "right"),
    (re.compile(r"(?i)right"), "right", "left"),
    (re.compile(r"(_|\.)L$"), "L", "R"),
    (re.compile(r"(_|\.)R$"), "R", "L"),
    (re.compile(r"(_|\.)l$"), "l", "r"),
    (re.compile(r"(_|\.)r$"), "r", "l"),
    (re.compile(r"^l_"), "l", "r"),
    (re.compile(r"^r_"), "r", "l"),
    (re.compile(r"^L_"), "L", "R"),
    (re.compile(r"^R_"), "R", "L"),
    (re.compile(r"^L(?=[A-Z])"), "L", "R"),
    (re.compile(r"^R(?=[A-Z])"), "R", "L"),
)


def _swap_case_like(token: str, like: str) -> str:
    if like.isupper():
        return token.upper()
    if like[:1].isupper():
        return token.capitalize()
    return token.lower()


def mirror_name(name: str) -> str | None:
    """The name of the joint on the other side of the body, or ``None`` for a central joint."""
    for pattern, src, dst in _MIRROR_RULES:
        m = pattern.search(name)
        if not m:
            continue
        if src.lower() in ("left", "right"):
            found = m.group(0)
            return name[: m.start()] + _swap_case_like(dst, found) + name[m.end() :]
        # single-letter side marker: replace just the letter inside the match
        start = m.start() + m.group(0).index(src)
        return name[:start] + dst + name[start + 1 :]
    return None


@dataclass(frozen=True)
class Layout:
    """A skeleton: joint names, parent indices (-1 for the root), and a mapping onto UNIFIED.

    ``to_unified`` maps a joint name of this layout to a joint name of the unified layout; joints
    without an entry (e.g. a floor-projected root, finger tips) are simply not used after
    unification. ``midpoints`` maps a unified joint the layout lacks to two of its joints whose
    midpoint it is (pose estimators have no pelvis or neck: ``{"pelvis": ("left_hip", "right_hip")}``).
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    to_unified: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    midpoints: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "to_unified", dict(self.to_unified))
        object.__setattr__(self, "midpoints", {str(k): tuple(v) for k, v in dict(self.midpoints).items()})
        self.validate()

    # ---- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        src = f"layout {self.name!r}"
        n = len(self.joint_names)
        if n == 0:
            raise LayoutError(src, "joints", "a layout needs at least one joint")
        if n > MAX_JOINTS:
            raise ClipLimitError(src, "joints", f"{n} joints, the limit is {MAX_JOINTS}")
        if len(self.parents) != n:
            raise LayoutError(src, "parents", f"expected {n} parent indices, got {len(self.parents)}")
        names = set(self.joint_names)
        if len(names) != n:
            seen: set[str] = set()
            dup = sorted({j for j in self.joint_names if j in seen or seen.add(j)})
            raise LayoutError(src, "joints", f"joint names must be unique, repeated: {dup[:10]}")
        roots = [i for i, p in enumerate(self.parents) if p < 0]
        if len(roots) != 1:
            raise LayoutError(src, "parents", f"expected exactly one root (parent -1), found {len(roots)}")
        for i, p in enumerate(self.parents):
            if p >= n:
                raise LayoutError(src, f"joint {self.joint_names[i]!r}", f"parent index {p} out of range 0..{n - 1}")
        if _tree_order(self.parents) is None:  # some joint does not reach the root: a cycle
            reached = set(_reachable(self.parents))
            i = next(i for i in range(n) if i not in reached)
            raise LayoutError(src, f"joint {self.joint_names[i]!r}", "parents form a cycle, expected a tree")
        for joint, target in self.to_unified.items():
            if joint not in names:
                raise LayoutError(src, "to_unified", f"unknown joint {joint!r}")
            if self.name != "unified" and target not in UNIFIED_JOINTS:
                raise LayoutError(src, f"to_unified[{joint!r}]", f"unknown unified joint {target!r}")
        targets = list(self.to_unified.values())
        if len(set(targets)) != len(targets):
            raise LayoutError(src, "to_unified", "two joints map onto the same unified joint")
        for target, pair in self.midpoints.items():
            place = f"midpoints[{target!r}]"
            if target not in UNIFIED_JOINTS or target in targets:
                raise LayoutError(src, place, "expected a unified joint no joint of the layout maps onto")
            if len(pair) != 2 or not all(isinstance(j, str) and j in names for j in pair):
                raise LayoutError(src, place, f"expected two joints of the layout, got {list(pair)!r}")

    # ---- derived structure ------------------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @cached_property
    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.joint_names)}

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @cached_property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) pairs, one per bone."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)

    @cached_property
    def bones(self) -> tuple[tuple[str, str], ...]:
        return tuple((self.joint_names[p], self.joint_names[c]) for p, c in self.edges)

    @cached_property
    def mirror_pairs(self) -> tuple[tuple[int, int], ...]:
        """(left, right) index pairs derived from the joint names."""
        pairs = []
        for i, name in enumerate(self.joint_names):
            other = mirror_name(name)
            if other is None or other not in self.index:
                continue
            j = self.index[other]
            if i < j:
                pairs.append((i, j) if _is_left(name) else (j, i))
        return tuple(sorted(pairs))

    @cached_property
    def mirror_permutation(self) -> np.ndarray:
        """Index array that swaps left and right joints (identity for central joints)."""
        perm = np.arange(self.num_joints)
        for a, b in self.mirror_pairs:
            perm[a], perm[b] = b, a
        return perm

    @cached_property
    def adjacency(self) -> np.ndarray:
        """Symmetric (J, J) 0/1 adjacency matrix of the bone graph (no self loops)."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for p, c in self.edges:
            a[p, c] = a[c, p] = 1.0
        return a

    @cached_property
    def depth(self) -> np.ndarray:
        return np.array(_tree_order(self.parents)[1], dtype=np.int64)

    @cached_property
    def topological_order(self) -> tuple[int, ...]:
        """Joint indices ordered so that every parent comes before its children."""
        return tuple(int(i) for i in np.argsort(self.depth, kind="stable"))

    @cached_property
    def unified_index(self) -> np.ndarray:
        """For each unified joint, the index of the source joint mapped onto it, or -1."""
        idx = np.full(len(UNIFIED_JOINTS), -1, dtype=np.int64)
        for joint, target in self.to_unified.items():
            idx[UNIFIED.index[target]] = self.index[joint]
        return idx

    @cached_property
    def unified_midpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """(unified joint indices (K,), source joint index pairs (K, 2)) of :attr:`midpoints`."""
        items = list(self.midpoints.items())
        return (np.array([UNIFIED.index[u] for u, _ in items], dtype=np.int64),
                np.array([[self.index[a], self.index[b]] for _, (a, b) in items], dtype=np.int64).reshape(-1, 2))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "joints": [
                {
                    "name": n,
                    "parent": self.joint_names[p] if p >= 0 else None,
                    **({"unified": self.to_unified[n]} if n in self.to_unified else {}),
                }
                for n, p in zip(self.joint_names, self.parents)
            ],
            **({"midpoints": {u: list(pair) for u, pair in self.midpoints.items()}} if self.midpoints else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "<dict>") -> "Layout":
        if not isinstance(data, Mapping):
            raise LayoutError(source, None, "expected a mapping with 'name' and 'joints'")
        name = data.get("name")
        joints = data.get("joints")
        if not isinstance(name, str) or not name:
            raise LayoutError(source, "name", "expected a non-empty string")
        if not isinstance(joints, list) or not joints:
            raise LayoutError(source, "joints", "expected a non-empty list of {name, parent, unified?}")
        if len(joints) > MAX_JOINTS:
            raise ClipLimitError(source, "joints", f"{len(joints)} joints, the limit is {MAX_JOINTS}")
        names, parent_names, mapping = [], [], {}
        for k, j in enumerate(joints):
            if not isinstance(j, Mapping) or not isinstance(j.get("name"), str):
                raise LayoutError(source, f"joints[{k}]", "expected a mapping with a string 'name'")
            names.append(j["name"])
            parent_names.append(j.get("parent"))
            if j.get("unified") is not None:
                mapping[j["name"]] = str(j["unified"])
        index = {n: i for i, n in enumerate(names)}
        parents = []
        for k, p in enumerate(parent_names):
            if p is None:
                parents.append(-1)
            elif isinstance(p, int) and not isinstance(p, bool):
                parents.append(p)
            elif p in index:
                parents.append(index[p])
            else:
                raise LayoutError(source, f"joints[{k}].parent", f"unknown parent joint {p!r}")
        midpoints = data.get("midpoints") or {}
        if not isinstance(midpoints, Mapping) or not all(isinstance(v, list) for v in midpoints.values()):
            raise LayoutError(source, "midpoints", 'expected {"<unified joint>": ["<joint>", "<joint>"], ...}')
        try:
            return cls(name, tuple(names), tuple(parents), mapping, str(data.get("description", "")), midpoints)
        except ClipLimitError as err:
            raise ClipLimitError(source, err.place, err.reason) from None
        except LayoutError as err:
            raise LayoutError(source, err.place, err.reason) from None


def _reachable(parents: tuple[int, ...]) -> list[int]:
    """The joints reachable from the root (for naming the first joint on a cycle)."""
    children: dict[int, list[int]] = {}
    for i, p in enumerate(parents):
        children.setdefault(p, []).append(i)
    order = list(children.get(-1, []))
    for j in order:
        order.extend(children.get(j, []))
    return order


def _is_left(name: str) -> bool:
    other = mirror_name(name)
    low = name.lower()
    if "left" in low:
        return True
    if "right" in low:
        return False
    # single-letter markers: the name differs from its mirror at one position
    for a, b in zip(name, other or ""):
        if a != b:
            return a in "lL"
    return False


# ---- the unified layout ---------------------------------------------------------------------
# A superset of the joints that common capture systems share. Every other layout maps onto it.
_UNIFIED_DEF = (
    ("pelvis", None), ("spine", "pelvis"), ("chest", "spine"), ("neck", "chest"), ("head", "neck"),
    ("l_collar", "chest"), ("l_shoulder", "l_collar"), ("l_elbow", "l_shoulder"), ("l_wrist", "l_elbow"),
    ("l_hand", "l_wrist"),
    ("r_collar", "chest"), ("r_shoulder", "r_collar"), ("r_elbow", "r_shoulder"), ("r_wrist", "r_elbow"),
    ("r_hand", "r_wrist"),
    ("l_hip", "pelvis"), ("l_knee", "l_hip"), ("l_ankle", "l_knee"), ("l_foot", "l_ankle"),
    ("r_hip", "pelvis"), ("r_knee", "r_hip"), ("r_ankle", "r_knee"), ("r_foot", "r_ankle"),
)
UNIFIED_JOINTS: tuple[str, ...] = tuple(n for n, _ in _UNIFIED_DEF)
UNIFIED = Layout(
    "unified", UNIFIED_JOINTS, tuple(-1 if p is None else UNIFIED_JOINTS.index(p) for _, p in _UNIFIED_DEF),
    {n: n for n in UNIFIED_JOINTS}, "Unified 23-joint layout every other layout maps onto (metres, Y up).",
)

#: Unified joints every layout must provide: enough for posture, gait and arm cues.
UNIFIED_CORE_JOINTS: tuple[str, ...] = (
    "pelvis", "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
    "l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle",
)

#: Body parts of the unified layout (used by the skeleton tokenizer's spatio-temporal tokens).
BODY_PARTS: dict[str, tuple[str, ...]] = {
    "torso": ("pelvis", "spine", "chest", "neck"),
    "head": ("neck", "head"),
    "left_arm": ("l_collar", "l_shoulder", "l_elbow", "l_wrist", "l_hand"),
    "right_arm": ("r_collar", "r_shoulder", "r_elbow", "r_wrist", "r_hand"),
    "left_leg": ("l_hip", "l_knee", "l_ankle", "l_foot"),
    "right_leg": ("r_hip", "r_knee", "r_ankle", "r_foot"),
}


def _layout(name: str, description: str, joints: Iterable[tuple[str, str | None, str | None]],
            midpoints: Mapping[str, tuple[str, str]] | None = None) -> Layout:
    """A layout from (joint, parent, unified) triples; parents may follow children (vendor order)."""
    joints = list(joints)
    names = tuple(n for n, _, _ in joints)
    index = {n: i for i, n in enumerate(names)}
    parents = tuple(-1 if p is None else index[p] for _, p, _ in joints)
    return Layout(name, names, parents, {n: u for n, _, u in joints if u is not None}, description, midpoints or {})


_BUILTIN: dict[str, Layout] = {}
_REGISTRY: dict[str, Layout] = {}


def _builtin(layout: Layout) -> Layout:
    _BUILTIN[layout.name] = layout
    _REGISTRY[layout.name] = layout
    return layout


_builtin(UNIFIED)


# ---- registry ---------------------------------------------------------------------------------
def register_layout(layout: Layout, *, overwrite: bool = False) -> Layout:
    """Add a layout to the registry. Built-in layouts cannot be replaced."""
    if layout.name in _BUILTIN:
        raise LayoutError(f"layout {layout.name!r}", "name", "is a built-in layout and cannot be replaced")
    if layout.name in _REGISTRY and not overwrite and _REGISTRY[layout.name] != layout:
        raise LayoutError(f"layout {layout.name!r}", "name", "already registered (pass overwrite=True)")
    _REGISTRY[layout.name] = layout
    return layout


def registered_layout(name: str) -> Layout | None:
    """The registered layout called ``name``, or None. Never reads a file: for names found in data."""
    return _REGISTRY.get(name) if isinstance(name, str) else None


def get_layout(name: "str | Layout") -> Layout:
    """A registered layout by name, or the layout in a file the *caller* names (.json/.yaml/.yml).

    A layout file is read, not registered: it applies to this call only. Never pass a string taken
    from a data file here (use :func:`registered_layout`).
    """
    if isinstance(name, Layout):
        return name
    if name in _REGISTRY:
        return _REGISTRY[name]
    if str(name).lower().endswith((".json", ".yaml", ".yml")):
        return load_layout_file(name, register=False)
    raise LayoutError(f"layout {name!r}", None, f"unknown layout, expected one of {sorted(_REGISTRY)} or a .json/.yaml file")


def list_layouts() -> list[str]:
    return sorted(_REGISTRY)


#: Layout files larger than this are refused (1,024 joints fit in a few hundred kB).
_MAX_LAYOUT_FILE_BYTES = 4 * 1024 * 1024


def load_layout_file(path: str | PathLike, *, register: bool = False) -> Layout:
    """Read a layout from JSON or YAML (see module docstring); ``register=True`` also registers it.

    Registering makes the layout visible by name to every later call in the process (the demo, the
    CLI and the readers never do it); without it the layout is only returned.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > _MAX_LAYOUT_FILE_BYTES:
            raise ClipLimitError(path, None, f"{size} bytes, the limit for a layout file is {_MAX_LAYOUT_FILE_BYTES}")
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise LayoutError(path, None, f"cannot read layout file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise LayoutError(path, None, "not UTF-8 text, expected a JSON or YAML layout file") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:  # json/yaml syntax errors
        raise LayoutError(path, None, f"not valid {path.suffix[1:].upper()}: {str(err).splitlines()[0]}") from None
    layout = Layout.from_dict(data, source=str(path))
    if register:
        existing = _REGISTRY.get(layout.name)
        if existing is None or (layout.name not in _BUILTIN):
            _REGISTRY[layout.name] = layout
        elif existing != layout:
            raise LayoutError(path, "name", f"{layout.name!r} is a built-in layout name; choose another")
    return layout


def match_layout(joint_names: Iterable[str]) -> Layout | None:
    """The registered layout whose joint names equal ``joint_names`` (order-sensitive), if any."""
    names = tuple(joint_names)
    for layout in _REGISTRY.values():
        if layout.joint_names == names:
            return layout
    return None


# the built-in rigs register themselves (eai_llm.skeleton.builtin_layouts; after UNIFIED, in its order)
from . import builtin_layouts as _builtin_layouts  # noqa: E402,F401
