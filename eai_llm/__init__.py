"""EAI-LLM: an explainable body-movement emotion interpreter.

Nothing heavy is imported here: torch/transformers load only when a model is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "SkeletonClip": "eai_llm.skeleton.clip",
    "Layout": "eai_llm.skeleton.layouts",
    "get_layout": "eai_llm.skeleton.layouts",
    "register_layout": "eai_llm.skeleton.layouts",
    "load_layout_file": "eai_llm.skeleton.layouts",
    "ClipError": "eai_llm.skeleton.errors",
    "load_clip": "eai_llm.skeleton.io",
    "save_clip": "eai_llm.skeleton.io",
    "kinematic_cues": "eai_llm.skeleton.cues",
    "EmotionInterpreter": "eai_llm.interpreter",
    "Interpretation": "eai_llm.interpreter",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eai_llm' has no attribute {name!r}")
