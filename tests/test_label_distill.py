"""The LLM's label distilled from the classification head in stage 2 (``stage2.distill_weight``, training/distill.py):
the loss reads the position label scoring reads, the head's soft labels cover the tasks it knows, and training with
it adds the term to the answers' loss."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eai_llm.model.processor import IGNORE
from eai_llm.training.distill import label_distill_loss, label_first_tokens, label_teacher_probabilities
from eai_llm.training.recipe import load_recipe
from eai_llm.training.runs import recipe_key

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


def test_the_loss_reads_each_rows_first_answer_position():
    # two rows: row 0 supervises 2 positions (from index 3), row 1 supervises 3 (from index 1)
    labels = torch.full((2, 6), IGNORE)
    labels[0, 4:6] = 7
    labels[1, 2:5] = 7
    logits = torch.randn(5, 10)
    firsts = [[1, 4, 6], [2, 3, 5]]
    target = torch.tensor([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]])
    got = label_distill_loss(logits, labels, [0, 1], firsts, target)
    lp0 = torch.log_softmax(logits[0, [1, 4, 6]], -1)     # row 0's first supervised row of the logits
    lp1 = torch.log_softmax(logits[2, [2, 3, 5]], -1)     # row 1's starts after row 0's two
    want = -((target[0] * lp0).sum() + (target[1] * lp1).sum()) / 2
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    only1 = label_distill_loss(logits, labels, [1], [firsts[1]], target[1:])
    assert only1.item() == pytest.approx(-(target[1] * lp1).sum().item(), rel=1e-6)


def test_the_weight_is_checked_and_stays_out_of_older_keys():
    with pytest.raises(ValueError, match="distill_weight"):
        load_recipe(TINY, ["stage2.distill_weight=-1"])
    plain, kd = load_recipe(TINY), load_recipe(TINY, ["stage2.distill_weight=1.0"])
    assert "distill_weight" not in recipe_key(plain, 2)["stage2"]
    assert recipe_key(kd, 2)["stage2"]["distill_weight"] == 1.0
    assert recipe_key(kd, 1) == recipe_key(plain, 1)          # stage 1 does not depend on it


def _first_loss(out: Path) -> float:
    rows = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    return next(r["loss"] for r in rows if r.get("stage") == 2)


def test_training_adds_the_distillation_term_to_the_answers_loss(tmp_path, capsys):
    from eai_llm.cli import main
    from eai_llm.interpreter import EmotionInterpreter
    from eai_llm.training.data import load_sources

    torch.set_num_threads(1)
    cache = f"cache_dir={tmp_path / 'cache'}"
    for name, extra in (("plain", []), ("kd", ["stage2.distill_weight=2.0"])):
        assert main(["train", "--config", str(TINY), "--output-dir", str(tmp_path / name), "--no-progress",
                     "--override", cache, "stage2.max_steps=2", "stage2.log_every=1", *extra]) == 0
    assert "the LLM's label distilled from the head on emotion" in capsys.readouterr().out
    # the same seed, batches and weights at step 1: the difference is the (positive) distillation term
    assert _first_loss(tmp_path / "kd") > _first_loss(tmp_path / "plain") + 1e-4
    # the soft labels are the head's probabilities over each source's own labels, rows summing to one
    interp = EmotionInterpreter.from_pretrained(tmp_path / "kd" / "model")
    sources = load_sources(load_recipe(TINY, [cache]), progress=False)
    probs = label_teacher_probabilities([interp.model.skeleton_tokenizer], sources)
    assert probs[0].shape == (len(sources[0]), len(sources[0].label_set))
    assert np.allclose(probs[0].sum(1), 1, atol=1e-5)
    assert label_first_tokens(interp.model.processor, sources[0].label_set) is not None
