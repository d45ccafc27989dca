"""Prediction sets with a coverage guarantee (issue 13 item 4) and abstention (item 6)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from eai_llm.uncertainty import ConformalCalibration, calibrate, prediction_sets


def _synthetic(n: int, k: int = 7, seed: int = 0, sharp: float = 2.0):
    """Labels drawn from the model's own probabilities: a calibrated classifier with known labels."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, sharp, size=(n, k))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in probs])
    return probs, y


@pytest.mark.parametrize("method", ["lac", "aps"])
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_coverage_holds_on_exchangeable_data(method, level):
    cal_p, cal_y = _synthetic(500, seed=1)
    test_p, test_y = _synthetic(4000, seed=2)
    cal = calibrate(cal_p, cal_y, level=level, method=method)
    sets = cal.sets(test_p)
    coverage = np.mean([y in s for y, s in zip(test_y, sets)])
    # at least the level, not much more (non-randomised APS, which always keeps the top label, over-covers a little)
    assert level - 0.03 <= coverage <= level + (0.06 if method == "lac" else 0.1), coverage
    assert all(s and len(set(s)) == len(s) for s in sets)
    assert all(s[0] == int(np.argmax(p)) for s, p in zip(sets, test_p))  # most probable first
    assert 1 <= np.mean([len(s) for s in sets]) < 7


def test_sharper_models_get_smaller_sets_and_lac_is_smallest():
    vague_p, vague_y = _synthetic(600, seed=3, sharp=0.5)
    sharp_p, sharp_y = _synthetic(600, seed=3, sharp=4.0)
    size = lambda p, y, m: np.mean([len(s) for s in calibrate(p[:300], y[:300], method=m).sets(p[300:])])
    assert size(sharp_p, sharp_y, "lac") < size(vague_p, vague_y, "lac")
    assert size(sharp_p, sharp_y, "lac") <= size(sharp_p, sharp_y, "aps")


def test_small_calibration_sets_and_bad_arguments():
    p, y = _synthetic(5, seed=4)
    assert calibrate(p, y, level=0.9).threshold == 1.0                  # too few clips for 90%: every label
    assert prediction_sets(np.array([0.6, 0.3, 0.1]), 0.75) == [[0, 1]]
    assert prediction_sets(np.array([0.6, 0.3, 0.1]), 0.5) == [[0]]
    assert prediction_sets(np.array([0.6, 0.3, 0.1]), 0.95, "aps") == [[0, 1]]
    assert prediction_sets(np.array([0.6, 0.3, 0.1]), 0.85, "aps") == [[0]]
    assert prediction_sets(np.array([0.6, 0.3, 0.1]), 0.0) == [[0]]      # never empty
    with pytest.raises(ValueError, match="method"):
        calibrate(p, y, method="raps")
    with pytest.raises(ValueError, match="level"):
        calibrate(p, y, level=1.0)
    with pytest.raises(ValueError, match="no calibration"):
        calibrate(p[:0], y[:0])


def test_calibration_round_trip_and_a_broken_file(tmp_path):
    p, y = _synthetic(200, seed=5)
    cal = calibrate(p, y, level=0.9, source="runs/eval")
    cal.save(tmp_path)
    assert ConformalCalibration.load(tmp_path) == cal
    assert ConformalCalibration.load(tmp_path / "nothing") is None
    (tmp_path / "conformal.json").write_text(json.dumps({"method": "lac"}))
    with pytest.raises(ValueError, match="conformal.json: not a conformal calibration"):
        ConformalCalibration.load(tmp_path)


def test_fold_coverage_is_calibrated_on_the_other_folds():
    from eai_llm.evaluation.metrics import EMOTION7
    from eai_llm.evaluation.results import FoldResult, conformal_summary

    results = []
    for g in range(6):
        p, y = _synthetic(40, seed=10 + g)
        results.append(FoldResult([f"c{i}" for i in range(40)], [f"g{g}"] * 40, [EMOTION7[i] for i in y],
                                  p.tolist(), 1.0, [None] * 40, [None] * 40, [None] * 40, 0.0))
    c = conformal_summary(results)
    assert c["level"] == 0.9 and set(c["per_group_coverage"] if "per_group_coverage" in c else c["lac"]
                                     ["per_group_coverage"]) == {f"g{g}" for g in range(6)}
    for m in ("lac", "aps"):
        assert 0.8 <= c[m]["coverage"] <= 1.0 and 1.0 <= c[m]["mean_set_size"] <= 7.0


def test_the_interpreter_gives_a_prediction_set_and_abstains(tiny_model, tmp_path):
    from eai_llm.data.synthetic import synthetic_clip
    from eai_llm.interpreter import EmotionInterpreter

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    assert EmotionInterpreter.from_pretrained(model).interpret(synthetic_clip("sad", seed=1),
                                                               explain=False).prediction_set is None
    ConformalCalibration("lac", 0.9, 0.8, 63, "test").save(model)
    interp = EmotionInterpreter.from_pretrained(model)
    res = interp.interpret(synthetic_clip("sad", seed=1), explain=False)
    assert res.prediction_level == 0.9 and res.prediction_set
    ranked = sorted(res.probabilities, key=lambda k: -res.probabilities[k])
    assert res.prediction_set == ([l for l in ranked if 1 - res.probabilities[l] <= 0.8 + 1e-12] or ranked[:1])
    top = max(res.probabilities.values())
    unsure = interp.interpret(synthetic_clip("sad", seed=1), abstain_below=min(1.0, top + 0.01))
    assert unsure.label == "uncertain" and unsure.abstained and unsure.explanation is None
    assert unsure.probabilities == pytest.approx(res.probabilities)
    sure = interp.interpret(synthetic_clip("sad", seed=1), explain=False, abstain_below=0.0)
    assert not sure.abstained and sure.label == res.label
    with pytest.raises(ValueError, match="abstain_below"):
        interp.interpret(synthetic_clip("sad", seed=1), abstain_below=1.5)
