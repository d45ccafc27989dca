"""Re-express a clip in a smaller skeleton layout (as a joint subset of the real clip).

What a rig with fewer joints costs is measured by taking real clips of the 22-joint Bandai Namco rig and
writing them as if a ``h36m_17``, ``kinect_v2`` or ``emotion_gait_16`` capture had produced them: every
target joint that maps onto a unified joint the source has takes that joint's trajectory. The few target
joints without a counterpart are derived from the source, never invented:

- ``h36m_17`` ``Nose`` (no unified joint): the midpoint of the neck and the head;
- ``kinect_v2`` ``HandLeft``/``HandRight`` (unified ``l_hand``/``r_hand``; the Bandai rig ends at the wrist):
  the wrist extended along the forearm by 0.3 of the forearm's length (a hand's centre, about 8 cm on an
  adult); ``HandTip*`` by 0.75 and ``Thumb*`` by 0.5 of it (they have no unified joint, so no model reads them);
- a joint the source lacks and no rule derives raises :class:`~eai_llm.skeleton.errors.LayoutError`.

:func:`reexpress` returns the clip **through the normal reader**: it is written as an NPZ file in the
target layout and read back with :func:`~eai_llm.skeleton.io.load_clip`, so it reaches ``to_unified`` and
the joint masks exactly as a file of that rig would. :func:`reexpress_windows` is the vectorised training
augmentation on unified windows (same joint rules, no file round trip).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .clip import SkeletonClip
from .errors import LayoutError
from .layouts import UNIFIED, Layout, get_layout

__all__ = ["REEXPRESS_LAYOUTS", "reexpress", "reexpress_array", "reexpress_windows", "layout_joint_mask"]

#: The smaller layouts the evaluation re-expresses held-out clips into.
REEXPRESS_LAYOUTS: tuple[str, ...] = ("h36m_17", "kinect_v2", "emotion_gait_16")

# derived joints: target joint name -> (kind, unified joints, factor)
#   "mid": the midpoint of two unified joints; "extend": a + factor * (a - b) (past joint a, away from b)
_DERIVED: dict[str, tuple[str, tuple[str, str], float]] = {
    "Nose": ("mid", ("neck", "head"), 0.5),
    "HandLeft": ("extend", ("l_wrist", "l_elbow"), 0.3),
    "HandRight": ("extend", ("r_wrist", "r_elbow"), 0.3),
    "HandTipLeft": ("extend", ("l_wrist", "l_elbow"), 0.75),
    "HandTipRight": ("extend", ("r_wrist", "r_elbow"), 0.75),
    "ThumbLeft": ("extend", ("l_wrist", "l_elbow"), 0.5),
    "ThumbRight": ("extend", ("r_wrist", "r_elbow"), 0.5),
}


def _source_unified(layout: Layout) -> dict[str, int]:
    """unified joint name -> index of the source joint that maps onto it."""
    return {u: layout.index[j] for j, u in layout.to_unified.items()}


def _derive(name: str, get, source: str) -> np.ndarray:
    if name not in _DERIVED:
        raise LayoutError(source, f"joint {name!r}", "has no counterpart in the source rig and no rule to derive it")
    kind, (a, b), f = _DERIVED[name]
    pa, pb = get(a), get(b)
    if pa is None or pb is None:
        raise LayoutError(source, f"joint {name!r}", f"is derived from {a!r} and {b!r}, which the source lacks")
    return (pa + pb) * 0.5 if kind == "mid" else pa + f * (pa - pb)


def reexpress_array(positions: np.ndarray, source_layout: Layout, target: str | Layout,
                    source: str = "<clip>") -> np.ndarray:
    """(..., J_source, 3) -> (..., J_target, 3): the target layout's joints from a source-layout array."""
    target = get_layout(target)
    have = _source_unified(source_layout)

    def get(unified: str) -> np.ndarray | None:
        return positions[..., have[unified], :] if unified in have else None

    out = np.empty((*positions.shape[:-2], target.num_joints, 3), dtype=np.float32)
    for j, name in enumerate(target.joint_names):
        unified = target.to_unified.get(name)
        if unified is not None and unified in have:
            out[..., j, :] = get(unified)
        else:
            out[..., j, :] = _derive(name, get, source)
    return out


def reexpress(clip: SkeletonClip, target: str | Layout, *, folder: str | Path | None = None) -> SkeletonClip:
    """``clip`` re-expressed in the ``target`` layout, read back through the NPZ reader.

    The NPZ goes to ``folder`` (kept, e.g. to inspect it) or to a temporary folder that is removed.
    The returned clip has the target layout, the source's frame rate and label, and ``meta["reexpressed_from"]``.
    """
    from .io import load_clip, save_clip

    target = get_layout(target)
    positions = reexpress_array(clip.positions, clip.layout, target, clip.source)
    meta = {k: v for k, v in clip.meta.items() if isinstance(v, (str, int, float, bool))}
    meta.update(reexpressed_from=clip.layout.name, source=f"{clip.source} as {target.name}")
    out = SkeletonClip(positions, clip.fps, target, clip.label, meta)
    stem = Path(str(clip.meta.get("source", "clip"))).stem or "clip"
    if folder is not None:
        path = Path(folder) / f"{stem}.{target.name}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        return load_clip(save_clip(out, path))
    with tempfile.TemporaryDirectory(prefix="eai-reexpress-") as tmp:
        return load_clip(save_clip(out, Path(tmp) / f"{stem}.{target.name}.npz"))


def layout_joint_mask(layout: str | Layout) -> np.ndarray:
    """(23,) bool: the unified joints a clip of ``layout`` provides (what ``to_unified`` reports)."""
    return get_layout(layout).unified_index >= 0


def reexpress_windows(positions: np.ndarray, joint_mask: np.ndarray, target: str | Layout
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Unified windows (N, W, 23, 3) with masks (N, 23) as ``to_unified`` would give them for ``target``.

    The training augmentation for smaller rigs: joints the target lacks are filled with their nearest
    present ancestor (as :func:`~eai_llm.skeleton.unify.to_unified` does), joints the target has but that
    are derived (Kinect hands) are derived as in :func:`reexpress`, and the mask is the target's mask
    ANDed with the source's (a joint neither has stays masked). Windows stay normalised as they were
    (the floor and scale of the full rig; the smaller rigs keep the joints both depend on except the toes).
    """
    target = get_layout(target)
    tmask = layout_joint_mask(target)
    u = UNIFIED.index
    out = positions.copy()
    for name, unified in target.to_unified.items():
        if name in _DERIVED:   # e.g. kinect HandLeft -> l_hand, which the Bandai rig lacks
            kind, (a, b), f = _DERIVED[name]
            pa, pb = positions[..., u[a], :], positions[..., u[b], :]
            out[..., u[unified], :] = (pa + pb) * 0.5 if kind == "mid" else pa + f * (pa - pb)
    derived = {target.to_unified[n] for n in target.to_unified if n in _DERIVED}
    for j in UNIFIED.topological_order:
        if not tmask[j]:
            out[..., j, :] = out[..., UNIFIED.parents[j], :]
    mask = joint_mask & tmask
    for name in derived:
        mask[..., u[name]] = tmask[u[name]]
    return out, mask
