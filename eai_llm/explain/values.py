"""Measured values as a person writes them: units always, angles and heights as directions in words.

``head_pitch -15.6`` reads "raised 16°", ``trunk_lean 14.8`` "15° forward", ``hand_height -0.01`` "0.01 m below
the hips", ``stillness_ratio 0.42`` "42% of the time". A phrase is relative to the population (``z``), a value is
absolute, so the two can point different ways ("trunk leaning back" for a trunk 2° forward, where most lean 9°
forward): then the typical value is given beside it, "2° forward; typical 9° forward".
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from .parsing import _PHRASE_RE, _phrase_of, phrase_to_claim

__all__ = ["format_value", "annotate", "SIGNED_CUES"]

#: cue -> (words for a positive value, words for a negative one); ``{v}`` is the magnitude
SIGNED_CUES: dict[str, tuple[str, str]] = {
    "head_pitch": ("{v}° down", "raised {v}°"),
    "trunk_lean": ("{v}° forward", "{v}° back"),
    "shoulder_slump": ("rolled {v}° forward", "pulled {v}° back"),
    "hand_height": ("{v} m above the hips", "{v} m below the hips"),
}
#: the sign each phrase direction implies for a signed cue (low / high)
_IMPLIED_SIGN = {"head_pitch": (-1, 1), "trunk_lean": (-1, 1), "shoulder_slump": (-1, 1), "hand_height": (-1, 1)}
_SHARES = {"stillness_ratio", "locomotion"}
_UNIT_TEXT = {"deg": "°", "deg/s": "°/s", "m^2/s^2": "m²/s²", "m/s^3": "m/s³"}


def _specs() -> Mapping[str, Any]:
    try:
        from ..skeleton.cues import CUES
    except ImportError:  # pragma: no cover - the cue module is part of the package
        return {}
    return CUES


def format_value(cue: str, value: float, unit: str | None = None) -> str:
    """``value`` of ``cue`` in words with its unit (``unit`` overrides the registry's; "" = a bare number)."""
    spec = _specs().get(cue)
    unit = getattr(spec, "unit", "") if unit is None else unit
    value = float(value)
    if cue in SIGNED_CUES and unit:
        pos, neg = SIGNED_CUES[cue]
        mag = f"{abs(value):.2f}" if unit == "m" else f"{abs(value):.0f}"
        return (pos if value >= 0 else neg).format(v=mag)
    if cue in _SHARES and unit:
        return f"{value:.0%} of the time"
    if cue == "asymmetry" and unit:
        return f"{value:.0%} left/right difference"
    fmt = getattr(spec, "fmt", ".3g")
    if unit in ("deg", "deg/s"):
        fmt = ".0f"
    text = f"{value:{fmt}}"
    if unit in ("", "ratio"):
        return text
    shown = _UNIT_TEXT.get(unit, unit)
    return f"{text}{shown}" if shown.startswith("°") else f"{text} {shown}"


def _against_the_phrase(cue: str, direction: str, value: float) -> bool:
    signs = _IMPLIED_SIGN.get(cue)
    if signs is None or value == 0:
        return False
    return (1 if value > 0 else -1) != signs[direction == "high"]


def annotate(explanation: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]] | None = None,
             units: Mapping[str, str] | None = None) -> str:
    """Insert the measured value after each vocabulary phrase: ``"slow pace (0.62 m/s), head bowed (31° down)"``.

    Phrases whose cue is absent (or already followed by a parenthesis) are left as they are. Where a signed
    value points against its phrase and ``stats`` are given, the typical (mean) value follows it.
    """
    def repl(m: re.Match[str]) -> str:
        cue, direction = phrase_to_claim[_phrase_of(m)]
        value = cues.get(cue)
        if value is None or not math.isfinite(float(value)) or re.match(r"\s*\(", explanation[m.end():]):
            return m.group(0)
        unit = None if units is None else units.get(cue, "")
        text = format_value(cue, float(value), unit)
        mean = (stats or {}).get(cue, {}).get("mean")
        if mean is not None and _against_the_phrase(cue, direction, float(value)):
            text += f"; typical {format_value(cue, float(mean), unit)}"
        return f"{m.group(0)} ({text})"

    return _PHRASE_RE.sub(repl, explanation)
