"""The bundled model's calibration from a loco run: a temperature and a conformal threshold fitted on the pooled
held-out clip predictions (each from a fold model that never saw its content type), for a model trained on all
data with the evaluated recipe (`scripts/build_default_model.py --temperature-from`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import EMOTION7, classification_metrics
from .results import FoldResult, _calibrated, _fit_t

__all__ = ["heldout_temperature", "heldout_conformal"]


def heldout_conformal(out: str | Path, temperature: float, system: str = "llm", level: float = 0.9,
                      method: str = "lac"):
    """The bundled model's conformal calibration: the pooled held-out clip predictions of a loco run (each from a
    model that never saw its content type), calibrated with ``temperature`` as the bundled model will be."""
    from ..uncertainty import calibrate

    results = [FoldResult.load(f) for f in sorted((Path(out) / "folds" / system).glob("*.json"))]
    if not results:
        raise FileNotFoundError(f"{Path(out) / 'folds' / system}: no fold results of a loco run")
    probs = _calibrated(np.concatenate([np.asarray(r.probs) for r in results]), temperature)
    y = [EMOTION7.index(l) for r in results for l in r.labels]
    return calibrate(probs, y, level=level, method=method, source=f"{len(results)} loco folds, system {system}")


def heldout_temperature(out: str | Path, system: str = "llm") -> dict:
    """A temperature for a model trained on *all* data with the evaluated recipe: fitted on the pooled held-out
    clip predictions of a loco run (out-of-sample for every fold), with the ECE before and after."""
    files = sorted((Path(out) / "folds" / system).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"{Path(out) / 'folds' / system}: no fold results of a loco run")
    results = [FoldResult.load(f) for f in files]
    probs = np.concatenate([np.asarray(r.probs) for r in results])
    y = [EMOTION7.index(l) for r in results for l in r.labels]
    t = _fit_t(probs, y)
    return {"temperature": t, "system": system, "folds": [f.stem for f in files], "clips": len(y),
            "ece_raw": classification_metrics(probs, y, EMOTION7)["ece"],
            "ece_calibrated": classification_metrics(_calibrated(probs, t), y, EMOTION7)["ece"],
            "source": f"runs/{Path(out).name}"}   # a name, never a path to open
