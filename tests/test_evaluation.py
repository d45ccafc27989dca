"""Evaluation metrics and the loco/holdout drivers."""

import json

import numpy as np
import pytest

from eai_llm.evaluation.metrics import (classification_metrics, confusion, expected_calibration_error,
                                        fit_temperature, macro_f1, plot_confusion, plot_reliability,
                                        wilson_interval)


def test_wilson_interval_brackets_the_proportion():
    lo, hi = wilson_interval(45, 50)
    assert lo < 0.9 < hi and 0.78 < lo < 0.8 and 0.95 < hi < 0.97
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def test_confusion_f1_and_recall():
    cm = confusion([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert macro_f1(cm) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    m = classification_metrics(np.eye(3)[[0, 1, 1, 1, 0]], [0, 0, 1, 1, 2], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.6) and m["recall"] == {"a": 0.5, "b": 1.0, "c": 0.0}


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    rng = np.random.default_rng(0)
    n = 4000
    conf = rng.uniform(0.5, 1.0, n)
    correct = rng.uniform(size=n) < conf
    probs = np.stack([conf, 1 - conf], 1)
    y = np.where(correct, 0, 1)
    assert expected_calibration_error(probs, y) < 0.03
    over = np.stack([np.full(n, 0.99), np.full(n, 0.01)], 1)
    assert expected_calibration_error(over, y) > 0.2


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(size=(3000, 5)) * 2
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = np.array([rng.choice(5, p=row) for row in p])
    assert fit_temperature(true_logits * 3, y) == pytest.approx(3.0, rel=0.1)


def test_figures_are_written(tmp_path):
    plot_confusion(np.array([[3, 1], [0, 4]]), ["a", "b"], tmp_path / "c.png", "t")
    plot_reliability(np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]), [0, 1, 1], tmp_path / "r.png", "t")
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "r.png").stat().st_size > 1000


@pytest.mark.realdata
def test_loco_cues_baseline_on_real_data(real_data, tmp_path):
    from eai_llm.cli import main

    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(real_data), "--out", str(out), "--systems", "cues-logreg"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["systems"]["cues-logreg"]
    assert m["7class"]["n"] == 63 and len(m["per_group_accuracy"]) == 8
    assert m["7class"]["accuracy"] > 0.4            # well above chance (1/7)
    assert (out / "report.md").read_text().count("cues-logreg") >= 3
    assert (out / "confusion_cues-logreg.png").is_file()
    # a second run resumes from the saved folds
    assert (out / "folds" / "cues-logreg" / "walk.json").is_file()


@pytest.mark.realdata
def test_loco_llm_one_fold_tiny(real_data, tmp_path):
    from pathlib import Path

    from eai_llm.cli import main

    tiny = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    src = json.dumps([{"name": "emotion", "kind": "bandai", "task": "emotion", "path": str(real_data)}])
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(real_data), "--out", str(out), "--config", str(tiny), "--systems", "llm",
                 "--groups", "dash", "--max-new-tokens", "28",
                 "--override", f"sources={src}", "stage1.epochs=1", "stage2.max_steps=2",
                 f"cache_dir={tmp_path / 'cache'}"]) == 0
    m = json.loads((out / "metrics.json").read_text())["systems"]["llm"]
    assert m["7class"]["n"] == 7 and m["explanations"] <= 7
    assert m["label_consistency"] is None or 0 <= m["label_consistency"] <= 1
    # every free explanation, even of a random LLM, is decoded inside the grammar: all well formed and plausible
    c = m["explanation_checks"]
    assert c["explained"] == 7 and c["well_formed"] == 1.0 and c["plausible"] in (None, 1.0)
    assert c["applicable"] == 1.0 and c["gait_cues_without_locomotion"] == 0
    assert c["comprehensiveness_clips"] <= 7
    assert "Explanations (free generation" in (out / "report.md").read_text()
    # the tokenizer-linear system of the same fold reads the llm's stage-1 tokenizer instead of training another
    run = out / "runs" / "full" / "dash"
    stage1_rows = lambda: sum(json.loads(l)["stage"] == 1 for l in (run / "log.jsonl").read_text().splitlines())
    before = stage1_rows()
    assert before > 0 and (run / "checkpoints" / "stage1_tokenizer" / "model.safetensors").is_file()
    assert main(["evaluate", "--data", str(real_data), "--out", str(out), "--config", str(tiny), "--systems", "llm",
                 "tokenizer-linear", "--groups", "dash", "--override", f"sources={src}", "stage1.epochs=1",
                 "stage2.max_steps=2", f"cache_dir={tmp_path / 'cache'}"]) == 0
    assert stage1_rows() == before
    systems = json.loads((out / "metrics.json").read_text())["systems"]
    assert systems["tokenizer-linear"]["7class"]["n"] == 7 and systems["llm"] == m   # llm fold resumed, not rerun
    # the spatio-temporal ablation starts from the full system's stage-1 tokenizer (stage 1 does not use them);
    # -unfused scores its labels with the LLM alone
    assert main(["evaluate", "--data", str(real_data), "--out", str(out), "--config", str(tiny), "--systems",
                 "llm-no-spatio-temporal-unfused", "--groups", "dash", "--no-explain", "--override", f"sources={src}",
                 "stage1.epochs=1", "stage2.max_steps=2", f"cache_dir={tmp_path / 'cache'}"]) == 0
    ablation = out / "runs" / "no-spatio-temporal" / "dash"
    assert all(json.loads(l)["stage"] == 2 for l in (ablation / "log.jsonl").read_text().splitlines())
    config = json.loads((ablation / "model" / "config.json").read_text())
    assert config["tokenizer"]["use_spatio_temporal"] is False and config["fusion_weight"] > 0
    systems = json.loads((out / "metrics.json").read_text())["systems"]
    assert systems["llm-no-spatio-temporal-unfused"]["7class"]["n"] == 7


