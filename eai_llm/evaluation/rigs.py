"""Scoring held-out clips re-expressed in smaller rigs: the reader, the names and the report table.

``eai-llm evaluate --reexpress h36m_17 kinect_v2 emotion_gait_16`` scores every trained system (tokenizer-linear
and llm variants) a second time per layout on the same folds, with the same fold models: each held-out clip is
re-expressed as a joint subset of the real clip (:func:`eai_llm.skeleton.reexpress.reexpress`, through the NPZ
reader, so it reaches the model as a file of that rig would) and classified. Temperatures stay those fitted on
the full rig (a deployed model does not know which rig comes next). Labels only: no explanations are generated
for the re-expressed clips (the full-rig systems measure explanation quality).
"""

from __future__ import annotations

from typing import Callable, Sequence

__all__ = ["check_layouts", "rig_reader", "is_rig_system", "rig_table"]

SEPARATOR = "@"


def check_layouts(layouts: Sequence[str] | str | None) -> list[str]:
    """Layout names (a list, or comma-separated items), checked against the registry; one-line errors."""
    from ..skeleton.errors import LayoutError
    from ..skeleton.layouts import get_layout

    if isinstance(layouts, str):
        layouts = [layouts]
    names = [n.strip() for item in (layouts or []) for n in str(item).split(",") if n.strip()]
    for name in names:
        try:
            layout = get_layout(name)
        except LayoutError as err:
            raise ValueError(f"--reexpress: {err}") from None
        if layout.name in ("unified", "bandai_namco_22"):
            raise ValueError(f"--reexpress: {name!r} is not a smaller rig than the evaluated clips")
    return list(dict.fromkeys(names))


def rig_reader(layout: str) -> Callable[[str], "object"]:
    """``path -> SkeletonClip``: the clip file re-expressed in ``layout`` (read back through the NPZ reader)."""
    def read(path: str):
        from ..skeleton.io import load_clip
        from ..skeleton.reexpress import reexpress

        return reexpress(load_clip(path), layout)

    return read


def is_rig_system(name: str) -> bool:
    return SEPARATOR in name


def rig_table(systems: dict) -> list[str]:
    """Report lines: per trained system, 7-class accuracy on the full rig and on each re-expressed layout
    (with the difference in points); empty when nothing was re-expressed."""
    rigs = {k: v for k, v in systems.items() if is_rig_system(k)}
    if not rigs:
        return []
    layouts = list(dict.fromkeys(k.split(SEPARATOR, 1)[1] for k in rigs))
    bases = list(dict.fromkeys(k.split(SEPARATOR, 1)[0] for k in rigs))
    lines = ["", "Full rig vs each layout (7-class accuracy; the held-out clips re-expressed as joint subsets, the "
             "same fold models; in brackets: points against the full rig, target within 5):", "",
             "| system | full rig | " + " | ".join(layouts) + " |", "| --- | --- |" + " --- |" * len(layouts)]
    for base in bases:
        full = systems.get(base, {}).get("7class", {}).get("accuracy")
        cells = []
        for layout in layouts:
            acc = rigs.get(f"{base}{SEPARATOR}{layout}", {}).get("7class", {}).get("accuracy")
            if acc is None:
                cells.append("–")
            elif full is None:
                cells.append(f"{100 * acc:.1f}%")
            else:
                cells.append(f"{100 * acc:.1f}% ({100 * (acc - full):+.1f})")
        lines.append(f"| {base} | {'–' if full is None else f'{100 * full:.1f}%'} | " + " | ".join(cells) + " |")
    return lines
