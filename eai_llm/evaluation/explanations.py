"""Explanation quality in `eai-llm evaluate`: each generated explanation checked, then pooled.

Per clip (:func:`check_record`): well formed (parses into whole vocabulary phrases, connectives and one label
phrase), plausible (its "typical of" cues agree with the emotion it names, its "despite" cues run against it),
applicable (no cue cited whose precondition fails; ``gait_without_locomotion`` counts gait cues cited on clips
that do not move about), how many supported cues it cites against how many the clip offers, and ERASER-style
comprehensiveness: the drop of p(label) when its cited cues are neutralised by editing the motion, beside the drop
when as many uncited cues are (:func:`eai_llm.counterfactual.comprehensiveness`).
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np

__all__ = ["check_record", "summarise_checks"]


def check_record(interp, clip, res, labels: Sequence[str], *, task: str = "emotion",
                 comprehensive: bool = True, seed: int = 0) -> dict:
    """The checks of one interpreted clip's explanation (``res``: its Interpretation, explained)."""
    from .. import explain as T
    from ..counterfactual import comprehensiveness

    parsed = T.parse_answer(res.raw_explanation or "", labels)
    check = T.check_explanation(parsed.explanation or "", res.label, labels, res.all_cues, interp.cue_stats,
                                task=task)
    support = [c.cue for c, r in zip(check.checks, check.roles) if r == "support"]
    comp = comprehensiveness(interp, clip, support, task=task, before=res,
                             rng=random.Random(seed)) if comprehensive and check.well_formed else None
    return {"well_formed": check.well_formed and parsed.ok, "error": check.error or parsed.error,
            "plausible": check.plausible, "applicable": check.applicable,
            "gait_without_locomotion": sum(c.cue in T.GAIT_CUES and not c.applicable for c in check.checks),
            "supported": check.supported, "available": check.available,
            "comp_cited": None if comp is None else comp[0], "comp_uncited": None if comp is None else comp[1]}


def _rate(values) -> float | None:
    values = [bool(v) for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise_checks(records: Sequence[dict | None]) -> dict | None:
    """Pooled explanation checks: rates over the explained clips, comprehensiveness over the clips it applies to."""
    recs = [r for r in records if r]
    if not recs:
        return None
    two = [r for r in recs if r["available"] >= 2]
    comp = [r for r in recs if r["comp_cited"] is not None]
    cited = np.array([r["comp_cited"] for r in comp]) if comp else np.zeros(0)
    uncited = np.array([r["comp_uncited"] for r in comp]) if comp else np.zeros(0)
    return {
        "explained": len(recs),
        "well_formed": _rate(r["well_formed"] for r in recs),
        "plausible": _rate(r["plausible"] for r in recs),           # over explanations that claim typicality
        "applicable": _rate(r["applicable"] for r in recs),
        "gait_cues_without_locomotion": int(sum(r["gait_without_locomotion"] for r in recs)),
        "two_supported_cues": _rate(r["supported"] >= 2 for r in two), "clips_with_two_available": len(two),
        "comprehensiveness_cited": float(cited.mean()) if comp else None,
        "comprehensiveness_uncited": float(uncited.mean()) if comp else None,
        "cited_matter_more": float(np.mean(cited > uncited)) if comp else None, "comprehensiveness_clips": len(comp),
    }
