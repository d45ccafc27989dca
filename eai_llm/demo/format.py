"""What the demo shows, as text: cue names and values with units, the evidence and cue tables, the timeline's data,
the clip facts, the warnings and the JSON export (no Gradio here; pandas only where a DataFrame is returned).

Nothing here shows a server path: the export names the uploaded file by its own name and the model by its folder
name.
"""

from __future__ import annotations

import json
import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .limits import page_words, scrub_paths

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..interpreter import Interpretation
    from ..skeleton.clip import SkeletonClip

__all__ = ["EVIDENCE_HEADERS", "CUE_HEADERS", "cue_title", "format_cue_value", "evidence_rows", "cue_rows",
           "table_frame", "timeline_frame", "clip_info", "clip_markdown", "warnings_of", "warnings_markdown",
           "llm_alone_markdown", "checks_markdown", "attribution_markdown", "what_if_markdown", "export_json"]

#: Columns of the evidence table (one row per cue the explanation cites).
EVIDENCE_HEADERS = ["claim", "cue", "measured", "typical (p10–p90)", "z", "supported"]
#: Columns of the table of every measured cue.
CUE_HEADERS = ["cue", "measured", "typical (p10–p90)", "z", "what it tends to mean"]
#: How units read in a cue's title.
_UNIT_TITLE = {"deg": "°", "ratio": "", "": ""}


def cue_title(cue: str) -> str:
    """A cue's name as people read it, with its unit: ``"walking speed (m/s)"``, ``"head pitch (°)"``."""
    from ..skeleton.cues import CUES

    spec = CUES.get(cue)
    unit = _UNIT_TITLE.get(spec.unit, spec.unit) if spec else ""
    words = cue.replace("_", " ").strip()
    return f"{words} ({unit})" if unit else words


def format_cue_value(cue: str, value: float | None, unit: str | None = None) -> str:
    """A cue value as shown to people: its registry format and unit (``"31.0°"``, ``"0.62 m/s"``, ``"0.12"``)."""
    from ..skeleton.cues import CUES

    if value is None or not math.isfinite(float(value)):
        return "not measured"
    spec = CUES.get(cue)
    unit = spec.unit if unit is None and spec else (unit or "")
    text = f"{float(value):{spec.fmt if spec else '.3g'}}"
    if unit == "deg":
        return f"{text}°"
    return text if unit in ("", "ratio") else f"{text} {unit}"


def _typical(cue: str, stats: Mapping[str, Mapping[str, float]] | None, typical=None, unit: str | None = None) -> str:
    if typical is None and stats and "p10" in stats.get(cue, {}) and "p90" in stats.get(cue, {}):
        typical = (stats[cue]["p10"], stats[cue]["p90"])
    if typical is None:
        return "–"
    lo, hi = typical
    return f"{format_cue_value(cue, lo, unit)} – {format_cue_value(cue, hi, unit)}"


