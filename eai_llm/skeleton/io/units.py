"""Length units: names, metres per unit, and detection from the body's size."""

from __future__ import annotations

import numpy as np


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
