"""The processor: prompt text <-> token ids, with the ``{skeleton}`` slot expanded to exactly N placeholder ids.

The placeholder is an existing single token of the LLM's vocabulary that prompts never use (so the vocabulary
is not resized); the model replaces those N positions with the projected skeleton tokens and checks the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .config import EaiLlmConfig

__all__ = ["EaiProcessor", "PromptBatch"]

IGNORE = -100


@dataclass
class PromptBatch:
    input_ids: torch.Tensor        # (B, L)
    attention_mask: torch.Tensor   # (B, L)
    labels: torch.Tensor | None = None


class EaiProcessor:
    def __init__(self, tokenizer, config: EaiLlmConfig):
        self.tokenizer = tokenizer
        self.num_skeleton_tokens = config.num_skeleton_tokens
        vocab = tokenizer.get_vocab()
        if config.placeholder_token not in vocab:
            raise ValueError(f"placeholder_token {config.placeholder_token!r} is not a single token of the LLM's "
                             "vocabulary; set placeholder_token in the model config to an unused special token")
        self.placeholder_token = config.placeholder_token
        self.placeholder_id = int(vocab[config.placeholder_token])
        head, tail = config.prompt_template.split("{skeleton}")
        self._head = self._ids(head)
        self._tail = tail
        self._suffix = self._ids(config.answer_suffix)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self.stop_ids = sorted({i for i in (self._suffix[:1] + [tokenizer.eos_token_id]) if i is not None})

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def _check(self, text: str) -> None:
        if self.placeholder_token in text:
            raise ValueError(f"text contains the reserved skeleton placeholder {self.placeholder_token!r}")

    def prompt_ids(self, question: str, prefix: str = "") -> list[int]:
        """Prompt ids: template head, N placeholders, the question, the assistant tag and an optional answer prefix."""
        self._check(question)
        self._check(prefix)
        # the answer prefix is tokenised on its own, exactly as the answer is in training
        return self._head + [self.placeholder_id] * self.num_skeleton_tokens + \
            self._ids(self._tail.format(question=question)) + self._ids(prefix)

    def answer_ids(self, answer: str) -> list[int]:
        self._check(answer)
        return self._ids(answer) + self._suffix

    def training_batch(self, questions: Sequence[str], answers: Sequence[str]) -> PromptBatch:
        """Right-padded prompt+answer sequences; ``labels`` are -100 except on the answer (and its end tag)."""
        rows, labels = [], []
        for q, a in zip(questions, answers, strict=True):
            p, ans = self.prompt_ids(q), self.answer_ids(a)
            rows.append(p + ans)
            labels.append([IGNORE] * len(p) + ans)
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        lab = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (r, l) in enumerate(zip(rows, labels)):
            ids[i, : len(r)] = torch.tensor(r)
            lab[i, : len(l)] = torch.tensor(l)
            mask[i, : len(r)] = 1
        return PromptBatch(ids, mask, lab)

    def prompt_batch(self, questions: Sequence[str], prefixes: Sequence[str] | None = None) -> PromptBatch:
        """Left-padded prompts for scoring and generation (the last position is each prompt's last token)."""
        prefixes = prefixes or [""] * len(questions)
        rows = [self.prompt_ids(q, p) for q, p in zip(questions, prefixes, strict=True)]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.tensor(r)
            mask[i, width - len(r):] = 1
        return PromptBatch(ids, mask)

    def label_candidates(self, labels: Sequence[str]) -> list[list[int]]:
        """Token ids of each label continuation (label + end tag)."""
        return [self.answer_ids(label) for label in labels]

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)
