"""Decoding inside the explanation grammar: every cue mention is a whole phrase the clip supports.

Barring single phrases while decoding (the earlier "grounded" decoder) let the model glue halves of different
phrases together ("head held close together"). Here the grammar of :mod:`~eai_llm.explain.grammar` is compiled
into a token-level automaton: each step of the grammar becomes *pieces* (``", typical of sadness"``,
``" and slow pace"``) tokenized on their own, and at every decoding step only the next token of a piece that is
still possible may be chosen. So the model still chooses which supported cues to cite, in which order, and
where to stop, but it cannot emit anything else:

- ``support`` cues: supported, applicable and agreeing with the label (for a label without correlates: its
  supported, applicable deviations), each at most once, at most ``max_support``, and at least ``min_support``
  when the clip has that many (the label phrase may only follow then: issue 12, "at least two when the clip has
  them"; the model still picks which ones);
- ``against`` cues (after "despite"): supported, applicable cues contrary to the label, at most ``max_against``;
- the label phrase of the answer's label; "no measured cue is typical of ..." only when nothing agrees;
- a token budget: a piece is allowed only if the explanation can still be finished within ``max_new_tokens``;
- a free answer's label (several heads): with ``label_prior`` (the clip's shipped probabilities) and
  ``prior_weight`` w, the model's next-token log-probabilities while it writes the head are pooled like the
  classifier pools its label readings, ``(1 - w) log p_model(token) + w log P_prior(labels the token leads to)``
  (normalised over the labels still possible), so the label the explanation names follows the same evidence as
  the shipped label; w = 0 leaves the choice to the LLM alone.

:class:`GrammarLogitsProcessor` applies it to Hugging Face ``generate`` (one automaton per batch row).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

from .evidence import select_claims
from .grammar import DONE, GRAMMAR, START, TYPICAL_STATES
from .vocabulary import correlate_table, label_phrase

__all__ = ["ExplanationPlan", "plan_explanation", "ExplanationAutomaton", "GrammarLogitsProcessor"]


@dataclass(frozen=True)
class ExplanationPlan:
    """What the decoder may say for one label: the phrases per role and whether the link is "typical of"."""

    label: str
    label_phrase: str
    support: tuple[str, ...]
    against: tuple[str, ...]
    typical: bool


def plan_explanation(label: str, cues: Mapping[str, float], stats: Mapping[str, Mapping[str, float]], *,
                     task: str = "emotion", effects: Mapping[str, float] | None = None) -> ExplanationPlan:
    """Every phrase an explanation of ``label`` may cite for this clip (no count limit: the model chooses).
    ``effects``: cue -> drop of p(label) when it is neutralised (:mod:`.causal`); editable cues whose drop is not
    positive are then left out of ``support`` (see :func:`.causal.keep_support`)."""
    from .causal import keep_support

    sel = select_claims(label, cues, stats, k=len(cues) or 1, k_against=len(cues) or 1, task=task)
    support = keep_support(sel.support, effects) if effects is not None else sel.support
    return ExplanationPlan(label, label_phrase(label, task), tuple(c.phrase for c in support),
                           tuple(c.phrase for c in sel.against), label in correlate_table(task))


HEAD = "head"


@dataclass(frozen=True)
class _Node:
    state: str
    label: str | None = None
    used: frozenset = frozenset()
    n_support: int = 0
    n_against: int = 0


class ExplanationAutomaton:
    """The grammar as a token automaton. ``encode`` turns a piece of text into token ids.

    One plan: the explanation of that label (the answer's head is already in the prompt). Several plans with
    ``heads`` (label -> "Emotion: <label>. Explanation:"): the model first writes one of the heads, then that
    label's explanation.
    """

    def __init__(self, plans: Sequence[ExplanationPlan], encode: Callable[[str], Sequence[int]], *,
                 heads: Mapping[str, str] | None = None, lead: str = " ", max_support: int = 3, max_against: int = 1,
                 min_support: int = 2, label_prior: Mapping[str, float] | None = None, prior_weight: float = 0.0):
        self.plans = {p.label: p for p in plans}
        if not self.plans or (heads is None and len(self.plans) != 1):
            raise ValueError("one plan, or several plans with a head text each")
        self.heads, self.lead = heads, lead
        self.max_support, self.max_against, self.min_support = max_support, max_against, min_support
        if not 0.0 <= prior_weight <= 1.0:
            raise ValueError(f"prior_weight must be in [0, 1], got {prior_weight}")
        self.label_prior = dict(label_prior or {})
        self.prior_weight = prior_weight if self.label_prior and heads is not None else 0.0
        self._encode = functools.lru_cache(maxsize=None)(lambda text: tuple(encode(text)))
        self._pieces: dict[_Node, list[tuple[tuple[int, ...], _Node]]] = {}
        self._min_left: dict[tuple, int] = {}
        self.reset()

    # ---- the grammar as pieces ---------------------------------------------------------------------
    def pieces(self, node: _Node) -> list[tuple[tuple[int, ...], _Node]]:
        """(token ids, next node) for every step the grammar allows after ``node``."""
        if node not in self._pieces:
            self._pieces[node] = [(ids, nxt) for text, nxt in self._texts(node) if (ids := self._encode(text))]
        return self._pieces[node]

    def _need(self, label: str) -> int:
        """Support cues the label's explanation must cite before its label phrase."""
        return min(self.min_support, self.max_support, len(self.plans[label].support))

    def _start(self) -> _Node:
        return _Node(HEAD) if self.heads is not None else _Node(START, next(iter(self.plans)))

    def _texts(self, node: _Node) -> list[tuple[str, _Node]]:
        if node.state == HEAD:
            return [(self.heads[label], _Node(START, label)) for label in self.plans]
        p, out = self.plans[node.label], []
        lead = self.lead if node.state == START else ""
        for step in GRAMMAR[node.state]:
            if step.item == "cue":
                support = step.to == "support"
                if support and node.n_support >= self.max_support or not support and node.n_against >= self.max_against:
                    continue
                for phrase in (p.support if support else p.against):
                    if phrase not in node.used:
                        nxt = _Node(step.to, node.label, node.used | {phrase}, node.n_support + support,
                                    node.n_against + (not support))
                        out.append((lead + step.literal + phrase, nxt))
            elif step.item == "label":
                if (step.to in TYPICAL_STATES) != p.typical:
                    continue
                if node.state == START and p.support:     # "no measured cue ..." only when nothing can be cited
                    continue
                if node.state == "support" and node.n_support < self._need(node.label):
                    continue
                out.append((lead + step.literal + p.label_phrase, replace(node, state=step.to)))
            else:
                out.append((lead + step.literal, replace(node, state=step.to)))
        return out

    def min_left(self, node: _Node) -> int:
        """A lower bound on the tokens needed to finish from ``node`` (which cues were used is ignored; the count
        of support cues only up to the minimum still to cite)."""
        if node.state == DONE:
            return 0
        k = min(node.n_support, self._need(node.label)) if node.label is not None else 0
        key = (node.state, node.label, k)
        if key not in self._min_left:
            self._min_left[key] = 10 ** 6       # cycles (cue lists) cannot lower the bound
            best = min((len(ids) + self.min_left(nxt) for ids, nxt in
                        self.pieces(_Node(node.state, node.label, n_support=k))), default=10 ** 6)
            self._min_left[key] = best
        return self._min_left[key]

    def shortest(self) -> int:
        """Tokens of the shortest complete explanation (answer) this automaton allows."""
        return self.min_left(self._start())

    # ---- running ------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.hyps = [(ids, 0, nxt) for ids, nxt in self.pieces(self._start())]
        self.done = False
        self.tokens: list[int] = []

    def allowed(self, budget: int | None = None) -> set[int]:
        """Token ids that may come next (empty when only the end may follow: see ``done``)."""
        hyps = self.hyps
        if budget is not None:
            fit = [h for h in hyps if len(h[0]) - h[1] + self.min_left(h[2]) <= budget]
            hyps = fit or hyps
        return {ids[pos] for ids, pos, _ in hyps}

    def head_bias(self) -> dict[int, float] | None:
        """While a free answer's head is being written and a label prior is set: for each allowed next token, the
        log of the prior mass of the labels it leads to over that of the labels still possible; else None."""
        if not self.prior_weight or not self.hyps or any(n.state != START for _, _, n in self.hyps):
            return None
        mass = lambda labels: sum(max(float(self.label_prior.get(l, 0.0)), 1e-9) for l in labels)
        reach: dict[int, set] = {}
        for ids, pos, nxt in self.hyps:
            reach.setdefault(ids[pos], set()).add(nxt.label)
        total = mass({n.label for _, _, n in self.hyps})
        return {tok: math.log(mass(labels) / total) for tok, labels in reach.items()}

    def advance(self, token: int) -> bool:
        """Consume ``token``; False when the grammar did not allow it (the automaton is then left as it was)."""
        keep, finished = [], []
        for ids, pos, nxt in self.hyps:
            if ids[pos] == token:
                (finished if pos + 1 == len(ids) else keep).append((ids, pos + 1, nxt))
        if not keep and not finished:
            return False
        self.tokens.append(token)
        self.done = False
        for _, _, nxt in finished:
            if nxt.state == DONE:
                self.done = True
            keep.extend((ids, 0, n2) for ids, n2 in self.pieces(nxt))
        self.hyps = list(dict.fromkeys(keep))
        return True


class GrammarLogitsProcessor:
    """A ``generate`` logits processor: each row may only continue its automaton; a finished one only ends.

    ``eos_ids``: the tokens that end the answer. ``max_new_tokens``: the budget the automaton plans within.
    """

    def __init__(self, automata: Sequence[ExplanationAutomaton], eos_ids: Sequence[int], max_new_tokens: int):
        self.automata = list(automata)
        self.eos = list(eos_ids)
        self.max_new_tokens = max_new_tokens
        self._start: int | None = None

    def __call__(self, input_ids, scores):
        import torch

        if self._start is None:
            self._start = input_ids.shape[1]
        mask = torch.full_like(scores, float("-inf"))
        for row, auto in enumerate(self.automata):
            new = input_ids[row, self._start + len(auto.tokens):].tolist()
            for tok in new:
                if tok in self.eos or not auto.advance(tok):
                    break
            left = self.max_new_tokens - (input_ids.shape[1] - self._start)
            allowed = sorted(auto.allowed(left)) if not auto.done or auto.hyps else []
            if auto.done:
                allowed = allowed + self.eos if left > 1 and allowed else self.eos
            mask[row, allowed] = 0.0
            bias = auto.head_bias()
            if bias and len(bias) > 1:       # pool the model's choice of label with the prior (see the module)
                w = auto.prior_weight
                logp = torch.log_softmax(scores[row].float(), dim=-1)
                toks = torch.tensor(list(bias), device=scores.device)
                pooled = (1 - w) * logp[toks] + w * torch.tensor(list(bias.values()), device=scores.device)
                scores[row] = float("-inf")
                scores[row, toks] = pooled.to(scores.dtype)
        return scores + mask
