"""The explanation grammar, as data: one table that the parser walks and the constrained decoder compiles.

A state lists the steps that may follow it; a step is fixed words (``literal``), then optionally one item
(a cue phrase or the label phrase), then the next state::

    start          -> <cue> (support) | "no measured cue is typical of " <label> (typical_label)
                      | "no measured cue stands out, read as " <label> (read_label)
    support        -> ", " <cue> | " and " <cue> (support) | ", typical of " <label> (typical_label)
                      | ", read as " <label> (read_label)
    typical_label  -> ", despite " <cue> (against) | "." (done)
    against        -> ", " <cue> | " and " <cue> (against) | "." (done)
    read_label     -> "." (done)

Which cues and labels may fill an item is the caller's business (the parser accepts any vocabulary phrase and
the label set's phrases; the decoder only the ones this clip supports), and "typical of" belongs to labels with
correlates, "read as" to those without (:func:`~eai_llm.explain.vocabulary.correlate_table`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import DESPITE, NO_DEVIATION, NO_TYPICAL, READ_AS, TYPICAL

__all__ = ["Step", "GRAMMAR", "START", "DONE", "CUE_ROLE", "TYPICAL_STATES"]


@dataclass(frozen=True)
class Step:
    literal: str            # fixed words before the item
    item: str | None        # "cue", "label" or None
    to: str                 # the next state


START, DONE = "start", "done"
GRAMMAR: dict[str, tuple[Step, ...]] = {
    START: (Step("", "cue", "support"), Step(f"{NO_TYPICAL} ", "label", "typical_label"),
            Step(f"{NO_DEVIATION} ", "label", "read_label")),
    "support": (Step(", ", "cue", "support"), Step(" and ", "cue", "support"),
                Step(f", {TYPICAL} ", "label", "typical_label"), Step(f", {READ_AS} ", "label", "read_label")),
    "typical_label": (Step(f", {DESPITE} ", "cue", "against"), Step(".", None, DONE)),
    "against": (Step(", ", "cue", "against"), Step(" and ", "cue", "against"), Step(".", None, DONE)),
    "read_label": (Step(".", None, DONE),),
    DONE: (),
}
#: the role a cue has in the state its step leads to
CUE_ROLE = {"support": "support", "against": "against"}
#: states reached only by labels with correlates ("typical of", "despite") / only by labels without ("read as")
TYPICAL_STATES = frozenset({"typical_label", "against"})
