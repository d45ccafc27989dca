"""`eai-llm evaluate --protocol holdout`: a trained model scored on a folder of clips it never saw, written as a
report like a loco run's (one "fold": the whole folder)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from .evaluate import TARGETS, _llm_dtype
from .metrics import EMOTION7, plot_confusion, plot_reliability
from .report import write_report
from .results import FoldResult, summarise

__all__ = ["evaluate_holdout"]


def evaluate_holdout(data: str | Path, model: str | Path | None, out: str | Path, *, explain: bool = True,
                     max_new_tokens: int = 40, dtype: str = "auto", log: Callable[[str], None] = print) -> dict:
    """Evaluate a trained model on a folder it never saw (Bandai-style names or one subfolder per label)."""
    from .. import explain as T
    from ..data.datasets import records_from_bandai, records_from_folders
    from ..interpreter import EmotionInterpreter

    data, out = Path(data), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        records = records_from_bandai(data, "emotion")
    except Exception:   # not a Bandai-style folder: one subfolder per label
        records = records_from_folders(data)
    records = [r for r in records if r.label in EMOTION7]
    if not records:
        raise ValueError(f"{data}: no clips with an emotion label in {list(EMOTION7)}")
    interp = EmotionInterpreter.from_pretrained(model, dtype=dtype)
    labels = interp.label_sets["emotion"]
    t0 = time.perf_counter()
    probs, expl, faith, cons = [], [], [], []
    for i, r in enumerate(records):
        res = interp.interpret(r.path, explain=explain, conditioned=False, max_new_tokens=max_new_tokens)
        probs.append([res.probabilities[l] for l in EMOTION7])
        expl.append(res.raw_explanation)
        faith.append(res.faithfulness)
        cons.append(T.label_consistency(res.raw_explanation, res.label, labels) if explain else None)
        log(f"{i + 1}/{len(records)} {Path(r.path).name}: {res.label}")
    # the model's own temperature is already applied to its probabilities
    fold = FoldResult([r.clip_id for r in records], [r.group or "" for r in records], [r.label for r in records],
                      probs, 1.0, expl, faith, cons, time.perf_counter() - t0, _llm_dtype(interp))
    fold.save(out / "folds" / "llm" / "holdout.json")
    summary = {"llm": summarise([fold])}
    plot_confusion(np.array(summary["llm"]["7class"]["confusion"]), EMOTION7, out / "confusion_llm.png", "holdout, 7 classes")
    plot_reliability(np.asarray(probs), [EMOTION7.index(l) for l in fold.labels], out / "reliability_llm.png", "holdout")
    metrics = {"protocol": "holdout", "data": str(data), "model": str(model or "bundled default"),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "systems": summary, "targets": TARGETS}
    write_report(out, metrics)
    return metrics
