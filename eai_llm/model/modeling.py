"""The EAI-LLM model by composition: skeleton tokenizer + MLP projector + (LoRA-tuned) causal LM.

Data path: windows -> :class:`SkeletonTokenizer` tokens (B, N, D) -> projector (B, N, H) -> spliced into the
LLM's ``inputs_embeds`` at the N placeholder positions the processor put in the prompt (a count mismatch
raises) -> label log-likelihoods over a closed label set (one pass) or generated text.

A model directory (hub-ready: see :mod:`eai_llm.model.folder`; loaded strictly: :mod:`eai_llm.model.weights`) holds::

    README.md               model card with the hub metadata block (:mod:`eai_llm.model.card`)
    config.json             EaiLlmConfig
    skeleton_tokenizer/     config.json + model.safetensors
    head_members/           optional: more stage-1 tokenizers whose heads join the model's (:mod:`.heads`)
    projector.safetensors
    adapter/                peft LoRA adapter (absent in a merged model)
    llm/                    the base LLM, only for tiny random and merged models (others load from their reference)
    *.json                  extras written by training (cue statistics, metadata)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import CausalLMOutputWithPast

from ..tokenizer.mgst import SkeletonTokenizer
from .adapter import load_adapter, plain_base, wrap_lora
from .config import EaiLlmConfig
from .heads import HEAD_MEMBERS_DIR, head_member_logprobs, load_head_members, pool_members, save_head_members
from .llm import SAVED_IN_MODEL_DIR, contiguous_head_input, load_llm, load_text_tokenizer
from .processor import IGNORE, EaiProcessor
from .weights import MissingModelFile, ModelLoadError, check_tensors, read_safetensors

__all__ = ["SkeletonInput", "Projector", "EaiLlmModel", "PlaceholderCountError"]


class PlaceholderCountError(ValueError):
    """The prompt does not hold exactly one skeleton slot of N placeholder tokens per sample."""


@dataclass
class SkeletonInput:
    """A batch of model-ready windows (see :func:`eai_llm.skeleton.unify.prepare_windows`)."""

    positions: torch.Tensor     # (B, T, 23, 3) float32
    frame_mask: torch.Tensor    # (B, T) bool
    joint_mask: torch.Tensor    # (B, 23) bool
    layout_ids: torch.Tensor    # (B,) long

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def to(self, device) -> "SkeletonInput":
        return SkeletonInput(*(t.to(device) for t in (self.positions, self.frame_mask, self.joint_mask, self.layout_ids)))

    def select(self, index) -> "SkeletonInput":
        return SkeletonInput(self.positions[index], self.frame_mask[index], self.joint_mask[index], self.layout_ids[index])

    @classmethod
    def from_numpy(cls, positions: np.ndarray, frame_mask: np.ndarray, joint_mask: np.ndarray,
                   layout_ids: Sequence[int] | np.ndarray) -> "SkeletonInput":
        jm = np.asarray(joint_mask, dtype=bool)
        if jm.ndim == 1:
            jm = np.broadcast_to(jm, (len(positions), jm.shape[0]))
        return cls(torch.as_tensor(np.asarray(positions, dtype=np.float32)),
                   torch.as_tensor(np.asarray(frame_mask, dtype=bool)),
                   torch.from_numpy(np.array(jm)),
                   torch.as_tensor(np.asarray(layout_ids, dtype=np.int64)))


class Projector(nn.Module):
    """MLP from skeleton-token width to the LLM hidden size (llava style)."""

    def __init__(self, d_in: int, d_out: int, hidden: int, layers: int):
        super().__init__()
        if layers < 1:
            raise ValueError(f"projector.layers must be >= 1, got {layers}")
        mods: list[nn.Module] = []
        d = d_in
        for _ in range(layers - 1):
            mods += [nn.Linear(d, hidden), nn.GELU()]
            d = hidden
        mods.append(nn.Linear(d, d_out))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EaiLlmModel(nn.Module):
    def __init__(self, config: EaiLlmConfig, skeleton_tokenizer: SkeletonTokenizer, llm, processor: EaiProcessor):
        super().__init__()
        self.config = config
        self.skeleton_tokenizer = skeleton_tokenizer
        # extra classification heads (a deep ensemble with the tokenizer's own; model/heads.py), empty = none
        self.head_members = nn.ModuleList()
        self.llm = llm
        contiguous_head_input(llm)
        self.processor = processor
        hidden = llm.get_input_embeddings().weight.shape[1]
        self.projector = Projector(config.tokenizer.dim, hidden, config.projector.hidden, config.projector.layers)

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def build(cls, config: EaiLlmConfig, *, skeleton_tokenizer: SkeletonTokenizer | None = None,
              seed: int = 0, verbose: bool = False) -> "EaiLlmModel":
        """A new model: base LLM + fresh LoRA adapter, a new (or given, e.g. stage-1) skeleton tokenizer
        (loading quiet unless ``verbose``)."""
        from .quiet import quiet_loading

        torch.manual_seed(seed)
        text_tok = load_text_tokenizer(config.llm, verbose=verbose)
        llm = load_llm(config.llm, vocab_size=len(text_tok), seed=seed, verbose=verbose)
        with quiet_loading(verbose):          # importing peft imports bitsandbytes, which may log a kernel warning
            llm = wrap_lora(llm, config)
        tok = skeleton_tokenizer if skeleton_tokenizer is not None else SkeletonTokenizer(config.tokenizer)
        return cls(config, tok, llm, EaiProcessor(text_tok, config))

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | torch.device = "cpu", dtype: str | None = None,
                        merge_adapter: bool = False, load_in_4bit: bool = False,
                        verbose: bool = False) -> "EaiLlmModel":
        """Load a model directory strictly: every adapter, projector and skeleton-tokenizer tensor present with
        the shape the config implies, safetensors only, or a one-line :class:`~eai_llm.model.weights.ModelLoadError`
        naming the directory, the file and what is wrong.

        For inference: ``dtype`` casts the LLM (``"auto"``: bfloat16 where the device runs it natively, see
        :func:`~eai_llm.model.llm.inference_dtype`; the skeleton tokenizer and projector stay float32) and
        ``merge_adapter`` folds the LoRA weights into the base (same outputs, no adapter overhead per call).
        ``load_in_4bit`` quantises the base LLM to 4 bit on loading (bitsandbytes NF4) even when it was trained
        in full precision (the adapter then stays separate).
        Loading is quiet (no third-party progress bars, warnings or log lines); ``verbose=True`` shows them.
        """
        from .quiet import quiet_loading

        path = Path(path)
        if not path.is_dir():
            raise MissingModelFile(f"{path}: not a model directory")
        with quiet_loading(verbose):
            return cls._load(path, device, dtype, merge_adapter, load_in_4bit, verbose)

    @classmethod
    def _load(cls, path: Path, device, dtype: str | None, merge_adapter: bool, load_in_4bit: bool,
              verbose: bool) -> "EaiLlmModel":
        config = EaiLlmConfig.load(path / "config.json")
        if load_in_4bit and not config.llm.load_in_4bit:
            config = replace(config, llm=replace(config.llm, load_in_4bit=True))
        text_tok = load_text_tokenizer(config.llm, path, verbose=verbose)
        llm_cfg = config.llm
        if dtype is not None:   # with load_in_4bit: the precision of the parts that stay unquantised
            from .llm import inference_dtype

            # load the weights in the wanted precision (no float32 copy in memory first)
            llm_cfg = replace(llm_cfg, dtype=str(inference_dtype(dtype, device)).removeprefix("torch."))
        base = load_llm(llm_cfg, model_dir=path, verbose=verbose)
        adapter = path / "adapter"
        llm = load_adapter(path, base) if adapter.is_dir() else base
        tok = SkeletonTokenizer.from_pretrained(path / "skeleton_tokenizer")
        if tok.config.to_dict() != config.tokenizer.to_dict():
            raise ModelLoadError(f"{path / 'skeleton_tokenizer'}: its config differs from {path / 'config.json'}")
        model = cls(config, tok, llm, EaiProcessor(text_tok, config))
        model.head_members.extend(load_head_members(path, tok))
        proj = path / "projector.safetensors"
        state = read_safetensors(path, proj)
        check_tensors(path, proj, state, model.projector.state_dict())
        model.projector.load_state_dict(state, strict=True)
        if merge_adapter and hasattr(model.llm, "peft_config") and not config.llm.load_in_4bit:
            model.llm = model.llm.merge_and_unload()
            contiguous_head_input(model.llm)
        return model.to(device).eval()

    def save_pretrained(self, path: str | Path, extras: dict[str, object] | None = None, *,
                        card: str | None = None, files: dict[str, Path] | None = None) -> Path:
        """Write the model directory atomically (a temp folder, fsynced, renamed into place), hub-ready: a
        ``README.md`` card with the hub metadata block (``card``, else one generated from the config and the
        ``training.json`` extra), the adapter's base model as a hub id, files 0644 and folders 0755.

        ``extras``: JSON files to write beside the weights (name -> value); ``files``: files to copy in as they are
        (name -> source path), e.g. a source model's ``calibration.json`` when merging."""
        from safetensors.torch import save_file

        from .card import CARD_NAME, generated_card, hub_base_model
        from .folder import hub_adapter_config, new_temp_dir, publish

        path = Path(path)
        tmp = new_temp_dir(path)
        try:
            self.config.save(tmp / "config.json")
            self.skeleton_tokenizer.save_pretrained(tmp / "skeleton_tokenizer")
            if len(self.head_members):
                save_head_members(self.head_members, tmp / HEAD_MEMBERS_DIR)
            save_file({k: v.detach().contiguous().cpu() for k, v in self.projector.state_dict().items()},
                      str(tmp / "projector.safetensors"))
            if hasattr(self.llm, "peft_config"):
                self.llm.save_pretrained(tmp / "adapter")
                (tmp / "adapter" / "README.md").unlink(missing_ok=True)   # peft's empty model-card template
                hub_adapter_config(tmp / "adapter", hub_base_model(self.config.llm.name_or_path))
            if self.config.llm.name_or_path in SAVED_IN_MODEL_DIR:
                plain_base(self.llm).save_pretrained(tmp / "llm")
                self.processor.tokenizer.save_pretrained(tmp / "llm")
            for name, src in (files or {}).items():
                (shutil.copytree if Path(src).is_dir() else shutil.copyfile)(src, tmp / name)
            for name, value in (extras or {}).items():
                (tmp / name).write_text(json.dumps(value, indent=2))
            if card is None:
                training = (extras or {}).get("training.json")
                card = generated_card(self.config, training=training if isinstance(training, dict) else None,
                                      datasets=(training or {}).get("datasets", []) if isinstance(training, dict)
                                      else [])
            (tmp / CARD_NAME).write_text(card)
            publish(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    # ---- the splice -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.projector.net[0].weight.device

    def skeleton_embeds(self, skel: SkeletonInput) -> torch.Tensor:
        """(B, N, H) projected skeleton tokens."""
        tokens = self.skeleton_tokenizer(skel.positions, skel.frame_mask, skel.joint_mask, skel.layout_ids)
        return self.projector(tokens.sequence())

    def embed_inputs(self, input_ids: torch.Tensor, skel: SkeletonInput) -> torch.Tensor:
        """The LLM's input embeddings with the placeholder positions replaced by skeleton tokens."""
        n = self.config.num_skeleton_tokens
        slots = input_ids == self.processor.placeholder_id
        counts = slots.sum(dim=1)
        if input_ids.shape[0] != len(skel) or bool((counts != n).any()):
            raise PlaceholderCountError(
                f"skeleton placeholder count mismatch: expected {n} per sample for {len(skel)} clips, "
                f"got {counts.tolist()} over {input_ids.shape[0]} prompts")
        embeds = self.llm.get_input_embeddings()(input_ids)
        skel_embeds = self.skeleton_embeds(skel).to(embeds.dtype)
        return embeds.masked_scatter(slots[..., None].expand_as(embeds), skel_embeds)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor,
                frame_mask: torch.Tensor, joint_mask: torch.Tensor, layout_ids: torch.Tensor,
                labels: torch.Tensor | None = None):
        """Causal-LM loss/logits with the skeleton spliced in (plain tensors, so DDP can wrap it).

        With ``labels`` the vocabulary head runs only where a next token is supervised (the answers: about a fifth
        of a training batch's positions); the loss is the same mean cross-entropy over those tokens as the
        LLM's own, and ``logits`` holds just those rows. The full-sequence head, its log-softmax and their
        backward took about a fifth of a training step (default recipe, 2-core CPU: 4.0 -> 3.1 s per step).
        """
        embeds = self.embed_inputs(input_ids, SkeletonInput(positions, frame_mask, joint_mask, layout_ids))
        if labels is None:
            return self.llm(inputs_embeds=embeds, attention_mask=attention_mask)
        hidden = self.llm.get_decoder()(inputs_embeds=embeds, attention_mask=attention_mask,
                                        use_cache=False).last_hidden_state
        target = labels[:, 1:]
        keep = target != IGNORE
        logits = self.llm.get_output_embeddings()(hidden[:, :-1][keep])
        return CausalLMOutputWithPast(loss=F.cross_entropy(logits.float(), target[keep]), logits=logits)

    # ---- classification by scoring the closed label set -------------------------------------
    @torch.no_grad()
    def label_logprobs(self, skel: SkeletonInput, question: str, labels: Sequence[str],
                       scoring: str = "auto") -> torch.Tensor:
        """(B, L) log-likelihood of each label continuation after the prompt.

        ``scoring="first"`` (or ``"auto"`` when every label starts with a distinct token) reads the first
        label token from the prompt's last position: one forward pass. ``"full"`` adds the remaining label
        tokens, run once for all labels on a shared-prefix KV cache of the prompt.
        """
        batch = self.processor.prompt_batch([question] * len(skel))
        ids, mask = batch.input_ids.to(self.device), batch.attention_mask.to(self.device)
        embeds = self.embed_inputs(ids, skel.to(self.device))
        pos = (mask.cumsum(-1) - 1).clamp_min(0)
        cands = self.processor.label_candidates(labels)
        firsts = [c[0] for c in cands]
        full = scoring == "full" or (scoring == "auto" and len(set(firsts)) < len(firsts))
        out = self.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, use_cache=full, logits_to_keep=1)
        score = F.log_softmax(out.logits[:, -1].float(), dim=-1)[:, firsts]
        width = max(map(len, cands)) - 1
        if not full or width == 0:
            return score
        b, n_lab = len(skel), len(cands)
        cache = out.past_key_values
        cache.batch_repeat_interleave(n_lab)
        feed = torch.full((n_lab, width), self.processor.pad_id, dtype=torch.long)
        target = torch.full((n_lab, width), -1, dtype=torch.long)
        for i, c in enumerate(cands):
            feed[i, : len(c) - 1] = torch.tensor(c[:-1])
            target[i, : len(c) - 1] = torch.tensor(c[1:])
        feed, target = feed.repeat(b, 1).to(self.device), target.repeat(b, 1).to(self.device)
        att = torch.cat([mask.repeat_interleave(n_lab, 0), torch.ones_like(feed)], dim=1)
        fpos = pos[:, -1:].repeat_interleave(n_lab, 0) + 1 + torch.arange(width, device=self.device)
        logits = self.llm(input_ids=feed, attention_mask=att, position_ids=fpos, past_key_values=cache).logits
        lp = F.log_softmax(logits.float(), dim=-1).gather(-1, target.clamp_min(0)[..., None])[..., 0]
        rest = (lp * (target >= 0)).sum(-1).view(b, n_lab)
        return score + rest

    @torch.no_grad()
    def head_logprobs(self, skel: SkeletonInput, labels: Sequence[str], task: str = "emotion") -> torch.Tensor | None:
        """(B, L) log-probabilities of the skeleton tokenizer's own classification head over ``labels`` of
        ``task`` (its classes are named as stage 1 names them: ``style2:normal`` for dataset-2's normal; None when
        it has no head or lacks one of the labels); with ``head_members``, of their mean probability."""
        members = self.head_member_logprobs(skel, labels, task)
        return None if members is None else pool_members(members)

    def head_member_logprobs(self, skel: SkeletonInput, labels: Sequence[str],
                             task: str = "emotion") -> torch.Tensor | None:
        """(M, B, L): each head's log-probabilities, the model's own tokenizer first, then ``head_members``."""
        from ..training.data import class_name

        return head_member_logprobs([self.skeleton_tokenizer, *self.head_members], skel.to(self.device),
                                    [class_name(task, l) for l in labels])

    def label_probabilities(self, skel: SkeletonInput, question: str, labels: Sequence[str],
                            scoring: str = "auto", fusion_weight: float | None = None,
                            task: str = "emotion") -> torch.Tensor:
        """(B, L) calibrated probabilities over the label set.

        The LLM's label log-likelihoods, normalised over the set, are pooled log-linearly with the skeleton
        tokenizer's classification head (weight ``fusion_weight``, default the config's; 0 = the LLM alone),
        then divided by the temperature and normalised.
        """
        w = self.config.fusion_weight if fusion_weight is None else fusion_weight
        lp = F.log_softmax(self.label_logprobs(skel, question, labels, scoring).float(), dim=-1)
        head = self.head_logprobs(skel, labels, task) if w > 0 else None
        if head is not None:
            lp = (1.0 - w) * lp + w * head
        return torch.softmax(lp / self.config.temperature, dim=-1)

    # ---- generation -------------------------------------------------------------------------
    @torch.no_grad()
    def generate_text(self, skel: SkeletonInput, question: str, *, prefix: str = "", max_new_tokens: int = 48,
                      do_sample: bool = False, temperature: float = 0.7, top_p: float = 0.9,
                      streamer=None, logits_processor=None) -> list[str]:
        """Generate one answer per window (greedy by default); returns only the new text.

        ``logits_processor``: a callable ``(input_ids, scores) -> scores`` applied at every step, e.g. the
        explanation grammar's :class:`~eai_llm.explain.constrained.GrammarLogitsProcessor`.
        """
        from transformers import LogitsProcessorList

        prefixes = [prefix] * len(skel)
        batch = self.processor.prompt_batch([question] * len(skel), prefixes)
        ids, mask = batch.input_ids.to(self.device), batch.attention_mask.to(self.device)
        embeds = self.embed_inputs(ids, skel.to(self.device))
        kwargs = dict(do_sample=do_sample, temperature=temperature, top_p=top_p) if do_sample else dict(do_sample=False)
        if logits_processor is not None:
            kwargs["logits_processor"] = LogitsProcessorList([logits_processor])
        out = self.llm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens,
                                eos_token_id=self.processor.stop_ids, pad_token_id=self.processor.pad_id,
                                streamer=streamer, **kwargs)
        return [self.processor.decode(row) for row in out]
