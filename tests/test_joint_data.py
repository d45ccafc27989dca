"""Dataset-2 as a source kind of its own, the joint mixture's sampling weights and the recipe's source checks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from eai_llm import explain as T
from eai_llm.data.datasets import (EMOTION_LABELS, STYLE2_LABELS, records_from_bandai, records_from_bandai2)
from eai_llm.skeleton.errors import ClipFormatError
from eai_llm.training.data import WindowArrays, class_name, label_vocabulary
from eai_llm.training.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA2 = ROOT.parent / "shared" / "data" / "bandai_namco_motion_2"


@pytest.fixture(scope="module")
def real_data2() -> Path:
    if not sorted((REAL_DATA2 / "data").glob("*.bvh")):
        pytest.skip(f"../shared/data not present: no BVH files under {REAL_DATA2 / 'data'}")
    return REAL_DATA2


# ---- the reader on the real files -------------------------------------------------------------
@pytest.mark.realdata
def test_real_dataset2_records(real_data2):
    recs = records_from_bandai2(real_data2)
    assert recs == records_from_bandai2(real_data2 / "data")
    assert len(recs) == 840
    assert {r.task for r in recs} == {"style2"}
    assert sorted({r.label for r in recs}) == sorted(STYLE2_LABELS)
    assert all(sum(r.label == s for r in recs) == 120 for s in STYLE2_LABELS)
    # styles, not emotions: no emotion label other than the shared word "normal" (a style here) appears
    assert not {r.label for r in recs} & (set(EMOTION_LABELS) - {"normal"})
    # groups never collide with dataset-1 content types (a loco fold excludes "walk", not dataset-2's walks)
    groups = {r.group for r in recs}
    assert len(groups) == 10 and all(g.startswith("dataset-2_") for g in groups)
    d1_groups = {r.group for r in records_from_bandai(ROOT.parent / "shared" / "data" / "bandai_namco_motion_1")}
    assert not groups & d1_groups
    # every record's JSON agrees with its name (cross-checked while reading); clip ids are the file stems
    assert len({r.clip_id for r in recs}) == 840 and all(r.clip_id.startswith("dataset-2_") for r in recs)


@pytest.mark.realdata
def test_dataset1_reader_refuses_dataset2(real_data2):
    with pytest.raises(ClipFormatError, match="expected dataset-1_"):
        records_from_bandai(real_data2)
    with pytest.raises(ValueError, match="records_from_bandai2"):
        records_from_bandai(real_data2, task="style2")


def _fake_release(root: Path, names: list[str], style_index: dict[str, int] | None = None) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "cfg").mkdir()
    (root / "cfg" / "content_label.txt").write_text("dataset-2_walk\ndataset-2_run\n")
    (root / "cfg" / "style_label.txt").write_text("".join(f"dataset-2_{s}\n" for s in STYLE2_LABELS))
    for name in names:
        content, style = name.split("_")[1:3]
        (root / "data" / f"{name}.bvh").write_text("HIERARCHY\n")
        idx = (style_index or {}).get(name, STYLE2_LABELS.index(style) if style in STYLE2_LABELS else 0)
        (root / "data" / f"{name}.json").write_text(json.dumps({"content": ["walk", "run"].index(content), "style": idx}))
    return root


def test_dataset2_reader_errors_name_the_file(tmp_path):
    root = _fake_release(tmp_path / "ok", ["dataset-2_walk_elderly_001", "dataset-2_run_youthful_002"])
    recs = records_from_bandai2(root)
    assert [(r.label, r.group, r.task) for r in recs] == [("youthful", "dataset-2_run", "style2"),
                                                          ("elderly", "dataset-2_walk", "style2")]
    bad = _fake_release(tmp_path / "json", ["dataset-2_walk_elderly_001"], {"dataset-2_walk_elderly_001": 0})
    with pytest.raises(ClipFormatError, match=r"dataset-2_walk_elderly_001.json.*'active' but the file name says 'elderly'"):
        records_from_bandai2(bad)
    foreign = _fake_release(tmp_path / "style", ["dataset-2_walk_happy_001"])
    (foreign / "data" / "dataset-2_walk_happy_001.json").unlink()      # no JSON: the name alone must be refused
    with pytest.raises(ClipFormatError, match=r"styles \['happy'\] are not dataset-2 styles") as err:
        records_from_bandai2(foreign)
    assert "\n" not in str(err.value)
    with pytest.raises(ClipFormatError, match="not a folder"):
        records_from_bandai2(tmp_path / "missing")


# ---- labels and prompts of the style2 task ----------------------------------------------------
def test_style2_has_its_own_prompts_and_is_never_an_emotion():
    rng = random.Random(0)
    stats = {"speed": {"mean": 1.0, "std": 0.2}}
    items = T.build_instructions("normal", {"speed": 1.5}, stats, list(STYLE2_LABELS), rng, task="style2")
    q = {it["kind"]: it for it in items}
    assert "way of moving" in q["classify"]["question"] or "manner of moving" in q["classify"]["question"]
    assert "Options: active, elderly, exhausted" in q["classify"]["question"]
    assert q["classify"]["answer"] == "Style: normal."
    assert "neutral state" not in q["explain"]["answer"] and "normal way of moving" in q["explain"]["answer"]
    assert T.parse_answer(q["explain"]["answer"], list(STYLE2_LABELS), task="style2").label == "normal"
    # dataset-1's emotion "normal" keeps its wording
    emo = T.build_instructions("normal", {"speed": 1.5}, stats, list(EMOTION_LABELS), random.Random(0))
    assert "neutral state" in emo[2]["answer"]


def _arrays(name: str, task: str, labels: list[str], n: int, weight: float = 1.0) -> WindowArrays:
    rows = [labels[i % len(labels)] for i in range(n)]
    return WindowArrays(name, task, labels, np.zeros((n, 4, 23, 3), np.float32), np.ones((n, 4), bool),
                        np.ones((n, 23), bool), ["bandai_namco_22"] * n, rows, ["g"] * n,
                        [f"{name}{i}" for i in range(n)], [{} for _ in range(n)], weight)


def test_stage1_classes_keep_the_label_sets_apart():
    srcs = [_arrays("emotion", "emotion", list(EMOTION_LABELS), 7), _arrays("style", "style", ["active", "old"], 2),
            _arrays("style2", "style2", list(STYLE2_LABELS), 7)]
    vocab = label_vocabulary(srcs)
    assert vocab[:9] == [*EMOTION_LABELS, "active", "old"]          # dataset-1's classes as before
    assert vocab[9:] == [f"style2:{s}" for s in STYLE2_LABELS]     # dataset-2's own, never merged
    assert class_name("style2", "normal") != class_name("emotion", "normal")


# ---- the mixture --------------------------------------------------------------------------------
def test_stage2_mixture_follows_the_weights():
    from eai_llm.training.train import _plan

    srcs = [_arrays("emotion", "emotion", list(EMOTION_LABELS), 50, 1.0),
            _arrays("style", "style", ["active"], 500, 0.3), _arrays("style2", "style2", list(STYLE2_LABELS), 5, 0.3)]
    plan = _plan(srcs, {"classify": 1.0, "explain": 1.0, "describe": 0.2}, 20_000, seed=3)
    assert plan == _plan(srcs, {"classify": 1.0, "explain": 1.0, "describe": 0.2}, 20_000, seed=3)  # deterministic
    share = np.bincount([s for s, _, _ in plan], minlength=3) / len(plan)
    np.testing.assert_allclose(share, np.array([1.0, 0.3, 0.3]) / 1.6, atol=0.015)   # not the sizes 50/500/5
    rows2 = [r for s, r, _ in plan if s == 2]
    assert set(rows2) == set(range(5))                                              # every row of the small one
    kinds = [k for _, _, k in plan]
    assert abs(kinds.count("describe") / len(kinds) - 0.2 / 2.2) < 0.015


def test_mix_datasets_shares_are_exact():
    from eai_llm.data.datasets import mix_datasets

    class Sized:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    plan = mix_datasets({"d1": Sized(10), "d2": Sized(840)}, {"d1": 1.0, "d2": 0.25}, 1000, seed=1)
    assert np.bincount(plan[:, 0]).tolist() == [800, 200]
    assert (plan == mix_datasets({"d1": Sized(10), "d2": Sized(840)}, {"d1": 1.0, "d2": 0.25}, 1000, seed=1)).all()


# ---- recipe validation --------------------------------------------------------------------------
@pytest.mark.parametrize("source, message", [
    ("{name: a, kind: bandai3, path: x}", r"kind 'bandai3', expected one of \('bandai', 'bandai2'"),
    ("{name: a, kind: bandai2, path: x, task: emotion}", "kind 'bandai2' has no 'emotion' labels, expected task style2"),
    ("{name: a, kind: bandai, path: x, task: style2}", "kind 'bandai' has no 'style2' labels"),
    ("{name: a, kind: folders, path: x, task: gait}", r"task 'gait', expected one of \('emotion', 'style', 'style2'\)"),
    ("{name: a, kind: bandai2, path: x, task: style2, weight: -1}", "weight must be a finite number > 0"),
])
def test_recipe_source_errors_are_one_line_and_name_the_file(tmp_path, source, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"sources: [{source}]\n")
    with pytest.raises(ValueError, match=message) as err:
        load_recipe(bad)
    assert str(err.value).startswith(f"{bad}: sources[0]") and "\n" not in str(err.value)


def test_recipe_reexpress_options(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: a, kind: synthetic}]\nreexpress_p: 1.5\n")
    with pytest.raises(ValueError, match=r"bad.yaml: reexpress_p must be in \[0, 1\]"):
        load_recipe(bad)
    bad.write_text("sources: [{name: a, kind: synthetic}]\nreexpress_p: 0.5\nreexpress_layouts: [h36m_17, nope]\n")
    with pytest.raises(ValueError, match="reexpress_layouts: unknown layout 'nope'"):
        load_recipe(bad)


def test_joint_recipe_states_both_datasets():
    recipe = load_recipe(ROOT / "configs" / "joint.yaml")
    assert [(s.kind, s.task) for s in recipe.sources] == [("bandai", "emotion"), ("bandai", "style"),
                                                          ("bandai2", "style2")]
    assert recipe.resolve(recipe.sources[2].path) == REAL_DATA2.resolve()
    default = load_recipe(ROOT / "configs" / "default.yaml")      # the default recipe trains on both datasets
    assert [(s.kind, s.task) for s in default.sources] == [("bandai", "emotion"), ("bandai", "style"),
                                                           ("bandai2", "style2")]
    # the bundled model's recipe (until it is retrained with default.yaml) is kept as it was
    bundled = load_recipe(ROOT / "configs" / "default-2026-11.yaml")
    assert [(s.kind, s.task) for s in bundled.sources] == [("bandai", "emotion"), ("bandai", "style")]
    assert bundled.reexpress_p == 0.0 and bundled.model.tokenizer.frontend == "none"