@pytest.mark.realdata
def test_evaluate_rejects_an_unknown_system(real_data, tmp_path, capsys):
    from eai_llm.cli import main

    assert main(["evaluate", "--data", str(real_data), "--out", str(tmp_path / "e"), "--systems", "llm-bigger"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "llm-bigger" in err[0] and "llm-no-spatio-temporal" in err[0]


def test_benchmark_table_on_a_tiny_model(tiny_model, tmp_path):
    from pathlib import Path

    from eai_llm.cli import main

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "bench.md"
    assert main(["benchmark", "--model", str(tiny_model), "--clips", str(root / "demo" / "examples"),
                 "--limit", "2", "--repeat", "1", "--out", str(out)]) == 0
    table = out.read_text()
    for row in ("BVH loading", "skeleton tokenizer", "label scoring, batch 1", "explanation, new tokens/s",
                "explanation, constrained decoding, tokens/s", "explanation of one clip, constrained decoder",
                "training stage 2 step",
                "achieved FLOP/s", "peak memory"):
        assert row in table
    assert "x |" in table      # at least one ratio against a same-run reference
    pytest.importorskip("bitsandbytes", reason="the 4-bit rows need bitsandbytes (the quant extra)")
    rows = {l.split(" | ")[0].lstrip("| "): l for l in table.splitlines()}
    memory = rows["LLM weights, 4 bit (NF4)"]
    ratio = float(memory.split(" | ")[3].rstrip("x"))
    assert "(bfloat16)" in memory and 0 < ratio < 1      # 4-bit weights take less memory than bfloat16
    assert "(bfloat16)" in rows["label scoring, batch 1, LLM in 4 bit (p50)"]
    assert "clips/s" in rows["classification, whole clips, LLM in 4 bit"]


def test_heldout_temperature_softens_overconfident_predictions(tmp_path):
    import numpy as np

    from eai_llm.evaluation.calibration import heldout_temperature
    from eai_llm.evaluation.evaluate import EMOTION7, FoldResult

    rng = np.random.default_rng(0)
    for g in ("walk", "run"):
        labels = list(rng.choice(EMOTION7, size=30))
        probs = []
        for lab in labels:   # 60% right, always 97% sure
            k = EMOTION7.index(lab) if rng.random() < 0.6 else int(rng.integers(7))
            p = np.full(7, 0.005)
            p[k] = 0.97
            probs.append(p.tolist())
        FoldResult(["c"] * 30, [g] * 30, labels, probs, 1.0, [None] * 30, [None] * 30, [None] * 30, 0.0).save(
            tmp_path / "folds" / "llm" / f"{g}.json")
    cal = heldout_temperature(tmp_path)
    assert cal["clips"] == 60 and cal["folds"] == ["run", "walk"]
    assert cal["temperature"] > 1.5 and cal["ece_calibrated"] < cal["ece_raw"]
    with pytest.raises(FileNotFoundError, match="no fold results"):
        heldout_temperature(tmp_path / "empty")
    from eai_llm.evaluation.calibration import heldout_conformal

    conf = heldout_conformal(tmp_path, cal["temperature"])
    assert conf.clips == 60 and conf.level == 0.9 and 0 < conf.threshold <= 1
    # 60% right at 97% confidence: a 90% set needs more than the top label on many clips
    sets = conf.sets(np.array([[0.97] + [0.005] * 6]))
    assert len(sets[0]) >= 1


def _small_dataset2(tmp_path):
    """Three real dataset-2 clips (one of them a walk) with the release's cfg files, for fast fold runs."""
    import shutil
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "shared" / "data" / "bandai_namco_motion_2"
    if not (src / "data").is_dir():
        pytest.skip(f"../shared/data not present: no dataset-2 under {src}")
    root = tmp_path / "d2"
    (root / "data").mkdir(parents=True)
    shutil.copytree(src / "cfg", root / "cfg")
    for stem in ("dataset-2_walk_elderly_001", "dataset-2_run_youthful_001", "dataset-2_wave-left-hand_normal_001"):
        for ext in (".bvh", ".json"):
            shutil.copy(src / "data" / (stem + ext), root / "data" / (stem + ext))
    return root


@pytest.mark.realdata
def test_loco_reexpressed_rigs_and_dataset2_in_every_fold(real_data, tmp_path):
    """--reexpress scores the same fold models on the held-out clips in smaller rigs; dataset-2 stays in training
    when a fold holds out a dataset-1 content type of the same name (walk)."""
    from pathlib import Path

    from eai_llm.cli import main

    tiny = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    d2 = _small_dataset2(tmp_path)
    src = json.dumps([{"name": "emotion", "kind": "bandai", "task": "emotion", "path": str(real_data)},
                      {"name": "style2", "kind": "bandai2", "task": "style2", "path": str(d2), "weight": 0.3}])
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(real_data), "--out", str(out), "--config", str(tiny), "--no-explain",
            "--groups", "walk", "--override", f"sources={src}", "stage1.epochs=1", "stage2.max_steps=2",
            f"cache_dir={tmp_path / 'cache'}"]
    assert main([*args, "--systems", "tokenizer-linear", "llm", "--reexpress", "h36m_17,kinect_v2",
                 "emotion_gait_16"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    systems = metrics["systems"]
    assert metrics["reexpress"] == ["h36m_17", "kinect_v2", "emotion_gait_16"]
    for base in ("tokenizer-linear", "llm"):
        n = systems[base]["7class"]["n"]
        for layout in metrics["reexpress"]:
            assert systems[f"{base}@{layout}"]["7class"]["n"] == n > 0
            assert (out / "folds" / f"{base}@{layout}" / "walk.json").is_file()
    # the same fold model: the llm of the fold was trained once (one model folder, one stage-2 run)
    run = out / "runs" / "full" / "walk"
    assert sum(json.loads(l)["stage"] == 2 and json.loads(l)["step"] == 2
               for l in (run / "log.jsonl").read_text().splitlines()) == 1
    training = json.loads((run / "model" / "training.json").read_text())
    assert training["data"]["style2"]["clips"] == 3 and training["exclude_groups"] == ["walk"]
    assert training["data"]["emotion"]["clips"] < 63                      # dataset-1's walks are held out
    labels = json.loads((run / "model" / "config.json").read_text())["label_sets"]
    assert labels["style2"] == ["elderly", "normal", "youthful"]     # the styles present, in STYLE2_LABELS order
    from eai_llm.interpreter import EmotionInterpreter

    interp = EmotionInterpreter.from_pretrained(run / "model")
    res = interp.interpret(d2 / "data" / "dataset-2_walk_elderly_001.bvh", task="style2", max_new_tokens=4)
    assert res.task == "style2" and set(res.probabilities) == set(labels["style2"])
    assert res.raw_explanation.startswith("Style:")
    assert not any(c.startswith("style2:") for c in interp.model.skeleton_tokenizer.config.labels[:7])
    assert {f"style2:{l}" for l in labels["style2"]} <= set(interp.model.skeleton_tokenizer.config.labels)
    report = (out / "report.md").read_text()
    assert "Full rig vs each layout" in report and "| llm |" in report
    row = next(l for l in report.splitlines() if l.startswith("| tokenizer-linear |") and "(" in l)
    assert row.count("%") == 4
    assert main([*args, "--systems", "llm", "--reexpress", "smpl_99"]) == 2    # unknown layout: a one-line error


@pytest.mark.realdata
def test_loco_uncertainty_systems_share_one_ensemble(real_data, tmp_path):
    """-mcdropout and -ensemble score the full recipe's fold tokenizers; -student learns from that very ensemble
    (its teachers linked, not retrained); the report compares them with NLL, Brier and both ECEs."""
    from pathlib import Path

    from eai_llm.cli import main
    from eai_llm.evaluation.results import FoldResult

    tiny = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    src = json.dumps([{"name": "emotion", "kind": "bandai", "task": "emotion", "path": str(real_data)}])
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(real_data), "--out", str(out), "--config", str(tiny), "--no-explain",
            "--groups", "dash", "--ensemble-size", "2", "--override", f"sources={src}", "stage1.epochs=1",
            "model.tokenizer.dropout=0.2", f"cache_dir={tmp_path / 'cache'}"]
    assert main([*args, "--systems", "tokenizer-linear", "tokenizer-linear-mcdropout", "tokenizer-linear-ensemble"]) == 0
    full = out / "runs" / "full" / "dash"
    assert (full / "teachers" / "1" / "checkpoints" / "stage1_tokenizer" / "model.safetensors").is_file()
    assert not (full / "teachers" / "0").exists()           # member 0 is the recipe's own tokenizer
    single = FoldResult.load(out / "folds" / "tokenizer-linear" / "dash.json")
    ens = FoldResult.load(out / "folds" / "tokenizer-linear-ensemble" / "dash.json")
    mc = FoldResult.load(out / "folds" / "tokenizer-linear-mcdropout" / "dash.json")
    assert np.allclose(ens.member_probs[0], single.probs)   # the same weights, read the same way
    assert not np.allclose(ens.member_probs[1], single.probs) and not np.allclose(mc.probs, single.probs)
    assert np.allclose(np.mean(ens.member_probs, 0), ens.probs)
    teacher_log = full / "teachers" / "1" / "log.jsonl"
    before = teacher_log.read_text()
    assert main([*args, "--systems", "tokenizer-linear-student", "tokenizer-linear-ensemble"]) == 0
    student = out / "runs" / "student" / "dash"
    assert (student / "teachers" / "0").resolve() == full.resolve() and (student / "teachers" / "1").is_symlink()
    assert teacher_log.read_text() == before                # the teachers were read back, not trained again
    recipe = json.loads((student / "checkpoints" / "stage1_tokenizer" / "recipe.json").read_text())
    assert recipe["stage1"]["distill_members"] == 2 and recipe["stage1"]["distill_weight"] == 0.5
    systems = json.loads((out / "metrics.json").read_text())["systems"]
    m = systems["tokenizer-linear-student"]["7class"]
    assert m["n"] == 7 and m["nll"] > 0 and 0 <= m["brier"] <= 2 and m["ece_mass10_ci95"][0] <= m["ece_mass10_ci95"][1]
    assert systems["tokenizer-linear-ensemble"]["members"]["members"] == 2
    report = (out / "report.md").read_text()
    assert "ECE 10 equal-mass bins" in report and "one member (2 seeds" in report
    assert main([*args, "--systems", "tokenizer-linear-ensemble", "--ensemble-size", "1"]) == 2
    # -kd trains stage 2 again with the LLM's label distilled from the head; stage 1 and the members are the full
    # recipe's (copied and linked, not trained again), and its ensemble system pools them as llm-ensemble does
    assert main([*args, "stage1.head_members=2", "stage2.max_steps=2",
                 "--systems", "llm-kd-unfused", "llm-kd-ensemble", "--reexpress", "h36m_17"]) == 0
    kd = out / "runs" / "kd" / "dash"
    assert (kd / "teachers" / "1").resolve() == (full / "teachers" / "1").resolve()
    assert teacher_log.read_text() == before
    stage1 = Path("checkpoints") / "stage1_tokenizer" / "model.safetensors"
    assert (kd / stage1).read_bytes() == (full / stage1).read_bytes()
    assert (kd / "model" / "head_members" / "1").is_dir()
    kd_un = FoldResult.load(out / "folds" / "llm-kd-unfused" / "dash.json")
    kd_ens = FoldResult.load(out / "folds" / "llm-kd-ensemble" / "dash.json")
    assert kd_un.clip_ids == kd_ens.clip_ids and kd_ens.fusion_weight is not None
    rig = FoldResult.load(out / "folds" / "llm-kd-ensemble@h36m_17" / "dash.json")    # the same weight, fewer joints
    assert rig.clip_ids == kd_ens.clip_ids and rig.fusion_weight == kd_ens.fusion_weight
    assert not np.allclose(rig.probs, kd_ens.probs)
    assert {"llm-kd-unfused", "llm-kd-ensemble"} <= set(json.loads((out / "metrics.json").read_text())["systems"])
    # the fold ensembles' disagreement scored as an out-of-distribution signal
    from eai_llm.evaluation.disagreement import evaluate_disagreement

    d = evaluate_disagreement(real_data, out / "runs" / "full", tmp_path / "dis", members=2, groups=["dash"],
                              fps=10.0, synthetic_per_class=1, progress=False)
    assert d["real_clips"] == 7 and 0 <= d["auroc"]["mutual_information"] <= 1
    assert "procedural" in d["per_kind"] and "| all out |" in (tmp_path / "dis" / "disagreement.md").read_text()
    # the shipped check adds the disagreement to the cue checks: never a lower score, and the frozen clip is flagged
    rows = json.loads((tmp_path / "dis" / "disagreement.json").read_text())["rows"]
    assert all(r["shipped_check"] >= r["cue_checks"] - 1e-9 for r in rows)
    assert d["flagged"]["frozen clip"] == 1.0 and 0 <= d["flagged"]["real"] <= 1
    with pytest.raises(FileNotFoundError, match="ensemble member not trained"):
        evaluate_disagreement(real_data, out / "runs" / "full", tmp_path / "dis", members=3, groups=["dash"])
