"""Pretrained skeleton tokenizers: `eai-llm pretrain-tokenizer`, `stage1.init_from`, `stage1.sources`, and the
joint-training variants that `eai-llm evaluate` derives from a recipe."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from eai_llm.cli import main
from eai_llm.tokenizer.mgst import SkeletonTokenizer

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrain")
    out = tmp / "tokenizers" / "tiny-style"
    code = main(["pretrain-tokenizer", "--config", str(TINY), "--out", str(out), "--no-progress", "--override",
                 f"cache_dir={tmp / 'cache'}", f"output_dir={tmp / 'run'}", "stage1.epochs=3"])
    assert code == 0
    return out


def test_artifact_is_complete_and_loads(pretrained):
    assert {p.name for p in pretrained.iterdir()} == {"config.json", "model.safetensors", "recipe.yaml", "README.md",
                                                      "training.json"}
    tok = SkeletonTokenizer.from_pretrained(pretrained)
    assert tok.config.labels and tok.classifier is not None
    recipe = yaml.safe_load((pretrained / "recipe.yaml").read_text())
    assert recipe["stage1"]["epochs"] == 3            # overrides applied to the recorded recipe
    card = (pretrained / "README.md").read_text()
    assert "SkeletonTokenizer.from_pretrained" in card and "stage1.init_from" in card
    assert 0.0 <= json.loads((pretrained / "training.json").read_text())["train_acc"] <= 1.0
    assert not list(pretrained.parent.glob(".*tmp*"))  # nothing half-written left beside it


def test_stage1_starts_from_the_pretrained_encoder(pretrained, tmp_path):
    from dataclasses import replace

    from eai_llm.training.pretrained import init_from_pretrained

    pre = SkeletonTokenizer.from_pretrained(pretrained)
    cfg = replace(pre.config, labels=["a", "b", "c"], dropout=0.2)
    tok = init_from_pretrained(cfg, pretrained)
    assert tok.classifier.out_features == 3
    mine, theirs = tok.state_dict(), pre.state_dict()
    shared = [k for k in theirs if not k.startswith(("classifier.", "align_proj."))]
    assert shared and all(torch.equal(mine[k], theirs[k]) for k in shared)
    with pytest.raises(ValueError, match=r"architecture differs .*dim 32 vs 64"):
        init_from_pretrained(replace(cfg, dim=64, heads=2), pretrained)


def test_recipe_with_init_from_trains_and_records_it(pretrained, tmp_path):
    out = tmp_path / "run"
    code = main(["train", "--config", str(TINY), "--output-dir", str(out), "--no-progress", "--override",
                 f"cache_dir={tmp_path / 'cache'}", f"stage1.init_from={pretrained}", "stage1.epochs=1",
                 "stage1.sources=[emotion]", "stage2.max_steps=2"])
    assert code == 0
    key = json.loads((out / "checkpoints" / "stage1_tokenizer" / "recipe.json").read_text())
    assert key["stage1"]["init_from"] == str(pretrained) and len(key["stage1"]["init_sha256"]) == 64


def test_stage1_sources_must_name_sources(tmp_path):
    code = main(["train", "--config", str(TINY), "--output-dir", str(tmp_path), "--no-progress",
                 "--override", "stage1.sources=[nope]"])
    assert code == 2


def test_joint_variants_are_derived_from_the_recipe():
    from eai_llm.evaluation.variants import variant_overrides

    v = variant_overrides(ROOT / "configs" / "default.yaml")

    def sources(over):
        return [s["name"] for s in json.loads(next(o for o in over if o.startswith("sources="))[8:])]

    assert sources(v["-emotion-only"]) == ["emotion"] and "stage1.init_from=null" in v["-emotion-only"]
    assert sources(v["-emotion-style"]) == ["emotion", "style"] and "stage1.init_from=null" in v["-emotion-style"]
    # dataset-2 enters through the pretrained tokenizer; stage 1 then trains on dataset-1's emotions only
    assert sources(v["-emotion-style2"]) == ["emotion", "style2"]
    assert 'stage1.sources=["emotion"]' in v["-emotion-style2"]
    assert v[""] == [] and variant_overrides(None)["-emotion-only"] == []
