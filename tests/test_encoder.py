"""The encoder that transfers (issue 11 item 1): the conv front-end, stage-1 augmentation, test-time mirroring."""

import json
import math

import numpy as np
import pytest
import torch

from eai_llm.skeleton.layouts import UNIFIED
from eai_llm.skeleton.unify import mirror
from eai_llm.tokenizer.frontend import body_frame_features, frontend_channels
from eai_llm.tokenizer.mgst import SkeletonTokenizer, SkeletonTokenizerConfig, mirror_windows
from eai_llm.training import augment as A

from conftest import ROOT

U = UNIFIED.index


def conv_config(**kw) -> SkeletonTokenizerConfig:
    base = dict(window=32, segment=8, dim=32, depth=1, heads=2, num_semantic=3, dropout=0.0, labels=["a", "b", "c"],
                text_dim=16, frontend="conv", frontend_channels=16, frontend_dropout=0.0)
    base.update(kw)
    return SkeletonTokenizerConfig(**base)


def walking(b=3, t=32, seed=0) -> torch.Tensor:
    """A plausible body (a T-pose-ish skeleton from the unified rest offsets) walking and turning, plus noise."""
    g = torch.Generator().manual_seed(seed)
    rest = torch.zeros(23, 3)
    for j in UNIFIED.topological_order:
        p = UNIFIED.parents[j]
        if p >= 0:
            rest[j] = rest[p] + torch.randn(3, generator=g) * 0.1 + torch.tensor([0.0, 0.12, 0.0])
    for name in ("l_hip", "l_shoulder"):
        rest[U[name]] += torch.tensor([0.15, 0.0, 0.0])
    for name in ("r_hip", "r_shoulder"):
        rest[U[name]] -= torch.tensor([0.15, 0.0, 0.0])
    time_ = torch.arange(t, dtype=torch.float32)[None, :, None, None]
    pos = rest.expand(b, t, 23, 3) + torch.randn(b, t, 23, 3, generator=g) * 0.02
    pos = pos + time_ * torch.tensor([0.01, 0.0, 0.03])
    return pos + torch.tensor([0.0, 1.0, 0.0])


def masks(b=3, t=32):
    fm = torch.ones(b, t, dtype=torch.bool)
    fm[0, 20:] = False
    jm = torch.ones(b, 23, dtype=torch.bool)
    jm[1, U["l_hand"]] = False
    return fm, jm


def yaw_matrix(a: float) -> torch.Tensor:
    return torch.tensor([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])


# ---- body-frame features --------------------------------------------------------------------------------
def test_body_frame_features_ignore_yaw_translation_and_scale():
    pos = walking()
    fm, jm = masks()
    ref = body_frame_features(pos, fm, jm)
    assert ref.shape == (3, 32, frontend_channels(23))
    moved = (pos @ yaw_matrix(2.1).T + torch.tensor([4.0, 0.0, -7.5])) * 1.8
    torch.testing.assert_close(body_frame_features(moved, fm, jm), ref, atol=1e-4, rtol=1e-4)
    # the features do see the motion: a different pose changes them, padded frames and absent joints are zero
    bent = pos.clone()
    bent[:, :, U["r_wrist"]] += 0.3
    assert not torch.allclose(body_frame_features(bent, fm, jm), ref, atol=1e-3)
    assert ref[0, 20:].abs().max() == 0
    l_hand = U["l_hand"] * 6
    assert ref[1, :, l_hand:l_hand + 6].abs().max() == 0


