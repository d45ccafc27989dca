"""Checking a (generated) explanation against the clip: supported, applicable, plausible, well formed.

:func:`verify_claims` checks single claims (the evidence table); :func:`check_explanation` checks a whole
explanation: it must parse into the grammar's segments (:func:`~eai_llm.explain.parsing.parse_explanation`),
every cited cue must be supported (``|z| >= SUPPORT_Z`` in the claimed direction) and applicable to the movement,
"typical of" cues must agree with the label's correlates and "despite" cues run against them.
:func:`faithfulness` and :func:`label_consistency` are the older, looser scores (any vocabulary phrase in any
text), kept for free text and for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .evidence import SUPPORT_Z, Claim, applicable, select_claims, zscore
from .parsing import extract_claims, parse_answer, parse_explanation
from .values import format_value
from .vocabulary import agreement, cue_phrase

__all__ = ["ClaimCheck", "verify_claims", "faithfulness", "label_consistency", "ExplanationCheck",
           "check_explanation"]


def _unit_of(cue: str, units: Mapping[str, str] | None) -> str:
    if units is not None:
        return units.get(cue, "")
    from ..skeleton.cues import CUES

    spec = CUES.get(cue)
    return getattr(spec, "unit", "") if spec is not None else ""


@dataclass(frozen=True)
class ClaimCheck:
    """One claim checked against the measurements (for faithfulness and for the evidence display).

    ``applicable`` False: the cue's precondition fails for this clip (a gait cue of a clip without locomotion),
    so it is shown as "not applicable" and never counts as evidence; ``agreement``: how the claim relates to the
    label's correlates ("agrees", "contrary", "neutral"; None without a label or correlates)."""

    cue: str
    direction: str
    phrase: str
    value: float | None
    unit: str
    z: float | None
    typical: tuple[float, float] | None
    supported: bool
    applicable: bool = True
    agreement: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"cue": self.cue, "direction": self.direction, "phrase": self.phrase, "value": self.value,
                "unit": self.unit, "z": self.z, "typical": list(self.typical) if self.typical else None,
                "supported": self.supported, "applicable": self.applicable, "agreement": self.agreement}

    def describe(self) -> str:
        """One evidence line, e.g. ``"head bowed: 31° down (typical 5° down to 20° down, z=+1.8) supported"``."""
        if self.value is None:
            return f"{self.phrase}: not measured, unsupported"
        text = f"{self.phrase}: {format_value(self.cue, self.value, self.unit)}"
        extra = []
        if self.typical is not None:
            lo, hi = (format_value(self.cue, v, self.unit) for v in self.typical)
            extra.append(f"typical {lo} to {hi}")
        if self.z is not None:
            extra.append(f"z={self.z:+.1f}")
        detail = f" ({', '.join(extra)})" if extra else ""
        verdict = "not applicable" if not self.applicable else "supported" if self.supported else "unsupported"
        return f"{text}{detail} {verdict}"


def verify_claims(claims: Iterable[Claim | tuple[str, str]], cues: Mapping[str, float],
                  stats: Mapping[str, Mapping[str, float]], *, min_z: float = SUPPORT_Z,
                  units: Mapping[str, str] | None = None, label: str | None = None,
                  task: str = "emotion") -> list[ClaimCheck]:
    """Check each claim: supported when the measured z has the claimed direction, ``|z| >= min_z`` and the cue
    applies to the clip (:func:`~eai_llm.explain.evidence.applicable`).

    A cue absent from ``cues`` or ``stats`` is unsupported. ``typical`` is the reference (p10, p90). Units come
    from ``units`` or from :data:`eai_llm.skeleton.cues.CUES`. With ``label``, each check says how the claim
    relates to the label's correlates.
    """
    checks = []
    for claim in claims:
        cue, direction = (claim.cue, claim.direction) if isinstance(claim, Claim) else claim
        phrase = cue_phrase(cue, direction)
        z = zscore(cue, cues, stats)
        value = float(cues[cue]) if z is not None else None
        ref = stats.get(cue, {})
        typical = (float(ref["p10"]), float(ref["p90"])) if "p10" in ref and "p90" in ref else None
        fits = applicable(cue, cues)
        supported = fits and z is not None and abs(z) >= min_z and (z > 0) == (direction == "high")
        agree = agreement(label, cue, direction, task) if label is not None else None
        checks.append(ClaimCheck(cue, direction, phrase, value, _unit_of(cue, units), z, typical, supported,
                                 fits, agree))
    return checks