def evidence_rows(evidence: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One row per cited cue: the words, the cue, its measured value, the typical range, z, supported yes/no."""
    rows = []
    for e in evidence:
        unit = e.get("unit")
        z = e.get("z")
        rows.append([
            str(e.get("phrase", "")), cue_title(str(e.get("cue", ""))), format_cue_value(e["cue"], e.get("value"), unit),
            _typical(e["cue"], None, e.get("typical"), unit), "–" if z is None else f"{float(z):+.1f}",
            "yes" if e.get("supported") else "no",
        ])
    return rows


def cue_rows(cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]] | None) -> list[list[str]]:
    """Every measured cue (registry order): value, typical range, z against the model's reference statistics."""
    from ..skeleton.cues import CUES

    rows = []
    for name in [n for n in CUES if n in cues] + sorted(set(cues) - set(CUES)):
        value = cues[name]
        ref = (stats or {}).get(name, {})
        z = (value - ref["mean"]) / ref["std"] if ref.get("std") and "mean" in ref else None
        rows.append([cue_title(name), format_cue_value(name, value), _typical(name, stats),
                     "–" if z is None or not math.isfinite(z) else f"{z:+.1f}",
                     CUES[name].meaning if name in CUES else ""])
    return rows


def table_frame(rows: Sequence[Sequence[str]] | None, headers: Sequence[str]) -> "pd.DataFrame":
    """Rows as a DataFrame with the given headers (an empty table keeps its headers)."""
    import pandas as pd

    return pd.DataFrame([list(r) for r in rows or []], columns=list(headers))


def timeline_frame(timeline: Sequence[Mapping[str, Any]], top: int = 3) -> "pd.DataFrame | None":
    """Long format (time_s, emotion, probability) of the ``top`` labels with the highest mean probability over
    the clip (the leading ones, readable; the rest are left out); None for fewer than two windows."""
    import pandas as pd

    if len(timeline) < 2:
        return None
    labels = list(timeline[0]["probabilities"])
    probs = np.array([[float(w["probabilities"].get(label, 0.0)) for label in labels] for w in timeline])
    order = np.argsort(-probs.mean(axis=0), kind="stable")[:max(1, top)]
    times = np.round([(w["start_s"] + w["end_s"]) / 2 for w in timeline], 3)
    rows = [{"time_s": float(t), "emotion": labels[k], "probability": float(probs[i, k])}
            for k in order for i, t in enumerate(times)]
    return pd.DataFrame(rows)


def _finite(obj: Any) -> Any:
    """JSON-safe: tuples -> lists, NaN/inf -> None, numpy scalars -> Python, no absolute paths in strings."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, str):
        return scrub_paths(obj)
    return obj


def warnings_of(result: "Interpretation | None" = None, clip: "SkeletonClip | None" = None) -> list[str]:
    """The warnings to show: the result's ``warnings`` (when the interpreter has them) and the clip's."""
    found = list(getattr(result, "warnings", None) or []) if result is not None else []
    if clip is not None:
        found += [w for w in clip.meta.get("warnings", []) or [] if isinstance(w, str)]
    return list(dict.fromkeys(" ".join(str(w).split()) for w in found if str(w).strip()))


def clip_info(clip: "SkeletonClip", name: str | None = None) -> dict[str, Any]:
    """Facts about the clip shown in the page and written to the export."""
    return {
        "file": name or Path(str(clip.meta.get("source", "<clip>"))).name,
        "layout": clip.layout.name, "joints": clip.num_joints, "frames": clip.num_frames,
        "fps": round(float(clip.fps), 3), "duration_s": round(float(clip.duration), 3),
        "units": clip.meta.get("units", "m"), "units_assumed": bool(clip.meta.get("units_assumed", False)),
        "fps_assumed": bool(clip.meta.get("fps_assumed", False)),
    }


def clip_markdown(info: Mapping[str, Any]) -> str:
    """One line about the clip: file, layout, joints, frames, frame rate, duration, what was assumed."""
    notes = []
    if info.get("units_assumed"):
        notes.append(f"units assumed {info['units']}")
    if info.get("fps_assumed"):
        notes.append("frame rate assumed")
    extra = f" · _{', '.join(notes)}_" if notes else ""
    return (f"**{info['file']}** · layout `{info['layout']}` ({info['joints']} joints) · {info['frames']} frames "
            f"at {info['fps']:g} fps · {info['duration_s']:.1f} s{extra}")


def warnings_markdown(warnings: Sequence[str]) -> str | None:
    """The warnings as one block above the result (None when there are none)."""
    if not warnings:
        return None
    return "\n".join(f"⚠ **{scrub_paths(page_words(w))}**" for w in warnings)


def llm_alone_markdown(result: "Interpretation") -> str | None:
    """The LLM's own reading before fusion, next to the shown probabilities (None when the result has none)."""
    llm = getattr(result, "llm_probabilities", None)
    if not llm:
        return None
    shown = result.probabilities
    rows = sorted(llm, key=lambda k: -float(shown.get(k, 0.0)))
    lines = ["| emotion | shown | LLM alone |", "|---|---:|---:|"]
    lines += [f"| {k} | {float(shown.get(k, 0.0)):.0%} | {float(llm[k]):.0%} |" for k in rows]
    top = max(llm, key=lambda k: float(llm[k]))
    return (f"**LLM alone** (its own reading before fusion with the skeleton tokenizer's head): "
            f"**{top}**\n\n" + "\n".join(lines))


def checks_markdown(result: "Interpretation") -> str:
    """What the explanation was checked for, and the contrast with a close runner-up (one small block)."""
    parts = []
    if result.well_formed is not None:
        parts.append("whole phrases of the cue vocabulary" if result.well_formed else
                     "**not well formed** (a fragment outside the vocabulary)")
    if result.plausible is not None:
        parts.append("every cue agrees with the emotion it is cited for" if result.plausible else
                     "**a cited cue does not fit the emotion it is cited for**")
    lines = [f"<small>Checked: {'; '.join(parts)}.</small>"] if parts else []
    if getattr(result, "prediction_set", None):
        lines.insert(0, f"**{result.prediction_level:.0%} prediction set:** {' or '.join(result.prediction_set)} "
                        "(split conformal, calibrated on held-out content types).")
    if result.contrast:
        lines.insert(0, f"*{result.contrast[0].upper()}{result.contrast[1:]}.*")
    if getattr(result, "ood_score", None) is not None:
        lines.append(f"<small>Out-of-distribution score {result.ood_score:.2f} (threshold 1.00): "
                     + ("like the training clips." if result.in_distribution else
                        "**unlike the training clips: the reading is unreliable** (see the warning above).")
                     + "</small>")
    return "\n\n".join(lines)


def attribution_markdown(result: "Interpretation") -> str | None:
    """Which body parts, when, drove the reading (the green bones in the animation)."""
    att = getattr(result, "attribution", None)
    if not att or not att.get("top"):
        return None
    cells = [f"{c['part'].replace('_', ' ')} {c['start_s']:.1f}–{c['end_s']:.1f} s" for c in att["top"]]
    return (f"**Where in the clip:** {', '.join(cells)} (freezing that part's own motion there lowers "
            f"p({att['label']}) most; green in the animation).")


def what_if_markdown(label: str, what_if) -> str | None:
    """"What would change the reading": the cited cues moved to their typical values, and the new reading."""
    if what_if is None:
        return None
    from ..explain.values import format_value

    moved = ", ".join(f"{e['cue'].replace('_', ' ')} {format_value(e['cue'], e['before'])} → "
                      f"{format_value(e['cue'], e['after'])}" for e in what_if.edits)
    after = (f"the reading stays **{label}**" if what_if.edited_label == label
             else f"the reading becomes **{what_if.edited_label}**")
    return (f"**What would change the reading:** with the cited cues edited to their typical values ({moved}), "
            f"p({label}) goes from {what_if.probability:.0%} to {what_if.edited_probability:.0%} and {after}.")


def export_json(result: "Interpretation", info: Mapping[str, Any], path: str | PathLike, *,
                model: str | None = None, what_if=None) -> Path:
    """Write the interpretation with the clip facts and the model to ``path`` (strict JSON); returns the path.

    The clip is named by ``info["file"]`` (the upload's own name) and no string in it holds an absolute path.
    """
    from .. import __version__

    interpretation = result.to_dict()
    interpretation["source"] = info.get("file", Path(str(interpretation.get("source", ""))).name)
    doc = {"eai_llm_version": __version__, "model": model, "clip": dict(info), "interpretation": interpretation}
    if what_if is not None:
        doc["what_if"] = what_if.to_dict()
    path = Path(path)
    path.write_text(json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
