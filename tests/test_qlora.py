"""QLoRA for real: the tiny LLM loaded in 4 bit (bitsandbytes on the CPU), a LoRA run, saving, reloading, interpreting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

bnb = pytest.importorskip("bitsandbytes", reason="bitsandbytes (the quant extra) is not installed")

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"
EXAMPLE = ROOT / "demo" / "examples" / "dataset-1_walk_angry_001.bvh"


@pytest.fixture(scope="module")
def tiny_llm_dir(tmp_path_factory) -> Path:
    """The tiny recipe's random Llama written as a model folder, so that it loads through from_pretrained
    (where BitsAndBytesConfig quantises it) like any real checkpoint."""
    from transformers import AutoTokenizer

    from eai_llm.model.llm import smollm2_tokenizer_dir, tiny_llama
    from eai_llm.training.recipe import load_recipe

    cfg = load_recipe(TINY).model.llm
    tok = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir())
    out = tmp_path_factory.mktemp("tiny-llm")
    tiny_llama(cfg, len(tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_4bit_load_lora_train_save_and_interpret(tiny_llm_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    from eai_llm.cli import main
    from eai_llm.interpreter import EmotionInterpreter

    out = tmp_path / "run"
    assert main(["train", "--config", str(TINY), "--output-dir", str(out), "--no-progress", "--llm", str(tiny_llm_dir),
                 "--load-in-4bit", "--override", f"cache_dir={tmp_path / 'cache'}", "model.llm.tiny={}",
                 "stage1.epochs=1", "stage2.max_steps=3", "stage2.checkpoint_every=0"]) == 0
    model_dir = out / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["llm"]["load_in_4bit"] is True
    losses = [json.loads(l)["loss"] for l in (out / "log.jsonl").read_text().splitlines() if json.loads(l)["stage"] == 2]
    assert losses and np.isfinite(losses).all()
    # peft initialises lora_B to zero: after training the adapter saved from the 4-bit model has moved
    adapter = load_file(str(model_dir / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and all(torch.isfinite(v).all() for v in adapter.values())
    assert max(float(v.abs().max()) for v in lora_b) > 0

    interp = EmotionInterpreter.from_pretrained(model_dir)
    linear4 = [m for m in interp.model.llm.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert linear4, "the reloaded LLM is not quantised"
    res = interp.interpret(EXAMPLE, max_new_tokens=6)
    assert res.label in interp.label_sets["emotion"]
    assert abs(sum(res.probabilities.values()) - 1) < 1e-4 and all(np.isfinite(list(res.probabilities.values())))
    assert res.raw_explanation is not None and res.raw_explanation.startswith("Emotion:")
    # the 4-bit model is deterministic at inference: the same clip gives the same probabilities
    again = interp.interpret(EXAMPLE, explain=False)
    np.testing.assert_allclose(list(again.probabilities.values()), list(res.probabilities.values()), atol=1e-5)


def test_4bit_llm_step_changes_the_adapter(tiny_llm_dir):
    """One optimiser step on the 4-bit model: the loss is finite, gradients reach LoRA only, LoRA weights change,
    the 4-bit base weights do not."""
    import torch

    from eai_llm.model.modeling import EaiLlmModel, SkeletonInput
    from eai_llm.training.recipe import load_recipe

    cfg = load_recipe(TINY, [f"model.llm.name_or_path={tiny_llm_dir}", "model.llm.load_in_4bit=true",
                             "model.llm.tiny={}"]).model
    cfg.label_sets = {"emotion": ["happy", "sad"]}
    model = EaiLlmModel.build(cfg, seed=0)
    base = [m for m in model.llm.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert base
    frozen = base[0].weight.detach().clone()
    lora = {n: p.detach().clone() for n, p in model.llm.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in n for n in lora)
    batch = model.processor.training_batch(["Which emotion? Options: happy, sad."] * 2, ["happy", "sad"])
    w = cfg.tokenizer.window
    rng = np.random.default_rng(0)
    skel = SkeletonInput.from_numpy(rng.normal(size=(2, w, 23, 3)).astype(np.float32), np.ones((2, w), bool),
                                    np.ones((2, 23), bool), model.skeleton_tokenizer.layout_ids(["unified"] * 2).numpy())
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    outp = model(batch.input_ids, batch.attention_mask, skel.positions, skel.frame_mask, skel.joint_mask,
                 skel.layout_ids, labels=batch.labels)
    assert torch.isfinite(outp.loss)
    outp.loss.backward()
    opt.step()
    moved = [n for n, p in model.llm.named_parameters() if n in lora and not torch.equal(p.detach(), lora[n])]
    assert moved
    assert torch.equal(base[0].weight.detach(), frozen)
