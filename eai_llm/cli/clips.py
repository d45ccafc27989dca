"""`inspect`, `convert`, `layouts`: reading clips and layouts (no model)."""

from __future__ import annotations

import json
from pathlib import Path

from ._common import UserError, command, quiet_model_loading


@command
def cmd_inspect(clip: str, layout: str | None = None, units: str | None = None, fps: float | None = None,
                interpolate_gaps: int = 0, json_output: bool = False) -> int:
    """Show a clip's layout, frames, fps, duration, units and its kinematic-cue table.

    clip: a BVH, NPZ, NPY or CSV file.
    layout: layout name or .json/.yaml layout file (needed for NPY; optional otherwise).
    units: source units (cm, m, mm, inch) when they cannot be detected.
    fps: frame rate when the file does not say (NPY/CSV).
    interpolate_gaps: fill NaN gaps of at most this many frames (off by default).
    json_output: print JSON instead of text.
    """
    from ..skeleton.cues import cue_table, kinematic_cues
    from ..skeleton.io import load_clip

    c = load_clip(clip, layout=layout, units=units, fps=fps, interpolate_gaps=interpolate_gaps)
    cues = kinematic_cues(c)
    info = {
        "file": str(clip),
        "layout": c.layout.name,
        "joints": c.num_joints,
        "frames": c.num_frames,
        "fps": c.fps,
        "duration_s": round(c.duration, 3),
        "units": c.meta.get("units", "m"),
        "label": c.label,
    }
    if json_output:
        print(json.dumps({**info, "cues": cues}, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if value is not None:
            print(f"{key:<{width}}  {value}")
    print()
    print(cue_table(cues))
    return 0


@command
def cmd_convert(src: str, dst: str, layout: str | None = None, units: str | None = None,
                fps: float | None = None, interpolate_gaps: int = 0) -> int:
    """Convert a clip (BVH, NPZ, NPY, CSV) to the project's NPZ format.

    src: input clip.
    dst: output path ending in .npz (written atomically).
    layout: layout name or .json/.yaml layout file (needed for NPY).
    units: source units (cm, m, mm, inch) when they cannot be detected.
    fps: frame rate when the file does not say (NPY/CSV).
    interpolate_gaps: fill NaN gaps of at most this many frames (off by default).
    """
    from ..skeleton.io import load_clip, save_clip
    from ..skeleton.io.save import check_npz_target

    check_npz_target(dst)            # before reading: a wrong output path fails at once
    c = load_clip(src, layout=layout, units=units, fps=fps, interpolate_gaps=interpolate_gaps)
    save_clip(c, dst)
    print(f"wrote {dst}: {c.layout.name}, {c.num_frames} frames at {c.fps:g} fps ({c.duration:.2f} s)")
    return 0


@command
def cmd_layouts(show: str | None = None) -> int:
    """List the registered skeleton layouts, or print one as JSON.

    show: a layout name (or layout file) to print in the JSON format users write their own layouts in.
    """
    from ..skeleton.layouts import get_layout, list_layouts

    if show:
        print(json.dumps(get_layout(show).to_dict(), indent=2))
        return 0
    for name in list_layouts():
        lay = get_layout(name)
        print(f"{name:<18} {lay.num_joints:>3} joints  {lay.description}")
    return 0