def test_body_frame_features_turn_each_frame_and_measure_the_yaw_rate():
    pos = walking(b=1, t=16)
    fm, jm = torch.ones(1, 16, dtype=torch.bool), torch.ones(1, 23, dtype=torch.bool)
    turning = torch.stack([pos[0, i] @ yaw_matrix(0.1 * i).T for i in range(16)])[None]
    f_still, f_turn = body_frame_features(pos, fm, jm), body_frame_features(turning, fm, jm)
    n = 23 * 3
    torch.testing.assert_close(f_turn[..., :n], f_still[..., :n], atol=1e-4, rtol=1e-4)    # pose in the body frame
    # yaw rate per frame: the extra turn of 0.1 rad per frame, on top of the noisy body's own
    torch.testing.assert_close(f_turn[0, 1:, -1] - f_still[0, 1:, -1], torch.full((15,), 0.1), atol=1e-4, rtol=0)


# ---- mirroring ------------------------------------------------------------------------------------------
def test_mirroring_swaps_left_and_right_joints():
    pos = walking()
    _, jm = masks()
    flipped, fjm = mirror_windows(pos, jm)
    torch.testing.assert_close(flipped[..., U["l_hand"], 1:], pos[..., U["r_hand"], 1:])
    torch.testing.assert_close(flipped[..., U["l_hand"], 0], -pos[..., U["r_hand"], 0])
    torch.testing.assert_close(flipped[..., U["pelvis"], 0], -pos[..., U["pelvis"], 0])
    assert not fjm[1, U["r_hand"]] and fjm[1, U["l_hand"]]
    np.testing.assert_allclose(flipped.numpy(), mirror(pos.numpy()), atol=1e-6)   # the numpy augmentation's mirror
    again, jm2 = mirror_windows(flipped, fjm)
    torch.testing.assert_close(again, pos)
    assert torch.equal(jm2, jm)


