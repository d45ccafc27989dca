"""The LoRA side of a model: wrapping the LLM in a fresh adapter, loading a saved one strictly, and the plain
base LLM without LoRA layers (what a tiny or merged model saves as its ``llm/``)."""

from __future__ import annotations

from pathlib import Path

from .config import EaiLlmConfig
from .weights import MissingModelFile, ModelLoadError, check_tensors, read_safetensors, refuse_pickled

__all__ = ["ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "wrap_lora", "load_adapter", "plain_base"]


def wrap_lora(llm, cfg: EaiLlmConfig):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.llm.load_in_4bit:
        llm = prepare_model_for_kbit_training(llm, use_gradient_checkpointing=False)
    names = {n.rsplit(".", 1)[-1] for n, _ in llm.named_modules()}
    targets = [t for t in cfg.lora.target_modules if t in names]
    if not targets:
        raise ValueError(f"lora.target_modules {cfg.lora.target_modules} match no module of the LLM")
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=targets, task_type="CAUSAL_LM")
    return get_peft_model(llm, lora)


ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def load_adapter(model_dir: Path, base):
    """The base LLM with the saved LoRA adapter, loaded strictly (every LoRA tensor the adapter config implies,
    with its shape; safetensors only)."""
    from peft import PeftModel
    from peft.utils import get_peft_model_state_dict

    folder = model_dir / "adapter"
    refuse_pickled(model_dir, folder)
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (folder / name).is_file():
            raise MissingModelFile(f"{model_dir}: adapter/{name}: missing")
    weights = folder / ADAPTER_WEIGHTS
    saved = read_safetensors(model_dir, weights)
    try:
        # a shape that does not fit is left out here and reported below (peft would raise a multi-line error)
        llm = PeftModel.from_pretrained(base, folder, ignore_mismatched_sizes=True)
    except Exception as err:   # peft / torch raise several types for a config or a shape that does not fit
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelLoadError(f"{model_dir}: adapter/: cannot be applied to the base LLM ({first[:300]})") from None
    check_tensors(model_dir, weights, saved, get_peft_model_state_dict(llm))
    return llm


def plain_base(llm):
    """The base LLM without LoRA layers (a copy when ``llm`` is a peft model; used for tiny/merged bases)."""
    if not hasattr(llm, "peft_config"):
        return llm
    from transformers import AutoModelForCausalLM

    base = llm.get_base_model()
    state = {k.replace(".base_layer", ""): v for k, v in base.state_dict().items() if ".lora_" not in k}
    plain = AutoModelForCausalLM.from_config(base.config)
    plain.load_state_dict(state, strict=True)
    return plain
