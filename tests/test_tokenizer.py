"""The skeleton tokenizer (MGST + UST) and the stage-1 contrastive loss."""

import numpy as np
import pytest
import torch

from eai_llm.skeleton.layouts import UNIFIED
from eai_llm.tokenizer.align import contrastive_loss
from eai_llm.tokenizer.mgst import SkeletonTokenizer, SkeletonTokenizerConfig

U = UNIFIED.index


def tiny_config(**kw) -> SkeletonTokenizerConfig:
    base = dict(window=32, segment=8, dim=32, depth=1, heads=2, num_semantic=3, dropout=0.0, labels=["a", "b", "c"],
                text_dim=16)
    base.update(kw)
    return SkeletonTokenizerConfig(**base)


def batch(b=4, t=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, t, 23, 3, generator=g), torch.ones(b, t, dtype=torch.bool),
            torch.ones(b, 23, dtype=torch.bool), torch.zeros(b, dtype=torch.long))


def test_token_counts_and_shapes():
    cfg = tiny_config()
    tok = SkeletonTokenizer(cfg).eval()
    out = tok(*batch(), with_heads=True)
    assert cfg.num_segments == 4 and cfg.num_parts == 6
    assert out.spatio_temporal.shape == (4, 24, 32) and out.semantic.shape == (4, 3, 32)
    assert out.sequence().shape == (4, cfg.num_tokens, 32) and cfg.num_tokens == 27
    assert out.logits.shape == (4, 3)
    torch.testing.assert_close(out.aligned.norm(dim=-1), torch.ones(4))


@pytest.mark.parametrize("st,sem,n", [(True, False, 24), (False, True, 3)])
def test_ablations_change_token_count(st, sem, n):
    cfg = tiny_config(use_spatio_temporal=st, use_semantic=sem)
    tok = SkeletonTokenizer(cfg).eval()
    assert tok(*batch()).sequence().shape[1] == n == cfg.num_tokens
    with pytest.raises(ValueError):
        tiny_config(use_spatio_temporal=False, use_semantic=False)


def test_masked_joints_and_padded_frames_are_ignored():
    tok = SkeletonTokenizer(tiny_config()).eval()
    pos, fm, jm, lay = batch(2)
    jm[:, U["l_hand"]] = False
    fm[:, 20:] = False
    ref = tok(pos, fm, jm, lay).sequence()
    pos2 = pos.clone()
    pos2[:, :, U["l_hand"]] += 5.0     # a joint the layout lacks
    pos2[:, 24:] = 99.0                # padding (whole segments beyond frame 24)
    torch.testing.assert_close(tok(pos2, fm, jm, lay).sequence(), ref)
    # but a real joint does matter
    pos3 = pos.clone()
    pos3[:, :, U["r_wrist"]] += 0.5
    assert not torch.allclose(tok(pos3, fm, jm, lay).sequence(), ref)


def test_mixed_layout_batch_uses_per_layout_joint_embeddings():
    tok = SkeletonTokenizer(tiny_config()).eval()
    pos, fm, jm, _ = batch(2)
    pos[1] = pos[0]
    ids = tok.layout_ids(["kinect_v2", "h36m_17"])
    jm[1, [U["l_collar"], U["r_collar"], U["l_hand"], U["r_hand"], U["chest"]]] = False   # h36m lacks them
    out = tok(pos, fm, jm, ids).sequence()
    assert torch.isfinite(out).all()
    assert not torch.allclose(out[0], out[1])
    # an unknown layout name falls back to the unified row
    assert tok.layout_ids(["no-such-rig"]).item() == tok.layout_index["unified"]


def test_save_load_round_trip(tmp_path):
    tok = SkeletonTokenizer(tiny_config()).eval()
    tok.save_pretrained(tmp_path / "t")
    again = SkeletonTokenizer.from_pretrained(tmp_path / "t")
    b = batch()
    torch.testing.assert_close(again(*b).sequence(), tok(*b).sequence())
    (tmp_path / "t" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        SkeletonTokenizer.from_pretrained(tmp_path / "t")


def test_wrong_window_shape_is_a_clear_error():
    tok = SkeletonTokenizer(tiny_config())
    pos, fm, jm, lay = batch(t=16)
    with pytest.raises(ValueError, match=r"expected windows of shape \(B, 32, 23, 3\)"):
        tok(pos, fm, jm, lay)


def test_contrastive_loss_masks_same_label_negatives():
    rng = np.random.default_rng(0)
    text = torch.nn.functional.normalize(torch.tensor(rng.normal(size=(6, 8)), dtype=torch.float32), dim=-1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    aligned = contrastive_loss(text, text, labels, 0.1)
    shuffled = contrastive_loss(text[torch.tensor([1, 0, 3, 2, 5, 4])], text, labels, 0.1)
    assert aligned < shuffled
    # swapping two windows of the same label: the same-label pair is masked, so only the diagonal counts
    random = contrastive_loss(text.flip(0), text, labels, 0.1)
    assert aligned < random


def test_stage1_steps_lower_the_loss():
    torch.manual_seed(0)
    tok = SkeletonTokenizer(tiny_config())
    opt = torch.optim.Adam(tok.parameters(), lr=3e-3)
    pos, fm, jm, lay = batch(8)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    pos[y == 1] *= 2
    text = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    losses = []
    for _ in range(15):
        out = tok(pos, fm, jm, lay, with_heads=True)
        loss = contrastive_loss(out.aligned, text, y) + torch.nn.functional.cross_entropy(out.logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.7


def test_statistics_conditioning_is_optional_and_masked():
    cfg = tiny_config(use_statistics=True)
    tok = SkeletonTokenizer(cfg).eval()
    assert SkeletonTokenizer(tiny_config()).stats_embed is None
    pos, fm, jm, lay = batch(2)
    jm[:, U["l_hand"]] = False
    fm[:, 20:] = False
    ref = tok(pos, fm, jm, lay).sequence()
    pos2 = pos.clone()
    pos2[:, :, U["l_hand"]] += 3.0
    pos2[:, 24:] -= 7.0
    torch.testing.assert_close(tok(pos2, fm, jm, lay).sequence(), ref)
    assert tok._statistics(tok._features(pos, fm), fm, jm).shape == (2, 23 * SkeletonTokenizer.STATS)