def test_test_time_mirroring_averages_both_readings():
    torch.manual_seed(0)
    tok = SkeletonTokenizer(conv_config(test_mirror=True)).eval()
    plain = SkeletonTokenizer(conv_config())
    plain.load_state_dict(tok.state_dict())
    plain.eval()
    pos = walking()
    fm, jm = masks()
    lay = torch.zeros(3, dtype=torch.long)
    fpos, fjm = mirror_windows(pos, jm)
    with torch.no_grad():
        both = tok(pos, fm, jm, lay, with_heads=True).logits
        expect = (plain(pos, fm, jm, lay, with_heads=True).logits + plain(fpos, fm, fjm, lay, with_heads=True).logits) / 2
        torch.testing.assert_close(both, expect)
        # the mirrored clip reads the same; the tokens for the LLM are not mirrored
        torch.testing.assert_close(tok(fpos, fm, fjm, lay, with_heads=True).logits, both, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(tok(pos, fm, jm, lay).sequence(), plain(pos, fm, jm, lay).sequence())
    tok.train()
    assert not torch.allclose(tok(pos, fm, jm, lay, with_heads=True).logits, both)   # training reads one view


# ---- augmentation ---------------------------------------------------------------------------------------
def np_batch(b=6, t=32, seed=0):
    pos = walking(b, t, seed).numpy()
    fm = np.ones((b, t), bool)
    fm[0, 20:] = False
    pos[0, 20:] = 0.0
    jm = np.ones((b, 23), bool)
    jm[1, U["l_hand"]] = False
    return pos, fm, jm


@pytest.mark.parametrize("name,fn,amount", [("rotate", A.rotate_yaw, 45.0), ("scale", A.scale, 0.2),
                                            ("speed", A.time_warp, 0.2), ("joints", A.drop_joints, 0.3)])
def test_each_augmentation_keeps_shapes_and_masks(name, fn, amount):
    pos, fm, jm = np_batch()
    before = pos.copy(), fm.copy(), jm.copy()
    p, f, j = fn(pos, fm, jm, np.random.default_rng(0), amount)
    for new, old in zip((p, f, j), (pos, fm, jm)):
        assert new.shape == old.shape and new.dtype == old.dtype
    for new, old in zip((pos, fm, jm), before):
        assert np.array_equal(new, old)                     # inputs untouched
    assert np.all(p[~f] == 0)                               # padding stays zero
    assert not np.array_equal(p, pos)                       # it did something
    if name == "speed":
        assert np.all(f.sum(1) >= 1) and np.all(f.sum(1) <= fm.sum(1) / 0.8 + 1)
        assert np.all(f[:, :1]) and not np.any(f[:, 1:] & ~f[:, :-1])        # still left-aligned, no holes
    else:
        assert np.array_equal(f, fm)
    if name == "joints":
        assert np.all(j <= jm) and j[:, U["pelvis"]].all() and (j != jm).any()
        dropped = np.argwhere(jm & ~j)
        for b, k in dropped:
            np.testing.assert_allclose(p[b, :, k], p[b, :, UNIFIED.parents[k]])
    else:
        assert np.array_equal(j, jm)


def test_augmentations_at_zero_are_the_identity_and_rotation_is_rigid():
    pos, fm, jm = np_batch()
    rng = np.random.default_rng(1)
    for fn in (A.rotate_yaw, A.scale, A.time_warp, A.drop_joints):
        p, f, j = fn(pos, fm, jm, rng, 0.0)
        np.testing.assert_allclose(p, pos, atol=1e-5)
        assert np.array_equal(f, fm) and np.array_equal(j, jm)
    p, _, _ = A.rotate_yaw(pos, fm, jm, rng, 180.0)
    np.testing.assert_allclose(p[..., 1], pos[..., 1], atol=1e-5)            # about the vertical
    d = lambda x: np.linalg.norm(x[:, :, :, None] - x[:, :, None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(p), d(pos), atol=1e-4)
    p, f, j = A.augment_batch(pos, fm, jm, rng, rotate=30, scale_amount=0.1, speed=0.1, joint_dropout=0.1)
    assert p.shape == pos.shape and f.shape == fm.shape and j.shape == jm.shape


# ---- the tokenizer with the front-end ---------------------------------------------------------------------
def test_conv_tokenizer_token_counts_and_round_trip(tmp_path):
    cfg = conv_config()
    tok = SkeletonTokenizer(cfg)
    pos = walking(b=4)
    fm, jm = torch.ones(4, 32, dtype=torch.bool), torch.ones(4, 23, dtype=torch.bool)
    tok.frontend.fit_standardisation(pos, fm, jm)
    assert tok.frontend.feature_mean.abs().sum() > 0 and not torch.allclose(tok.frontend.feature_std, torch.ones(1))
    tok.eval()
    out = tok(pos, fm, jm, with_heads=True)
    assert out.spatio_temporal.shape == (4, cfg.num_segments * cfg.num_parts, 32)
    assert out.semantic.shape == (4, 3, 32) and out.sequence().shape == (4, cfg.num_tokens, 32)
    assert out.logits.shape == (4, 3)
    tok.save_pretrained(tmp_path / "tok")
    assert json.loads((tmp_path / "tok" / "config.json").read_text())["frontend"] == "conv"
    back = SkeletonTokenizer.from_pretrained(tmp_path / "tok")
    torch.testing.assert_close(back.frontend.feature_std, tok.frontend.feature_std)
    again = back(pos, fm, jm, with_heads=True)
    torch.testing.assert_close(again.sequence(), out.sequence())
    torch.testing.assert_close(again.logits, out.logits)


def test_conv_tokenizer_ignores_padding_and_absent_joints():
    tok = SkeletonTokenizer(conv_config()).eval()
    pos = walking(b=2)
    fm, jm = torch.ones(2, 32, dtype=torch.bool), torch.ones(2, 23, dtype=torch.bool)
    fm[:, 24:] = False
    jm[:, U["l_hand"]] = False
    ref = tok(pos, fm, jm, with_heads=True)
    pos2 = pos.clone()
    pos2[:, 24:] = 99.0
    pos2[:, :, U["l_hand"]] += 5.0
    out = tok(pos2, fm, jm, with_heads=True)
    torch.testing.assert_close(out.sequence(), ref.sequence())
    torch.testing.assert_close(out.logits, ref.logits)


def test_joints_outside_the_trained_set_are_read_as_absent(tmp_path):
    """A joint no training window had (the Bandai rig's hands, which a Kinect file provides) must not reach the
    model: its standardisation was never fitted, and scaled by the std floor it drove every clip to one label."""
    trained = [n for n in UNIFIED.joint_names if n not in ("l_hand", "r_hand")]
    tok = SkeletonTokenizer(conv_config(trained_joints=trained))
    pos = walking(b=4)
    fm = torch.ones(4, 32, dtype=torch.bool)
    without = torch.ones(4, 23, dtype=torch.bool)
    without[:, [U["l_hand"], U["r_hand"]]] = False
    tok.frontend.fit_standardisation(pos, fm, without)
    assert tok.frontend.feature_std[U["l_hand"] * 6] == pytest.approx(1e-4)      # never seen: the floor
    tok.eval()
    ref = tok(pos, fm, without, with_heads=True)
    hands = pos.clone()
    hands[:, :, U["l_hand"]] += 0.3
    out = tok(hands, fm, torch.ones(4, 23, dtype=torch.bool), with_heads=True)   # a rig that has hands
    torch.testing.assert_close(out.logits, ref.logits)
    torch.testing.assert_close(out.sequence(), ref.sequence())
    tok.save_pretrained(tmp_path / "tok")
    assert SkeletonTokenizer.from_pretrained(tmp_path / "tok").config.trained_joints == trained
    plain = SkeletonTokenizer(conv_config()).eval()                              # older models: every joint counts
    assert plain.config.trained_joints is None and bool(plain.trained_joint_mask.all())
    with pytest.raises(ValueError, match="trained_joints"):
        conv_config(trained_joints=["l_paw"])


def test_defaults_keep_the_plain_tokenizer_and_bad_frontend_is_refused():
    tok = SkeletonTokenizer(SkeletonTokenizerConfig())
    assert tok.frontend is None and not any(k.startswith("frontend") for k in tok.state_dict())
    with pytest.raises(ValueError, match="frontend must be"):
        SkeletonTokenizerConfig(frontend="cnn")


def test_short_stage1_with_the_front_end_and_augmentation_learns(tmp_path):
    from accelerate import Accelerator

    from eai_llm.training.recipe import load_recipe
    from eai_llm.training.train import stage1_tokenizer

    recipe = load_recipe(ROOT / "configs" / "tiny.yaml", [
        f"output_dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}", "model.tokenizer.frontend=conv",
        "model.tokenizer.frontend_channels=16", "model.tokenizer.test_mirror=true", "stage1.epochs=12",
        "stage1.label_smoothing=0.1", "stage1.augment_rotate=30", "stage1.augment_scale=0.1",
        "stage1.augment_speed=0.1", "stage1.augment_joint_dropout=0.05"])
    out = recipe.resolve(recipe.output_dir)
    out.mkdir(parents=True)
    tok, speed = stage1_tokenizer(recipe, out, Accelerator(cpu=True), resume=False, progress=False)
    assert tok.frontend is not None and speed["steps"] > 0
    assert tok.frontend.feature_std.ne(1.0).any()                       # standardisation fitted on the windows
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    loss = [r["classification"] for r in rows if r["stage"] == 1]
    assert np.mean(loss[-4:]) < 0.8 * np.mean(loss[:4])
    saved = SkeletonTokenizer.from_pretrained(out / "checkpoints" / "stage1_tokenizer")
    torch.testing.assert_close(saved.frontend.feature_mean, tok.frontend.feature_mean)
    # stage 1 records the joints its windows had (the synthetic rig of configs/tiny.yaml has no hands)
    assert saved.config.trained_joints == tok.config.trained_joints
    assert "pelvis" in tok.config.trained_joints and len(tok.config.trained_joints) <= UNIFIED.num_joints
