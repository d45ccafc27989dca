"""The fusion weight (evaluation/fusion.py) is chosen on other folds' held-out clips only, and `llm-ensemble` scores
the fold models with their fold ensemble as the head at that weight."""

import json
from pathlib import Path

import numpy as np
import pytest

from eai_llm.evaluation.fusion import WEIGHT_GRID, choose_fusion_weight, fold_fusion_weights, fuse
from eai_llm.evaluation.metrics import EMOTION7
from eai_llm.evaluation.results import FoldResult

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


def _fold(group: str, probs: np.ndarray, labels: list[str]) -> FoldResult:
    n = len(labels)
    return FoldResult([f"{group}{i}" for i in range(n)], [group] * n, labels, probs.tolist(), 1.0, [None] * n,
                      [None] * n, [None] * n, 0.0)


def _pair(group: str, seed: int, head_right: bool, n: int = 30):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 7, n)
    labels = [EMOTION7[i] for i in y]
    noise = rng.dirichlet(np.ones(7), n)
    sharp = 0.1 * noise + 0.9 * np.eye(7)[y]
    llm, head = (noise, sharp) if head_right else (sharp, noise)
    return _fold(group, llm, labels), _fold(group, head, labels)


def test_fuse_is_log_linear_and_normalised():
    a, b = np.array([[0.5, 0.3, 0.2]]), np.array([[0.1, 0.1, 0.8]])
    assert np.allclose(fuse(a, b, 0.0), a) and np.allclose(fuse(a, b, 1.0), b)
    mid = fuse(a, b, 0.5)
    assert np.allclose(mid.sum(1), 1) and np.allclose(mid, np.sqrt(a * b) / np.sqrt(a * b).sum())


def test_the_weight_follows_whichever_reading_is_right():
    llm, head = zip(*[_pair(g, i, head_right=True) for i, g in enumerate("abc")])
    assert choose_fusion_weight(list(llm), list(head)) >= 0.9
    llm, head = zip(*[_pair(g, i, head_right=False) for i, g in enumerate("abc")])
    assert choose_fusion_weight(list(llm), list(head)) <= 0.1
    assert choose_fusion_weight(list(llm), list(head)) in WEIGHT_GRID


def test_each_fold_is_weighted_by_the_other_folds_only():
    # folds a, b: the head is right; fold c: the LLM is right. c's weight comes from a and b (head), and a's and b's
    # from the other two, whatever c's own clips would ask for
    pairs = [_pair("a", 0, True), _pair("b", 1, True), _pair("c", 2, False, n=200)]
    llm, head = [p[0] for p in pairs], [p[1] for p in pairs]
    w = fold_fusion_weights(llm, head)
    assert w[2] >= 0.9 and w[2] == choose_fusion_weight(llm[:2], head[:2])
    assert w[0] == choose_fusion_weight(llm[1:], head[1:])
    with pytest.raises(ValueError, match="different clips"):
        choose_fusion_weight([llm[0]], [head[1]])


@pytest.mark.realdata
def test_loco_llm_ensemble_pools_the_fold_ensemble_at_the_other_folds_weight(real_data, tmp_path):
    from eai_llm.cli import main

    src = json.dumps([{"name": "emotion", "kind": "bandai", "task": "emotion", "path": str(real_data)}])
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(real_data), "--out", str(out), "--config", str(TINY), "--no-explain",
                 "--groups", "dash", "run", "--ensemble-size", "2", "--systems", "llm", "llm-ensemble",
                 "--override", f"sources={src}", "stage1.epochs=1", "stage2.max_steps=2",
                 f"cache_dir={tmp_path / 'cache'}"]) == 0
    load = lambda s, g: FoldResult.load(out / "folds" / s / f"{g}.json")
    for g, other in (("dash", "run"), ("run", "dash")):
        ens = load("llm-ensemble", g)
        assert ens.fusion_weight == choose_fusion_weight([load("llm-unfused", other)],
                                                         [load("tokenizer-linear-ensemble", other)])
        assert (out / "runs" / "full" / g / "teachers" / "1" / "checkpoints" / "stage1_tokenizer").is_dir()
        assert ens.clip_ids == load("llm", g).clip_ids and np.allclose(np.sum(ens.probs, 1), 1, atol=1e-4)
    systems = json.loads((out / "metrics.json").read_text())["systems"]
    assert set(systems) == {"llm", "llm-ensemble"} and systems["llm-ensemble"]["7class"]["n"] == 14


def test_split_runs_choose_each_weight_on_every_other_fold(tmp_path, monkeypatch):
    """With --groups (two processes), a fold's weight is chosen on the other groups' saved folds too, and a fold
    saved at a weight chosen on fewer folds is scored again once more folds exist."""
    from types import SimpleNamespace

    from eai_llm.evaluation import evaluate as E

    folds = {"a": _pair("a", 0, head_right=False), "b": _pair("b", 1, head_right=True),
             "c": _pair("c", 2, head_right=True)}
    records = [SimpleNamespace(group=g) for g in folds]
    scored = []

    def fake_llm(*args, fusion_weight=None, **kw):
        scored.append((args[3], fusion_weight))
        return FoldResult(**{**folds[args[3]][0].__dict__, "fusion_weight": fusion_weight})

    monkeypatch.setattr(E, "_llm", fake_llm)
    save = lambda g: [r.save(tmp_path / "folds" / s / f"{g}.json")
                      for s, r in zip(("llm-unfused", "tokenizer-linear-ensemble"), folds[g])]
    run = lambda: E._ensemble_folds(TINY, tmp_path, records, ["a"], tmp_path, (), False, 8, "float32", 2, lambda m: None)
    save("a")
    alone = run()[0].fusion_weight                  # only fold a exists: chosen on itself, where the LLM is right
    assert scored == [("a", alone)] and alone < 0.5
    assert run()[0].fusion_weight == alone and len(scored) == 1         # saved and still current: not redone
    save("b"), save("c")                             # the other process's folds arrive
    again = run()[0].fusion_weight
    assert again == fold_fusion_weights([folds[g][0] for g in "abc"], [folds[g][1] for g in "abc"])[0]
    assert again > 0.5 and scored[-1] == ("a", again) and len(scored) == 2
    assert FoldResult.load(tmp_path / "folds" / "llm-ensemble" / "a.json").fusion_weight == again
