"""The ensemble head (model/heads.py): training writes the members, the head reads their mean probability, the
interpreter scores their disagreement as an out-of-distribution check, and mismatched members are refused."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from eai_llm import explain as T
from eai_llm.data.synthetic import synthetic_clip
from eai_llm.interpreter import EmotionInterpreter
from eai_llm.model.heads import save_head_members
from eai_llm.model.modeling import EaiLlmModel
from eai_llm.model.weights import ModelLoadError
from eai_llm.ood import DISAGREEMENT_THRESHOLD
from eai_llm.training.distill import teacher_dir, teacher_recipe
from eai_llm.training.recipe import load_recipe
from eai_llm.training.runs import recipe_key
from eai_llm.uncertainty import mutual_information

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory) -> Path:
    from eai_llm.cli import main

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("ensemble-model")
    assert main(["train", "--config", str(TINY), "--output-dir", str(out), "--no-progress", "--override",
                 f"cache_dir={out / 'cache'}", "stage1.head_members=3"]) == 0
    return out


def _skel(interp, clip):
    return interp._skel(interp._windows(clip), clip.layout.name)


def test_recipe_checks_the_head_members_and_keeps_them_out_of_stage1s_key():
    with pytest.raises(ValueError, match="head_members must be 0"):
        load_recipe(TINY, ["stage1.head_members=1"])
    plain, ens = load_recipe(TINY), load_recipe(TINY, ["stage1.head_members=4"])
    assert recipe_key(plain, 1) == recipe_key(ens, 1)                 # the model's own tokenizer is the same
    assert "head_members" not in recipe_key(plain, 2)["stage1"]       # off: the key of older recipes
    assert recipe_key(ens, 2)["stage1"]["head_members"] == 4
    assert teacher_recipe(ens, 2).stage1.head_members == 0 and teacher_recipe(ens, 2).seed == plain.seed + 2


def test_training_writes_the_other_members_in_half_precision(ensemble_run):
    from safetensors import safe_open

    folder = ensemble_run / "model" / "head_members"
    assert sorted(p.name for p in folder.iterdir()) == ["1", "2"]
    for i in (1, 2):
        key = json.loads((teacher_dir(ensemble_run, i) / "checkpoints" / "stage1_tokenizer" / "recipe.json").read_text())
        assert key["seed"] == i
        with safe_open(str(folder / str(i) / "model.safetensors"), "pt") as f:
            dtypes = {f.get_tensor(k).dtype for k in f.keys()}
        assert torch.float16 in dtypes and torch.float32 not in dtypes


def test_the_head_reads_the_members_mean_probability(ensemble_run):
    from eai_llm.tokenizer.mgst import SkeletonTokenizer

    model = EaiLlmModel.from_pretrained(ensemble_run / "model")
    interp = EmotionInterpreter.from_pretrained(ensemble_run / "model")
    labels = model.config.label_sets["emotion"]
    skel = _skel(interp, synthetic_clip("sad", seed=2))
    each = model.head_member_logprobs(skel, labels)
    assert each.shape == (3, len(skel), len(labels))
    assert torch.allclose(model.head_logprobs(skel, labels).exp(), each.exp().mean(0), atol=1e-6)
    assert not torch.allclose(each[0], each[1], atol=1e-3)                 # other seeds, other heads
    # the float16 copy reads like the float32 teacher it was made from
    full = SkeletonTokenizer.from_pretrained(teacher_dir(ensemble_run, 1) / "checkpoints" / "stage1_tokenizer")
    ref = full(skel.positions, skel.frame_mask, skel.joint_mask, skel.layout_ids, with_heads=True).logits
    got = model.head_members[0](skel.positions, skel.frame_mask, skel.joint_mask, skel.layout_ids, with_heads=True).logits
    assert torch.allclose(torch.softmax(ref, -1), torch.softmax(got, -1), atol=5e-3)
    # the shipped pooling is still the model's own (one LLM pass, the pooled head)
    question = T.classify_question(labels, "emotion")
    fused, _, members = interp._label_scores(skel, question, labels)
    assert torch.allclose(fused, interp.model.label_probabilities(skel, question, labels), atol=1e-5)
    assert torch.allclose(members, each.exp(), atol=1e-6)


def test_the_interpreter_scores_the_members_disagreement(ensemble_run, tiny_model):
    interp = EmotionInterpreter.from_pretrained(ensemble_run / "model")
    clip = synthetic_clip("angry", "kinect_v2", seconds=6.0, seed=4)
    res = interp.interpret(clip, explain=False)
    scores = interp.classify_windows([clip])
    mp = scores.member_probs[0]
    assert mp.shape[0] == 3 and mp.shape[1] == len(scores[0][0])
    want = float(mutual_information(mp.mean(axis=1)[:, None])[0]) / DISAGREEMENT_THRESHOLD
    assert res.ood_components["disagreement"] == pytest.approx(want, abs=1e-4)
    assert res.ood_score >= res.ood_components["disagreement"] - 1e-9
    single = EmotionInterpreter.from_pretrained(tiny_model).interpret(clip, explain=False)
    assert "disagreement" not in single.ood_components           # one head: nothing to disagree


def test_agreeing_members_do_not_disagree(ensemble_run, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(ensemble_run / "model", copy)
    own = EmotionInterpreter.from_pretrained(ensemble_run / "model").model.skeleton_tokenizer
    shutil.rmtree(copy / "head_members")
    save_head_members([own, own], copy / "head_members")          # every member a copy of the model's own
    res = EmotionInterpreter.from_pretrained(copy).interpret(synthetic_clip("happy", seed=1), explain=False)
    assert res.ood_components["disagreement"] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "1" / "config.json").write_text(json.dumps(
        (lambda c: dict(c, labels=c["labels"][::-1]))(json.loads((d / "1" / "config.json").read_text())))),
     "labels differ"),
    (lambda d: [shutil.rmtree(p) for p in list(d.iterdir())], "holds no head members"),
    (lambda d: (d / "2" / "model.safetensors").unlink(), "model.safetensors: missing"),
])
def test_members_that_do_not_fit_are_refused_in_one_line(ensemble_run, tmp_path, damage, message):
    copy = tmp_path / "model"
    shutil.copytree(ensemble_run / "model", copy)
    damage(copy / "head_members")
    with pytest.raises(ModelLoadError, match=message) as err:
        EaiLlmModel.from_pretrained(copy)
    assert "\n" not in str(err.value) and "head_members" in str(err.value)


def test_the_single_head_switch_reads_without_the_members(ensemble_run, capsys):
    from eai_llm.cli import main
    from eai_llm.skeleton.io import save_clip

    interp = EmotionInterpreter.from_pretrained(ensemble_run / "model", ensemble=False)
    assert len(interp.model.head_members) == 0
    clip = synthetic_clip("tired", seed=6)
    res = interp.interpret(clip, explain=False)
    assert "disagreement" not in res.ood_components
    path = ensemble_run / "tired.npz"
    save_clip(clip, path)
    for flags, has in (([], True), (["--single-head"], False)):
        assert main(["interpret", str(path), "--model", str(ensemble_run / "model"), "--no-explain", "--json",
                     *flags]) == 0
        out = json.loads(capsys.readouterr().out)
        assert ("disagreement" in out["ood_components"]) is has
