"""Length units: names, metres per unit, detection from the body's size, and the "units unclear" check.

A reader whose units were not given by the caller measures the body (the median over a few frames of
the largest bounding-box extent) and, when that height in the units it chose is outside
:data:`BODY_HEIGHT_RANGE_M`, records a warning in ``clip.meta["warnings"]`` plus
``meta["units_unclear"] = True`` and ``meta["body_height_m"]``. The distance and speed cues of such a
clip are scaled to a :data:`NOMINAL_BODY_HEIGHT_M` body (see :mod:`eai_llm.skeleton.cues`), which the
warning says.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Plausible body sizes (m); a body outside this in the chosen units makes them unclear. The size is
#: the joints' bounding box (no skin, no top of the head): the 984 real Bandai Namco BVH files measure
#: 1.15-1.71 m (hunched sad walks lowest), so the range is wider than standing heights (1.2-2.2 m).
BODY_HEIGHT_RANGE_M = (1.0, 2.4)
#: The body height (m) distance and speed cues are scaled to when the units are unclear.
NOMINAL_BODY_HEIGHT_M = 1.7
_UNIT_WORDS = {"m": "metres", "cm": "centimetres", "mm": "millimetres", "inch": "inches"}

#: Metres per unit.
UNIT_SCALES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254}

_UNIT_ALIASES = {
    "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "cm": "cm", "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
    "mm": "mm", "millimeter": "mm", "millimeters": "mm", "millimetre": "mm", "millimetres": "mm",
    "in": "inch", "inch": "inch", "inches": "inch",
}

def detect_units(height: float) -> tuple[str, bool]:
    """Guess a file's length unit from a body size (largest bounding-box extent) in file units.

    Returns ``(units, assumed)``; ``assumed`` is True when the size fits no unit and cm is assumed.
    """
    if not np.isfinite(height) or height <= 0:
        return "cm", True
    if 0.5 <= height <= 2.6:
        return "m", False
    if 35.0 <= height < 85.0:
        return "inch", False
    if 95.0 <= height <= 260.0:
        return "cm", False
    if 950.0 <= height <= 2600.0:
        return "mm", False
    return "cm", True


def body_size(positions: np.ndarray, sample: int = 9) -> float:
    """Median over up to ``sample`` evenly spaced frames of the largest bounding-box extent of (T, J, 3)."""
    T = positions.shape[0]
    rows = np.unique(np.linspace(0, T - 1, min(T, sample)).round().astype(np.int64))
    pts = np.asarray(positions[rows], dtype=np.float64)
    with np.errstate(all="ignore"):
        extent = (np.nanmax(pts, axis=1) - np.nanmin(pts, axis=1)).max(axis=1) if pts.size else np.zeros(0)
    extent = extent[np.isfinite(extent)]
    return float(np.median(extent)) if extent.size else float("nan")


def units_warning(size: float, units: str, what: str = "file units") -> str | None:
    """None when a body ``size`` (in ``units``) is a plausible height, else a one-line warning.

    The warning names the height the chosen units give and the units it would fit, if any.
    """
    lo, hi = BODY_HEIGHT_RANGE_M
    if not math.isfinite(size) or size <= 0:
        return "units unclear: no body height could be measured; distance and speed cues may be wrong; pass --units"
    height = size * UNIT_SCALES[units]
    if lo <= height <= hi:
        return None
    fits = [_UNIT_WORDS[u] for u, s in UNIT_SCALES.items() if u != units and lo <= size * s <= hi]
    hint = f" (it fits {' or '.join(fits)})" if fits else f" ({size:.4g} {what} fit no unit)"
    return (f"units unclear: body height {height:.3g} m if {_UNIT_WORDS[units]}{hint}; distance and speed cues "
            f"are scaled to a nominal {NOMINAL_BODY_HEIGHT_M:g} m body; pass --units")


def note_units(meta: dict[str, Any], size: float, units: str, what: str = "file units") -> None:
    """Record the units check in ``meta`` (``warnings``, ``units_unclear``, ``body_height_m``)."""
    height = size * UNIT_SCALES[units]
    if math.isfinite(height):
        meta["body_height_m"] = round(height, 4)
    warning = units_warning(size, units, what)
    if warning is not None:
        meta["units_unclear"] = True
        meta.setdefault("warnings", []).append(warning)
