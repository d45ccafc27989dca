"""Recipe variants that `eai-llm evaluate` trains per fold beside the full recipe (the ablations and the
joint-training table).

Each variant is a list of recipe overrides derived from the evaluated recipe itself, so the table always compares
the same recipe with parts taken out:

- ``-emotion-only``: the emotion sources alone (no style task; no pretrained tokenizer);
- ``-emotion-style``: + dataset-1's style task (stage 1 trains on both; no pretrained tokenizer);
- ``-emotion-style2``: + dataset-2's style task: stage 1 starts from the recipe's pretrained tokenizer (when it
  has one: dataset-2 enters through it, trained once for all folds) and trains on the emotion sources; stage 2
  also asks dataset-2's questions;
- ``-no-semantic`` / ``-no-spatio-temporal``: without one of the two token granularities;
- ``-student``: the same recipe with its tokenizer distilled from ``ensemble_size`` teachers (training/distill.py);
- ``-kd``: the same recipe with the LLM's label distilled from the head in stage 2 (``stage2.distill_weight=1``,
  training/distill.py): stage 1 and the head's members are the full recipe's, only stage 2 is trained again.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["variant_overrides", "VARIANTS"]

VARIANTS = ("", "-emotion-only", "-emotion-style", "-emotion-style2", "-no-semantic", "-no-spatio-temporal", "-student", "-kd")


def _recipe(config) -> dict:
    import yaml

    return yaml.safe_load(Path(config).read_text()) or {}


def _mixture(data: dict, tasks: set[str]) -> list[str]:
    sources = [s for s in data.get("sources", []) if s.get("task", "emotion") in tasks]
    init = (data.get("stage1") or {}).get("init_from")
    stage1 = [s["name"] for s in sources if s.get("task", "emotion") != "style2"]
    out = ["sources=" + json.dumps(sources)]
    if "style2" in tasks and init:   # dataset-2 through the pretrained tokenizer; stage 1 on the others
        out.append("stage1.sources=" + json.dumps(stage1))
    else:                            # no dataset-2: train the tokenizer from scratch on what is left
        out += ["stage1.init_from=null", "stage1.sources=null"]
    return out


def variant_overrides(config: str | Path | None, ensemble_size: int = 5) -> dict[str, list[str]]:
    """Variant suffix -> its recipe overrides (empty lists when there is no recipe)."""
    data = _recipe(config) if config else None
    mix = (lambda tasks: _mixture(data, tasks)) if data is not None else (lambda tasks: [])
    return {
        "": [],
        "-emotion-only": mix({"emotion"}),
        "-emotion-style": mix({"emotion", "style"}),
        "-emotion-style2": mix({"emotion", "style2"}),
        "-no-semantic": ["model.tokenizer.use_semantic=false"],
        "-no-spatio-temporal": ["model.tokenizer.use_spatio_temporal=false"],
        "-student": [f"stage1.distill_members={ensemble_size}"],
        "-kd": ["stage2.distill_weight=1.0"],
    }