def faithfulness(text: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], *,
                 min_z: float = SUPPORT_Z) -> float | None:
    """Share of the text's cue claims that the clip's measurements support; None when it makes no claim."""
    checks = verify_claims(extract_claims(text), cues, stats, min_z=min_z, units={})
    if not checks:
        return None
    return sum(c.supported for c in checks) / len(checks)


def label_consistency(text: str, predicted_label: str, label_set: Sequence[str]) -> bool:
    """True when the answer parses and the label it names equals ``predicted_label`` (case-insensitive)."""
    parsed = parse_answer(text, label_set, need_explanation=False)
    return bool(parsed.ok and parsed.label is not None and parsed.label.lower() == predicted_label.lower())


@dataclass(frozen=True)
class ExplanationCheck:
    """:func:`check_explanation`'s verdict on one explanation."""

    well_formed: bool                 # parses into whole phrases, connectives and one label phrase
    error: str | None                 # the parser's reason when not well formed
    label: str | None                 # the label its label phrase names
    checks: tuple[ClaimCheck, ...]    # the cited cues ("typical of"/"read as" ones first, then "despite" ones)
    roles: tuple[str, ...]            # "support" / "against" per check
    supported: int                    # cited support cues that are supported and applicable
    plausible: bool | None            # every "typical of" cue agrees, every "despite" cue runs against (None: no
                                      # correlates, so no claim of typicality is made)
    applicable: bool                  # no cited cue fails its precondition
    available: int                    # supported, applicable cues the clip has that the label could cite

    def to_dict(self) -> dict[str, Any]:
        return {"well_formed": self.well_formed, "error": self.error, "label": self.label,
                "checks": [dict(c.to_dict(), role=r) for c, r in zip(self.checks, self.roles)],
                "supported": self.supported, "plausible": self.plausible, "applicable": self.applicable,
                "available": self.available}


def check_explanation(text: str, label: str, label_set: Sequence[str], cues: Mapping[str, float],
                      stats: Mapping[str, Mapping[str, float]], *, task: str = "emotion",
                      min_z: float = SUPPORT_Z) -> ExplanationCheck:
    """Parse and check ``text`` as an explanation of ``label`` for the clip with measured ``cues``.

    The cited cues are judged against the label the explanation itself names (its label phrase; ``label`` when
    it names none): whether that is the predicted label is label consistency, a separate question."""
    parsed = parse_explanation(text, label_set, task)
    said = parsed.label or label          # plausibility is judged against the emotion the text names
    cited = [(c, "support") for c in parsed.support] + [(c, "against") for c in parsed.against]
    checks = tuple(verify_claims([c for c, _ in cited], cues, stats, min_z=min_z, label=said, task=task))
    roles = tuple(r for _, r in cited)
    has_correlates = parsed.link == "typical_label"
    plausible = None
    if has_correlates:
        plausible = all(c.agreement == ("agrees" if r == "support" else "contrary") for c, r in zip(checks, roles))
    available = len(select_claims(said, cues, stats, k=len(cues) or 1, min_z=min_z, task=task).support)
    return ExplanationCheck(parsed.ok, parsed.error, parsed.label, checks, roles,
                            sum(c.supported for c, r in zip(checks, roles) if r == "support"), plausible,
                            all(c.applicable for c in checks), available)
