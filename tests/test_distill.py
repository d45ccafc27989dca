"""Self-distillation of the skeleton tokenizer (training/distill.py) and the uncertainty metrics it is judged by."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from eai_llm.evaluation.metrics import (bootstrap_interval, brier_score, ece_equal_mass, expected_calibration_error,
                                        negative_log_likelihood, uncertainty_metrics)
from eai_llm.training.data import cue_stats_of, load_sources
from eai_llm.training.distill import ensemble_window_probabilities, teacher_dir, teacher_recipe
from eai_llm.training.recipe import load_recipe
from eai_llm.training.train import recipe_key, stage1_sources, stage1_tokenizer, train_stage1

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


def test_nll_brier_and_equal_mass_ece_on_known_values():
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    y = [0, 1, 1, 0]
    assert negative_log_likelihood(probs, y) == pytest.approx(-np.mean(np.log([0.8, 0.4, 0.7, 0.9])))
    assert brier_score(probs, y) == pytest.approx(np.mean([0.08, 0.72, 0.18, 0.02]))
    # 2 equal-mass bins: confidences sorted 0.6 (wrong), 0.7 | 0.8, 0.9 (all right)
    assert ece_equal_mass(probs, y, bins=2) == pytest.approx(0.5 * abs(0.5 - 0.65) + 0.5 * abs(1 - 0.85))
    # perfectly calibrated draws: both ECEs small; always 99% sure at 75% accuracy: both near 0.24
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1, 5000)
    y = np.where(rng.uniform(size=5000) < conf, 0, 1)
    good = np.stack([conf, 1 - conf], 1)
    assert ece_equal_mass(good, y) < 0.03 and expected_calibration_error(good, y) < 0.03
    over = np.tile([0.99, 0.01], (5000, 1))
    assert ece_equal_mass(over, y) == pytest.approx(0.99 - (y == 0).mean(), abs=1e-9)


def test_bootstrap_interval_brackets_the_statistic_and_narrows_with_more_clips():
    rng = np.random.default_rng(1)

    def draw(n):
        conf = rng.uniform(0.4, 1, n)
        return np.stack([conf, 1 - conf], 1), np.where(rng.uniform(size=n) < 0.7, 0, 1)

    small, big = draw(60), draw(2000)
    lo, hi = bootstrap_interval(ece_equal_mass, *small, resamples=500)
    assert lo <= ece_equal_mass(*small) <= hi
    lo2, hi2 = bootstrap_interval(ece_equal_mass, *big, resamples=200)
    assert hi2 - lo2 < hi - lo
    m = uncertainty_metrics(*small)
    assert set(m) == {"nll", "brier", "ece_mass10", "ece_mass10_ci95", "ece_width15", "ece_width15_ci95"}


def test_mutual_information_is_zero_when_members_agree():
    from eai_llm.evaluation.disagreement import mutual_information

    same = np.tile([[[0.7, 0.2, 0.1]]], (4, 3, 1))
    assert np.allclose(mutual_information(same), 0)
    split = np.array([[[0.98, 0.01, 0.01]], [[0.01, 0.98, 0.01]]])
    uncertain_but_agreeing = np.array([[[0.5, 0.49, 0.01]], [[0.5, 0.49, 0.01]]])
    assert mutual_information(split)[0] > 0.5 > mutual_information(uncertain_but_agreeing)[0]


def test_recipe_checks_the_distillation_settings(tmp_path):
    with pytest.raises(ValueError, match="distill_members must be 0"):
        load_recipe(TINY, ["stage1.distill_members=1"])
    with pytest.raises(ValueError, match="distill_weight in"):
        load_recipe(TINY, ["stage1.distill_members=3", "stage1.distill_weight=1.5"])
    plain = load_recipe(TINY)
    student = load_recipe(TINY, ["stage1.distill_members=3"])
    # without distillation the checkpoint key is the one of recipes from before it existed
    assert "distill_members" not in recipe_key(plain, 1)["stage1"]
    assert recipe_key(student, 1)["stage1"]["distill_members"] == 3
    t1 = teacher_recipe(student, 1)
    assert t1.seed == plain.seed + 1 and t1.stage1.distill_members == 0
    assert recipe_key(teacher_recipe(student, 0), 1) == recipe_key(plain, 1)   # teacher 0 = the plain recipe


def test_student_learns_the_teachers_mean_and_stage1_trains_teachers_first(tmp_path):
    torch.set_num_threads(1)
    cache = f"cache_dir={tmp_path / 'cache'}"
    recipe = load_recipe(TINY, ["stage1.distill_members=2", "stage1.distill_weight=1.0", "stage1.epochs=4", cache])
    acc = Accelerator(cpu=True)
    sources = load_sources(recipe, progress=False)
    stats = cue_stats_of(sources)
    out = tmp_path / "run"
    out.mkdir()
    student, _ = stage1_tokenizer(recipe, out, acc, resume=False, sources=sources, stats=stats, progress=False)
    for i in range(2):
        assert (teacher_dir(out, i) / "checkpoints" / "stage1_tokenizer" / "model.safetensors").is_file()
        key = json.loads((teacher_dir(out, i) / "checkpoints" / "stage1_tokenizer" / "recipe.json").read_text())
        assert key["seed"] == i and "distill_members" not in key["stage1"]
    teachers = [stage1_tokenizer(teacher_recipe(recipe, i), teacher_dir(out, i), acc, resume=True,
                                 progress=False)[0] for i in range(2)]
    windows = stage1_sources(recipe, sources)
    q = ensemble_window_probabilities(teachers, windows)
    each = [ensemble_window_probabilities([t], windows) for t in teachers]
    assert np.allclose(q, np.mean(each, 0), atol=1e-6) and np.allclose(q.sum(1), 1, atol=1e-5)
    # the student (trained on q alone) is closer to the teachers' mean than a model trained on the hard labels
    hard = stage1_tokenizer(teacher_recipe(recipe, 5), tmp_path / "hard", acc, resume=False, sources=sources,
                            stats=stats, progress=False)[0]
    kl = lambda p: float((q * (np.log(q + 1e-9) - np.log(p + 1e-9))).sum(1).mean())
    assert kl(ensemble_window_probabilities([student], windows)) < kl(ensemble_window_probabilities([hard], windows))
    # soft targets of the wrong shape are refused
    with pytest.raises(ValueError, match="soft targets of shape"):
        train_stage1(recipe, sources, stats, acc, tmp_path / "bad", progress=False, soft_targets=q[:-1])


def test_fusion_script_pools_the_llm_with_a_head_per_clip(tmp_path, capsys):
    """scripts/fusion_with_heads.py: with weight 0 the fused reading is the LLM's, with the shipped head it checks
    agreement with the shipped folds."""
    import importlib.util

    from eai_llm.evaluation.metrics import EMOTION7
    from eai_llm.evaluation.results import FoldResult

    spec = importlib.util.spec_from_file_location("fusion", Path(__file__).resolve().parents[1] / "scripts" /
                                                  "fusion_with_heads.py")
    fusion = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fusion)
    rng = np.random.default_rng(0)
    for g in ("a", "b"):
        labels = [EMOTION7[i % 7] for i in range(7)]
        for system in ("llm-unfused", "llm", "tokenizer-linear"):
            p = rng.dirichlet(np.ones(7), size=7)
            FoldResult([f"{g}{i}" for i in range(7)], [g] * 7, labels, p.tolist(), 1.0, [None] * 7, [None] * 7,
                       [None] * 7, 0.0).save(tmp_path / "folds" / system / f"{g}.json")
        (tmp_path / "runs" / "full" / g / "model").mkdir(parents=True)
        (tmp_path / "runs" / "full" / g / "model" / "config.json").write_text(json.dumps({"fusion_weight": 0.0}))
    assert fusion.main(["--eval", str(tmp_path), "--heads", "tokenizer-linear"]) == 0
    out = capsys.readouterr().out
    rows = {l.split("|")[1].strip(): l.split("|")[2:] for l in out.splitlines() if l.startswith("| ") and "%" in l}
    assert rows["LLM fused per clip with tokenizer-linear"] == rows["LLM alone"]   # weight 0: the LLM alone
    assert "Check: per-clip pooling with tokenizer-linear" in out
    assert fusion.main(["--eval", str(tmp_path / "none")]) == 2
