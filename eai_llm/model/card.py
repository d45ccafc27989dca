"""The model card (``README.md`` of a model directory) with the Hugging Face hub metadata block.

A card is YAML front matter (``license``, ``base_model``, ``datasets``, ``tags``, ``metrics``, ``library_name``...)
between ``---`` lines, then Markdown. :func:`render_card` writes one, :func:`split_card` reads one back;
:func:`generated_card` describes a model directory from its config and training record when no hand-written
card is given (the bundled default model has one: ``docs/MODEL_CARD.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["CARD_NAME", "LEGACY_CARD_NAME", "hub_base_model", "card_metadata", "render_card", "split_card",
           "generated_card", "read_card"]

CARD_NAME = "README.md"
LEGACY_CARD_NAME = "MODEL_CARD.md"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
BANDAI_DATASET = "BandaiNamcoResearchInc/Bandai-Namco-Research-Motiondataset"
TAGS = ["eai-llm", "emotion-recognition", "body-movement", "motion-capture", "skeleton", "explainable-ai", "lora"]


def hub_base_model(name_or_path: str | None) -> str | None:
    """The hub id of an LLM reference, never a machine path: SmolLM2's aliases -> its hub id, a hub-style
    ``owner/name`` as given; a local path, the tiny random test model or a merged base -> None."""
    from .llm import SAVED_IN_MODEL_DIR, SMOLLM2_ALIASES

    if not name_or_path or name_or_path in SAVED_IN_MODEL_DIR:
        return None
    if name_or_path.lower() in SMOLLM2_ALIASES:
        return SMOLLM2_HUB_ID
    parts = name_or_path.split("/")
    looks_like_id = (len(parts) == 2 and all(parts) and not name_or_path.startswith((".", "~"))
                     and "\\" not in name_or_path and ":" not in name_or_path)
    return name_or_path if looks_like_id and not Path(name_or_path).exists() else None


def card_metadata(*, base_model: str | None, license: str, datasets: Sequence[str] = (),
                  metrics: Sequence[str] = ("accuracy",), merged: bool = False, tags: Sequence[str] = ()) -> dict:
    """The hub metadata block (keys the hub's ``ModelCardData`` knows)."""
    meta: dict = {"license": license, "library_name": "eai-llm"}
    if base_model:
        meta["base_model"] = base_model
        meta["base_model_relation"] = "merge" if merged else "adapter"
    if datasets:
        meta["datasets"] = list(datasets)
    meta["tags"] = list(dict.fromkeys([*TAGS, *tags]))
    if metrics:
        meta["metrics"] = list(metrics)
    return meta


def render_card(metadata: Mapping, body: str) -> str:
    import yaml

    head = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True).strip()
    return f"---\n{head}\n---\n\n{body.lstrip()}"


def split_card(text: str) -> tuple[dict, str]:
    """(metadata, Markdown body) of a card; a card without front matter has empty metadata."""
    import yaml

    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end > 0:
            meta = yaml.safe_load(text[4:end]) or {}
            if isinstance(meta, dict):
                return meta, text[end + 5:].lstrip("\n")
    return {}, text


def read_card(model_dir: Path) -> str | None:
    """The card of a model directory (``README.md``, or the older ``MODEL_CARD.md``), None if it has none."""
    for name in (CARD_NAME, LEGACY_CARD_NAME):
        f = Path(model_dir) / name
        if f.is_file():
            return f.read_text()
    return None


def _licence_of(datasets: Sequence[str]) -> str:
    # the Bandai Namco Research Motiondataset is CC BY-NC 4.0: weights trained on it inherit the restriction
    return "cc-by-nc-4.0" if BANDAI_DATASET in datasets else "apache-2.0"


def generated_card(config, *, training: Mapping | None = None, datasets: Sequence[str] = (),
                   merged: bool = False) -> str:
    """A card for a model directory without a hand-written one: what it is, its labels, its training record."""
    merged = merged or config.llm.name_or_path == "merged"
    base = hub_base_model(config.llm.name_or_path)
    meta = card_metadata(base_model=base, license=_licence_of(datasets), datasets=datasets, merged=merged)
    lines = ["# EAI-LLM model", "",
             "An explainable body-movement emotion interpreter: a 3D skeleton clip in, an emotion label with calibrated "
             "probabilities and an explanation grounded in measured kinematic cues out. Load it with "
             "`eai_llm.EmotionInterpreter.from_pretrained(<this folder>)` or `eai-llm interpret CLIP --model <this "
             "folder>`.", "",
             "## Parts", "",
             f"- LLM: `{base or config.llm.name_or_path}`" + (" with the LoRA adapter merged into its weights (`llm/`)"
                                                              if merged else " with a LoRA adapter (`adapter/`)"),
             f"- skeleton tokenizer (`skeleton_tokenizer/`): window {config.tokenizer.window} frames at "
             f"{config.data.fps:g} fps, {config.tokenizer.num_tokens} tokens per window",
             "- MLP projector (`projector.safetensors`)", "",
             "## Label sets", ""]
    lines += [f"- `{task}`: {', '.join(labels)}" for task, labels in config.label_sets.items()]
    if training:
        lines += ["", "## Training", ""]
        for name, d in (training.get("data") or {}).items():
            lines.append(f"- data `{name}` ({d.get('task')}): {d.get('windows')} windows of {d.get('clips')} clips")
        s2 = training.get("stage2") or {}
        if s2.get("steps"):
            lines.append(f"- stage 2: {s2['steps']} steps, loss {s2.get('first_loss') or 0:.3f} -> "
                         f"{s2.get('final_loss') or 0:.3f}")
        lines.append("- the full record is `training.json`; no held-out evaluation is part of this card "
                     "(run `eai-llm evaluate`)")
    if meta["license"] == "cc-by-nc-4.0":
        lines += ["", "## Licence", "", "CC BY-NC 4.0 (non-commercial): trained on the Bandai Namco Research "
                  "Motiondataset (CC BY-NC 4.0; © 2022 Bandai Namco Research Inc.)."]
    return render_card(meta, "\n".join(lines) + "\n")
