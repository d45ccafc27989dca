"""Every shipped recipe loads and validates; recipe errors name the file and the key."""

from pathlib import Path

import pytest

from eai_llm.model.config import EaiLlmConfig
from eai_llm.training.recipe import apply_overrides, load_recipe

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    assert {p.name for p in CONFIGS} >= {"tiny.yaml", "default.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    recipe = load_recipe(path)
    assert isinstance(recipe.model, EaiLlmConfig)
    assert recipe.sources and recipe.model.num_skeleton_tokens <= 64     # tens of tokens, not hundreds
    # relative paths resolve against the recipe's folder, not the working directory
    assert recipe.resolve(recipe.output_dir).is_absolute()
    assert recipe.resolve(recipe.output_dir).parent.parent == ROOT
    for src in recipe.sources:
        if src.path:
            assert recipe.resolve(src.path).is_absolute()
    assert recipe.model.tokenizer.window % recipe.model.tokenizer.segment == 0


def test_default_recipe_points_at_the_shared_data():
    recipe = load_recipe(ROOT / "configs" / "default.yaml")
    assert recipe.model.llm.name_or_path == "smollm2"
    assert {s.task for s in recipe.sources} == {"emotion", "style", "style2"}     # both datasets
    assert recipe.resolve(recipe.sources[0].path) == (ROOT.parent / "shared" / "data" / "bandai_namco_motion_1").resolve()
    assert recipe.resolve(recipe.sources[2].path) == (ROOT.parent / "shared" / "data" / "bandai_namco_motion_2").resolve()


def test_default_recipe_starts_from_the_bundled_pretrained_tokenizer():
    from dataclasses import replace

    from eai_llm.training.pretrained import init_from_pretrained

    recipe = load_recipe(ROOT / "configs" / "default.yaml")
    folder = recipe.resolve(recipe.stage1.init_from)
    assert folder.parent == ROOT / "tokenizers" and (folder / "README.md").is_file()
    tok = init_from_pretrained(replace(recipe.model.tokenizer, labels=["happy", "sad"]), folder)
    assert tok.classifier.out_features == 2


def test_overrides_and_errors(tmp_path):
    recipe = load_recipe(ROOT / "configs" / "tiny.yaml", ["stage2.max_steps=3", "seed=7", "model.lora.r=2"])
    assert recipe.stage2.max_steps == 3 and recipe.seed == 7 and recipe.model.lora.r == 2
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides({}, ["nonsense"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: a, kind: synthetic}]\nstage2: {epochz: 3}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: stage2: unknown keys \['epochz'\]"):
        load_recipe(bad)
    bad.write_text("sources: []\n")
    with pytest.raises(ValueError, match="at least one data source"):
        load_recipe(bad)
    bad.write_text("sources: [{name: a, kind: bandai}]\n")
    with pytest.raises(ValueError, match="'path' is required"):
        load_recipe(bad)
    bad.write_text("sources: [{name: a, kind: synthetic}]\nstage2: {kinds: {chat: 1}}\n")
    with pytest.raises(ValueError, match="stage2.kinds"):
        load_recipe(bad)
