"""The classification head as a deep ensemble: the model's own skeleton tokenizer plus ``head_members/``.

A model directory may carry extra stage-1 tokenizers of the same recipe with other seeds
(``head_members/1 .. K-1``, each ``config.json`` + ``model.safetensors``, weights stored in float16: they only
classify). The head's reading is then the members' *mean probability* (the deep ensemble of
``docs/results.md``), and the members' disagreement (mutual information) is an out-of-distribution signal
(:mod:`eai_llm.ood`). The LLM still reads the tokens of the model's own tokenizer; the members only add their
head probabilities, one tokenizer pass each per window (no LLM pass).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["HEAD_MEMBERS_DIR", "load_head_members", "save_head_members", "head_member_logprobs", "pool_members"]

HEAD_MEMBERS_DIR = "head_members"


def load_head_members(model_dir: Path, primary) -> list:
    """The extra head members of ``model_dir`` (``[]`` without a ``head_members/`` folder), each checked to classify
    the same labels from the same layouts as ``primary``, or a one-line ``ModelLoadError`` naming the member."""
    from ..tokenizer.mgst import SkeletonTokenizer
    from .weights import ModelLoadError

    folder = Path(model_dir) / HEAD_MEMBERS_DIR
    if not folder.is_dir():
        return []
    names = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name))
    if not names:
        raise ModelLoadError(f"{folder}: holds no head members (expected folders 1, 2, ... each a skeleton tokenizer)")
    members = []
    for p in names:
        tok = SkeletonTokenizer.from_pretrained(p)
        for what in ("labels", "window", "layouts"):
            if getattr(tok.config, what, None) != getattr(primary.config, what, None):
                raise ModelLoadError(f"{p}: this head member's {what} differ from the model's skeleton tokenizer "
                                     "(members must come from the same recipe)")
        if tok.classifier is None:
            raise ModelLoadError(f"{p}: this head member has no classification head")
        members.append(tok)
    return members


def save_head_members(members: Sequence, folder: Path) -> None:
    """Write ``members`` as ``folder/1 .. K-1`` (float weights in float16)."""
    import json

    from safetensors.torch import save_file

    from ..tokenizer.mgst import CONFIG_NAME, WEIGHTS_NAME

    for i, tok in enumerate(members, start=1):
        d = Path(folder) / str(i)
        d.mkdir(parents=True, exist_ok=True)
        (d / CONFIG_NAME).write_text(json.dumps(tok.config.to_dict(), indent=2))
        state = {k: (v.half() if v.is_floating_point() else v).detach().contiguous().cpu()
                 for k, v in tok.state_dict().items()}
        save_file(state, str(d / WEIGHTS_NAME))


@torch.no_grad()
def head_member_logprobs(tokenizers: Sequence, skel, labels: Sequence[str]) -> torch.Tensor | None:
    """(M, B, L) log-probabilities of each tokenizer's classification head over ``labels`` (class names as stage 1
    names them); None when a tokenizer lacks a head or one of the labels. ``skel``: a ``SkeletonInput`` whose
    layout ids are the first tokenizer's (all members share its layouts)."""
    rows = []
    for tok in tokenizers:
        known = tok.config.labels
        if tok.classifier is None or any(l not in known for l in labels):
            return None
        dev = next(tok.parameters()).device
        s = skel.to(dev)
        logits = tok(s.positions, s.frame_mask, s.joint_mask, s.layout_ids, with_heads=True).logits
        rows.append(F.log_softmax(logits[:, [known.index(l) for l in labels]].float(), dim=-1))
    return torch.stack(rows)


def pool_members(member_logprobs: torch.Tensor) -> torch.Tensor:
    """(M, B, L) -> (B, L): the log of the members' mean probability (one member: itself)."""
    if len(member_logprobs) == 1:
        return member_logprobs[0]
    return torch.logsumexp(member_logprobs, dim=0) - torch.log(torch.tensor(float(len(member_logprobs))))
