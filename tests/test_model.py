"""The EAI-LLM model on a tiny random Llama: splice, scoring, training steps, save/load."""

import pytest
import torch
import torch.nn.functional as F

from eai_llm.model.config import EaiLlmConfig, LlmConfig, LoraSettings, ProjectorConfig
from eai_llm.model.modeling import EaiLlmModel, PlaceholderCountError, SkeletonInput
from eai_llm.tokenizer.mgst import SkeletonTokenizerConfig

LABELS = ["happy", "sad", "angry", "proud", "not-confident", "tired", "normal"]
Q = "Which emotion? Options: " + ", ".join(LABELS) + "."


def tiny_config() -> EaiLlmConfig:
    return EaiLlmConfig(
        tokenizer=SkeletonTokenizerConfig(window=32, segment=16, dim=32, depth=1, heads=2, num_semantic=2, dropout=0.0),
        projector=ProjectorConfig(hidden=64), llm=LlmConfig(name_or_path="tiny-random"),
        lora=LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"]))


@pytest.fixture(scope="module")
def model():
    return EaiLlmModel.build(tiny_config(), seed=0).eval()


def skel(b=3, seed=0) -> SkeletonInput:
    g = torch.Generator().manual_seed(seed)
    return SkeletonInput(torch.randn(b, 32, 23, 3, generator=g), torch.ones(b, 32, dtype=torch.bool),
                         torch.ones(b, 23, dtype=torch.bool), torch.zeros(b, dtype=torch.long))


def test_processor_expands_exactly_n_placeholders(model):
    p = model.processor
    ids = p.prompt_ids("Which emotion?")
    assert ids.count(p.placeholder_id) == model.config.num_skeleton_tokens == 14
    batch = p.training_batch(["a?", "a longer question?"], ["sad", "Emotion: sad. Explanation: slow pace."])
    assert (batch.input_ids == p.placeholder_id).sum(1).tolist() == [14, 14]
    # labels cover exactly the answer tokens and the end tag
    n_answer = len(p.answer_ids("sad"))
    assert (batch.labels[0] != -100).sum() == n_answer
    with pytest.raises(ValueError, match="reserved skeleton placeholder"):
        p.prompt_ids(f"hello {p.placeholder_token}")


def test_placeholder_count_mismatch_raises(model):
    p = model.processor
    ids = torch.tensor([p.prompt_ids("q") + [p.placeholder_id]])
    with pytest.raises(PlaceholderCountError, match="expected 14 per sample"):
        model.embed_inputs(ids, skel(1))
    with pytest.raises(PlaceholderCountError):
        model.embed_inputs(torch.tensor([p.prompt_ids("q")] * 2), skel(3))


def test_splice_puts_projected_tokens_at_the_placeholders(model):
    p = model.processor
    ids = torch.tensor([p.prompt_ids("q")])
    s = skel(1)
    emb = model.embed_inputs(ids, s)
    slots = (ids[0] == p.placeholder_id).nonzero()[:, 0]
    torch.testing.assert_close(emb[0, slots], model.skeleton_embeds(s)[0])
    other = (ids[0] != p.placeholder_id).nonzero()[:, 0]
    torch.testing.assert_close(emb[0, other], model.llm.get_input_embeddings()(ids)[0, other])


def test_label_probabilities_sum_to_one_and_full_scoring_is_exact(model):
    s = skel(2)
    probs = model.label_probabilities(s, Q, LABELS)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))
    full = model.label_logprobs(s, Q, LABELS, scoring="full")
    # brute force: one forward pass per label
    q = model.processor.prompt_ids(Q)
    for li, label in enumerate(LABELS):
        ids = torch.tensor([q + model.processor.answer_ids(label)])
        logits = model.llm(inputs_embeds=model.embed_inputs(ids, s.select(slice(1, 2)))).logits
        lp = F.log_softmax(logits[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
        assert full[1, li].item() == pytest.approx(lp[len(q) - 1:].sum().item(), abs=1e-4)
    first = model.label_logprobs(s, Q, LABELS, scoring="first")
    assert first.shape == (2, 7) and torch.all(first >= full - 1e-5)


def test_batch_and_single_scoring_agree(model):
    s = skel(3)
    together = model.label_logprobs(s, Q, LABELS, scoring="full")
    for i in range(3):
        alone = model.label_logprobs(s.select(slice(i, i + 1)), Q, LABELS, scoring="full")
        torch.testing.assert_close(alone[0], together[i], atol=1e-4, rtol=1e-4)


def test_two_training_steps_lower_the_loss():
    m = EaiLlmModel.build(tiny_config(), seed=1).train()
    params = [p for p in m.parameters() if p.requires_grad]
    assert any("lora" in n for n, p in m.named_parameters() if p.requires_grad)
    opt = torch.optim.AdamW(params, lr=5e-3)
    s = skel(4)
    batch = m.processor.training_batch([Q] * 4, ["sad", "happy", "sad", "angry"])
    losses = []
    for _ in range(3):
        out = m(batch.input_ids, batch.attention_mask, s.positions, s.frame_mask, s.joint_mask, s.layout_ids,
                labels=batch.labels)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[2] < losses[0]


def test_generate_returns_new_text_only(model):
    out = model.generate_text(skel(1), Q, max_new_tokens=4)
    assert len(out) == 1 and isinstance(out[0], str)
    assert "<|im_start|>" not in out[0]


def test_save_load_round_trip_is_identical(model, tmp_path):
    s = skel(2)
    ref = model.label_logprobs(s, Q, LABELS, scoring="full")
    gen = model.generate_text(s.select(slice(0, 1)), Q, max_new_tokens=5)
    model.save_pretrained(tmp_path / "m", extras={"cue_stats.json": {"x": {"mean": 0}}})
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {"config.json", "skeleton_tokenizer", "adapter", "llm",
                                                          "projector.safetensors", "cue_stats.json"}
    again = EaiLlmModel.from_pretrained(tmp_path / "m")
    torch.testing.assert_close(again.label_logprobs(s, Q, LABELS, scoring="full"), ref)
    assert again.generate_text(s.select(slice(0, 1)), Q, max_new_tokens=5) == gen
    (tmp_path / "m" / "projector.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="projector.safetensors"):
        EaiLlmModel.from_pretrained(tmp_path / "m")


def test_config_round_trip_and_validation(tmp_path):
    cfg = tiny_config()
    cfg.save(tmp_path / "c.json")
    assert EaiLlmConfig.load(tmp_path / "c.json").to_dict() == cfg.to_dict()
    with pytest.raises(ValueError, match="unknown keys"):
        EaiLlmConfig.from_dict({"lora": {"rank": 3}})
    with pytest.raises(ValueError, match="prompt_template"):
        EaiLlmConfig(prompt_template="no slots")
    with pytest.raises(ValueError, match="placeholder_token"):
        from eai_llm.model.processor import EaiProcessor
        bad = tiny_config()
        bad.placeholder_token = "<definitely-not-a-token>"
        EaiProcessor(EaiLlmModel.build(tiny_config()).processor.tokenizer, bad)


def test_inference_precision_and_merged_adapter(model, tmp_path):
    from eai_llm.model.llm import inference_dtype, native_bf16

    assert inference_dtype("auto") == (torch.bfloat16 if native_bf16() else torch.float32)
    assert inference_dtype("float32") == torch.float32
    with pytest.raises(ValueError, match="dtype must be"):
        inference_dtype("int3")
    s = skel(2)
    ref = model.label_logprobs(s, Q, LABELS, scoring="full")
    model.save_pretrained(tmp_path / "m")
    merged = EaiLlmModel.from_pretrained(tmp_path / "m", dtype="float32", merge_adapter=True)
    assert not hasattr(merged.llm, "peft_config")                      # LoRA folded into the base weights
    torch.testing.assert_close(merged.label_logprobs(s, Q, LABELS, scoring="full"), ref, atol=1e-4, rtol=1e-4)
    half = EaiLlmModel.from_pretrained(tmp_path / "m", dtype="bfloat16", merge_adapter=True)
    assert {p.dtype for p in half.llm.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in half.projector.parameters()} == {torch.float32}
    probs = torch.softmax(half.label_logprobs(s, Q, LABELS, scoring="full"), -1)
    torch.testing.assert_close(probs, torch.softmax(ref, -1), atol=0.05, rtol=0.0)


def test_lm_head_sees_a_contiguous_input(model):
    seen = []
    head = model.llm.get_output_embeddings()
    handle = head.register_forward_pre_hook(lambda mod, args: seen.append(args[0].is_contiguous()))
    try:
        model.label_logprobs(skel(3), Q, LABELS, scoring="first")      # logits_to_keep=1: a strided slice
    finally:
        handle.remove()
    assert seen == [True]


def test_fusion_pools_the_llm_with_the_tokenizer_head():
    from dataclasses import replace

    cfg = tiny_config()
    cfg = replace(cfg, tokenizer=replace(cfg.tokenizer, labels=LABELS + ["extra"]))
    m = EaiLlmModel.build(cfg, seed=1).eval()
    s = skel(3)
    llm = F.log_softmax(m.label_logprobs(s, Q, LABELS), -1)
    head = m.head_logprobs(s, LABELS)
    assert head.shape == (3, len(LABELS)) and torch.allclose(head.exp().sum(-1), torch.ones(3))
    torch.testing.assert_close(m.label_probabilities(s, Q, LABELS, fusion_weight=0.0), llm.exp())
    torch.testing.assert_close(m.label_probabilities(s, Q, LABELS, fusion_weight=1.0), head.exp())
    pooled = torch.softmax(0.5 * llm + 0.5 * head, -1)
    torch.testing.assert_close(m.label_probabilities(s, Q, LABELS), pooled)        # config default 0.5
    assert m.head_logprobs(s, ["happy", "unknown"]) is None                       # a label the head lacks
    with pytest.raises(ValueError, match="fusion_weight"):
        replace(cfg, fusion_weight=1.5)


def test_fusion_finds_dataset2_classes_by_their_stage1_names():
    from dataclasses import replace

    styles2 = ["active", "normal", "youthful"]
    cfg = tiny_config()
    cfg = replace(cfg, tokenizer=replace(cfg.tokenizer, labels=["normal", "happy"] + [f"style2:{l}" for l in styles2]))
    m = EaiLlmModel.build(cfg, seed=1).eval()
    s = skel(2)
    head = m.head_logprobs(s, styles2, "style2")
    assert head is not None and head.shape == (2, 3)
    logits = m.skeleton_tokenizer(s.positions, s.frame_mask, s.joint_mask, s.layout_ids, with_heads=True).logits
    torch.testing.assert_close(head, F.log_softmax(logits[:, 2:], -1))     # dataset-2's normal, not the emotion
    assert m.head_logprobs(s, styles2) is None                              # emotion names: the head lacks them
    fused = m.label_probabilities(s, "Which way of moving?", styles2, task="style2")
    llm = F.log_softmax(m.label_logprobs(s, "Which way of moving?", styles2), -1)
    torch.testing.assert_close(fused, torch.softmax(0.5 * llm + 0.5 * head, -1))


def test_training_loss_on_answer_positions_equals_the_llms_full_sequence_loss(model):
    """forward(labels=...) runs the vocabulary head on supervised positions only; loss and gradients must match
    the causal LM's own loss over the whole sequence."""
    s = skel(2)
    batch = model.processor.training_batch([Q, "Describe the movement."], ["sad", "Emotion: sad. Explanation: slow pace."])
    args = (batch.input_ids, batch.attention_mask, s.positions, s.frame_mask, s.joint_mask, s.layout_ids)
    ours = model(*args, labels=batch.labels)
    assert ours.logits.shape[0] == int((batch.labels[:, 1:] != -100).sum())
    lora = [p for n, p in model.named_parameters() if "lora_B" in n]
    g_ours = torch.autograd.grad(ours.loss, lora)
    embeds = model.embed_inputs(batch.input_ids, s)
    ref = model.llm(inputs_embeds=embeds, attention_mask=batch.attention_mask, labels=batch.labels)
    torch.testing.assert_close(ours.loss, ref.loss, atol=1e-5, rtol=1e-5)
    for a, b in zip(g_ours, torch.autograd.grad(ref.loss, lora)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
