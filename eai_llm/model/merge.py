"""Merging a model directory's LoRA adapter into its base LLM (``eai-llm merge``).

The merged directory holds the merged LLM (``llm/``) and everything else the interpreter and the hub read from
the source: ``cue_stats.json``, ``calibration.json``, ``training.json``, any other top-level file, and the card
(its metadata block marked as a merge).
"""

from __future__ import annotations

from pathlib import Path

from .weights import ModelLoadError

__all__ = ["merge_model_dir", "OWN_PARTS"]

#: What ``EaiLlmModel.save_pretrained`` writes itself; every other top-level entry of the source is carried over.
OWN_PARTS = frozenset({"config.json", "skeleton_tokenizer", "projector.safetensors", "adapter", "llm", "README.md",
                       "MODEL_CARD.md"})


def _merged_card(text: str) -> str:
    from .card import render_card, split_card

    meta, body = split_card(text)
    if meta.get("base_model"):
        meta["base_model_relation"] = "merge"
    note = ("> This is the merged form of the model below: the LoRA adapter is folded into the base LLM's weights "
            "(`llm/`); its outputs match the adapter model's.\n\n")
    return render_card(meta, note + body) if meta else note + body


def merge_model_dir(src: str | Path, out: str | Path, *, verbose: bool = False) -> Path:
    """Write ``out``: the model of ``src`` with its adapter merged, carrying every file the source has beside its
    weights. Refuses a model without an adapter and writing over the source."""
    from .card import read_card
    from .modeling import EaiLlmModel

    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise ModelLoadError(f"{out}: the merged model cannot replace its source; choose another folder")
    model = EaiLlmModel.from_pretrained(src, verbose=verbose)
    if not hasattr(model.llm, "peft_config"):
        raise ModelLoadError(f"{src}: has no LoRA adapter to merge")
    model.llm = model.llm.merge_and_unload()
    model.config.llm.name_or_path = "merged"
    carried = {p.name: p for p in sorted(src.iterdir()) if p.name not in OWN_PARTS and not p.name.startswith(".")}
    card = read_card(src)
    return model.save_pretrained(out, files=carried, card=_merged_card(card) if card is not None else None)
