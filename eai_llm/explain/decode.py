"""Generating one explanation with the model: the prompt, the constrained decoder, the answer text.

``grounded`` (the default everywhere) decodes inside the explanation grammar with only the cue phrases the clip
supports (:mod:`~eai_llm.explain.constrained`); ``grounded=False`` is plain ``generate`` (to compare).
The token budget is raised to the shortest complete explanation when it is smaller, so an answer is never cut
mid-phrase. ``conditioned`` continues the predicted label ("Emotion: sad. Explanation:"); otherwise the model writes the
whole answer, the label included (under the grammar: one of the label set, and the explanation's label phrase
is that label's).
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

from .constrained import ExplanationAutomaton, GrammarLogitsProcessor, plan_explanation
from .texts import answer_text, explain_question
from .vocabulary import EXPLANATION_PREFIX

__all__ = ["answer_prefix", "explanation_automaton", "generate_answer"]


def answer_prefix(label: str, task: str) -> str:
    """``"Emotion: sad. Explanation:"``: what a conditioned answer starts with."""
    return f"{answer_text(label, task=task)} {EXPLANATION_PREFIX}:"


@functools.lru_cache(maxsize=8)
def _cached_encoder(tokenizer):
    @functools.lru_cache(maxsize=4096)
    def encode(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
    return encode


def explanation_automaton(tokenizer, labels: Sequence[str], cues: Mapping[str, float],
                          stats: Mapping[str, Mapping[str, float]], *, task: str = "emotion",
                          label: str | None = None, label_prior: Mapping[str, float] | None = None,
                          prior_weight: float = 0.0,
                          effects: Mapping[str, Mapping[str, float]] | None = None) -> ExplanationAutomaton:
    """The automaton for one clip: of ``label``'s explanation (conditioned), or of a whole answer that names
    one of ``labels`` first (``label`` None; its choice pooled with ``label_prior`` at ``prior_weight``).
    ``effects``: label -> cue -> drop of p(label) when the cue is neutralised (:mod:`.causal`)."""
    encode = _cached_encoder(tokenizer)
    eff = (lambda l: effects.get(l)) if effects is not None else (lambda l: None)
    if label is not None:
        return ExplanationAutomaton([plan_explanation(label, cues, stats, task=task, effects=eff(label))], encode)
    plans = [plan_explanation(l, cues, stats, task=task, effects=eff(l)) for l in labels]
    return ExplanationAutomaton(plans, encode, heads={l: answer_prefix(l, task) for l in labels},
                                label_prior=label_prior, prior_weight=prior_weight)


def generate_answer(model, skel, *, label: str, labels: Sequence[str], cues: Mapping[str, float],
                    stats: Mapping[str, Mapping[str, float]], task: str = "emotion", conditioned: bool = True,
                    grounded: bool = True, max_new_tokens: int = 40, do_sample: bool = False,
                    streamer=None, label_prior: Mapping[str, float] | None = None,
                    prior_weight: float = 0.0,
                    effects: Mapping[str, Mapping[str, float]] | None = None) -> tuple[str, str]:
    """``(answer, new)``: the whole answer text and the part the model generated (after the prefix).
    ``label_prior`` / ``prior_weight``: a free, grounded answer's label choice pooled with these probabilities
    (:class:`~eai_llm.explain.constrained.ExplanationAutomaton`); ``effects``: the cues' measured effects
    (:func:`~eai_llm.explain.causal.cue_effects`), which editable cues a grounded answer may cite."""
    question = explain_question(labels, task)
    prefix = answer_prefix(label, task) if conditioned else ""
    processor = None
    if grounded:
        auto = explanation_automaton(model.processor.tokenizer, labels, cues, stats, task=task,
                                     label=label if conditioned else None, label_prior=label_prior,
                                     prior_weight=prior_weight, effects=effects)
        # never half an explanation: the budget is at least the shortest one the grammar allows (+ the end)
        max_new_tokens = max(max_new_tokens, auto.shortest() + 1)
        processor = GrammarLogitsProcessor([auto], model.processor.stop_ids, max_new_tokens)
    new = model.generate_text(skel, question, prefix=prefix, max_new_tokens=max_new_tokens, do_sample=do_sample,
                              streamer=streamer, logits_processor=processor)[0]
    return prefix + new, new
