"""Multi-granularity skeleton tokenizer (MGST) with unified skeleton tokens (UST).

Input: unified, normalised windows ``positions (B, T, 23, 3)`` with ``frame_mask (B, T)`` (False = padding),
``joint_mask (B, 23)`` (False = the source layout lacks the joint) and ``layout_ids (B,)``.

1. **UST embedding.** Each joint's per-frame features (position and velocity) are cut into time
   segments of ``segment`` frames and embedded linearly. A *per-layout* joint embedding (one row per
   layout x unified joint) tells the encoder which skeleton the token came from, so datasets with
   different rigs share one token space; absent joints and padded segments are masked out of every
   attention and pooling step.
2. **Encoder.** ``depth`` factorised blocks: attention over joints within a segment (spatial), then
   attention over segments for each joint (temporal).
3. **Two granularities.**
   - *spatio-temporal tokens*: the joints of each body part (torso, head, arms, legs) pooled per time
     segment -> ``num_segments x num_parts`` fine tokens;
   - *semantic tokens*: ``num_semantic`` learned queries cross-attending over all joint-segment tokens
     (Perceiver / Q-Former style) -> a few coarse summary tokens, aligned with language in stage 1.

Saved as a directory (``config.json`` + ``model.safetensors``), loaded with
:meth:`SkeletonTokenizer.from_pretrained`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from ..skeleton.layouts import BODY_PARTS, UNIFIED, list_layouts

__all__ = ["SkeletonTokenizerConfig", "SkeletonTokenizer", "SkeletonTokens"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class SkeletonTokenizerConfig:
    """Sizes and switches of the skeleton tokenizer (everything needed to rebuild it)."""

    window: int = 64                      # frames per window (after resampling)
    segment: int = 16                     # frames per time segment -> window // segment segments
    dim: int = 128
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    num_semantic: int = 4
    use_spatio_temporal: bool = True
    use_semantic: bool = True
    use_statistics: bool = False          # condition the semantic queries on whole-window motion statistics
    # "conv": body-frame features + dilated temporal convolutions before the tokens (tokenizer/frontend.py)
    frontend: str = "none"
    frontend_channels: int = 64
    frontend_kernel: int = 5
    frontend_dilations: list[int] = field(default_factory=lambda: [1, 2, 4])
    frontend_dropout: float = 0.3
    test_mirror: bool = False             # eval-mode head logits averaged with the left/right mirrored window
    layouts: list[str] = field(default_factory=lambda: list_layouts())
    body_parts: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in BODY_PARTS.items()})
    labels: list[str] = field(default_factory=list)   # auxiliary classification head (empty = none)
    # unified joints present in the training windows (stage 1 records them); a joint outside this set is read as
    # absent, since nothing in the model learnt from it (e.g. Kinect hands on a wrist-ended rig). None = all
    trained_joints: list[str] | None = None
    text_dim: int = 384                   # width of the text encoder the semantic tokens align with
    num_joints: int = UNIFIED.num_joints

    def __post_init__(self) -> None:
        if self.window % self.segment:
            raise ValueError(f"window ({self.window}) must be a multiple of segment ({self.segment})")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.frontend not in ("none", "conv"):
            raise ValueError(f"frontend must be 'none' or 'conv', got {self.frontend!r}")
        if not (self.use_spatio_temporal or self.use_semantic):
            raise ValueError("at least one of use_spatio_temporal / use_semantic must be on")
        for part, joints in self.body_parts.items():
            unknown = [j for j in joints if j not in UNIFIED.index]
            if unknown:
                raise ValueError(f"body part {part!r}: unknown unified joints {unknown}")
        unknown = [j for j in self.trained_joints or () if j not in UNIFIED.index]
        if unknown:
            raise ValueError(f"trained_joints: unknown unified joints {unknown}")

    @property
    def num_segments(self) -> int:
        return self.window // self.segment

    @property
    def num_parts(self) -> int:
        return len(self.body_parts)

    @property
    def num_tokens(self) -> int:
        """Skeleton tokens handed to the LLM per window."""
        n = self.num_segments * self.num_parts if self.use_spatio_temporal else 0
        return n + (self.num_semantic if self.use_semantic else 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "SkeletonTokenizerConfig":
        from ..configutil import dataclass_from_dict

        return dataclass_from_dict(cls, data, source)


@dataclass
class SkeletonTokens:
    """Output of the tokenizer: fine and coarse tokens and the masks the LLM splice needs."""

    spatio_temporal: torch.Tensor | None    # (B, S*P, D)
    semantic: torch.Tensor | None           # (B, K, D)
    pooled: torch.Tensor                    # (B, D): summary used for alignment / the linear head
    aligned: torch.Tensor | None = None     # (B, text_dim) unit vectors (with_heads=True)
    logits: torch.Tensor | None = None      # (B, num_labels) auxiliary classification (with_heads=True)

    def sequence(self) -> torch.Tensor:
        """All tokens for the LLM, fine first then coarse: (B, N, D)."""
        parts = [t for t in (self.spatio_temporal, self.semantic) if t is not None]
        return torch.cat(parts, dim=1)


class _Block(nn.Module):
    """Pre-norm attention + MLP over the second-to-last axis of (N, L, D) with a key mask (N, L)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # rows with no valid key at all (e.g. a fully padded segment) attend to everything instead of NaN
        keep = mask | ~mask.any(dim=1, keepdim=True)
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=~keep, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class _CrossBlock(nn.Module):
    """Learned queries attending over a token set (Perceiver / Q-Former style)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, q: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        kvn = self.norm_kv(kv)
        q = q + self.attn(self.norm_q(q), kvn, kvn, key_padding_mask=~mask, need_weights=False)[0]
        return q + self.mlp(self.norm2(q))


def mirror_windows(positions: torch.Tensor, joint_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left/right mirror of unified windows (x negated, left and right joints swapped), as ``unify.mirror``."""
    perm = torch.as_tensor(UNIFIED.mirror_permutation, device=positions.device)
    flipped = positions[:, :, perm] * positions.new_tensor([-1.0, 1.0, 1.0])
    return flipped, joint_mask[:, perm]


def _masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    w = mask.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(dim) / w.sum(dim).clamp_min(1.0)


class SkeletonTokenizer(nn.Module):
    """MGST encoder + UST embedding. See the module docstring."""

    FEATURES = 9  # pose, root trajectory and velocity per joint and frame (see _features)
    STATS = 10    # per joint: mean and std over time of the pose (3 + 3), of the speed and of the acceleration

    def __init__(self, config: SkeletonTokenizerConfig):
        super().__init__()
        self.config = c = config
        self.layout_index = {name: i for i, name in enumerate(c.layouts)}
        self.segment_embed = nn.Linear(c.segment * self.FEATURES, c.dim)
        self.joint_embed = nn.Parameter(torch.randn(len(c.layouts), c.num_joints, c.dim) * 0.02)
        self.time_embed = nn.Parameter(torch.randn(c.num_segments, c.dim) * 0.02)
        self.spatial = nn.ModuleList([_Block(c.dim, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.depth)])
        self.temporal = nn.ModuleList([_Block(c.dim, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.depth)])
        self.norm = nn.LayerNorm(c.dim)
        part_matrix = torch.zeros(c.num_parts, c.num_joints)
        for p, joints in enumerate(c.body_parts.values()):
            for j in joints:
                part_matrix[p, UNIFIED.index[j]] = 1.0
        self.register_buffer("part_matrix", part_matrix, persistent=False)
        trained = torch.ones(c.num_joints, dtype=torch.bool)
        if c.trained_joints is not None:
            trained[:] = False
            trained[[UNIFIED.index[j] for j in c.trained_joints]] = True
        self.register_buffer("trained_joint_mask", trained, persistent=False)
        self.part_embed = nn.Parameter(torch.randn(c.num_parts, c.dim) * 0.02)
        self.queries = nn.Parameter(torch.randn(c.num_semantic, c.dim) * 0.02)
        n_stats = c.num_joints * self.STATS
        # per-feature standardisation with running statistics of the training windows (saved with the weights)
        self.stats_embed = nn.Sequential(nn.BatchNorm1d(n_stats, affine=False), nn.Dropout(c.dropout),
                                         nn.Linear(n_stats, c.dim)) if c.use_statistics else None
        self.frontend = None
        if c.frontend == "conv":
            from .frontend import ConvFrontend

            self.frontend = ConvFrontend(c.num_joints, c.dim, c.frontend_channels, c.frontend_kernel,
                                         tuple(c.frontend_dilations), c.frontend_dropout)
        self.cross = _CrossBlock(c.dim, c.heads, c.mlp_ratio, c.dropout)
        self.out_norm = nn.LayerNorm(c.dim)
        self.align_proj = nn.Linear(c.dim, c.text_dim)
        self.classifier = nn.Linear(c.dim, len(c.labels)) if c.labels else None

    # ---- inputs -----------------------------------------------------------------------------
    def layout_ids(self, names: list[str]) -> torch.Tensor:
        """Layout names -> embedding rows; a layout the tokenizer has not seen uses the unified row."""
        fallback = self.layout_index.get("unified", 0)
        return torch.tensor([self.layout_index.get(n, fallback) for n in names], dtype=torch.long)

    def _features(self, positions: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, J, 3) -> (B, T, J, 9): pose, root trajectory and velocity, in the window's own body frame.

        Each window is turned about Y so that the body faces +Z at its first frame (hips + shoulders) and
        moved so that its first-frame pelvis is at the horizontal origin. Features per joint and frame:
        the pose relative to that frame's pelvis (posture, independent of where the body is), the pelvis
        trajectory (where the body goes; broadcast to every joint) and the joint velocity (x10, per frame).
        """
        u = UNIFIED.index
        first = positions[:, 0]
        lat = (first[:, u["l_hip"]] - first[:, u["r_hip"]]) + (first[:, u["l_shoulder"]] - first[:, u["r_shoulder"]])
        yaw = torch.atan2(-lat[:, 2], lat[:, 0])          # forward = lateral x up; yaw of forward is atan2(fx, fz)
        c, s_ = torch.cos(-yaw), torch.sin(-yaw)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        rot = torch.stack([torch.stack([c, zero, s_], -1), torch.stack([zero, one, zero], -1),
                           torch.stack([-s_, zero, c], -1)], -2)                          # (B, 3, 3) about Y
        floor_plane = torch.tensor([1.0, 0.0, 1.0], device=positions.device, dtype=positions.dtype)
        pos = positions - first[:, None, :1, :] * floor_plane
        pos = torch.einsum("bij,btkj->btki", rot, pos)
        pelvis = pos[:, :, u["pelvis"] : u["pelvis"] + 1]
        vel = torch.zeros_like(pos)
        vel[:, 1:] = (pos[:, 1:] - pos[:, :-1]) * (frame_mask[:, 1:] & frame_mask[:, :-1])[..., None, None]
        return torch.cat([pos - pelvis, pelvis.expand_as(pos), vel * 10.0], dim=-1)

    def _statistics(self, feats: torch.Tensor, frame_mask: torch.Tensor, joint_mask: torch.Tensor) -> torch.Tensor:
        """(B, J*10) whole-window statistics per joint: posture (mean/std of the pelvis-relative pose), speed, acceleration.

        Global over time, so they do not depend on where a gait cycle starts in the window: a robust summary
        that complements the segment tokens (absent joints and padded frames are masked out).
        """
        w = frame_mask.to(feats.dtype)[:, :, None, None]
        n = w.sum(1).clamp_min(1.0)
        pose, vel = feats[..., :3], feats[..., 6:9]
        speed = vel.norm(dim=-1, keepdim=True)
        accel = torch.zeros_like(speed)
        accel[:, 1:] = (vel[:, 1:] - vel[:, :-1]).norm(dim=-1, keepdim=True) * w[:, 1:] * w[:, :-1]
        parts = []
        for v in (pose, speed, accel):
            mean = (v * w).sum(1) / n
            std = (((v - mean[:, None]) ** 2 * w).sum(1) / n).clamp_min(1e-8).sqrt()
            parts += [mean, std]
        stats = torch.cat(parts, dim=-1) * joint_mask[..., None].to(feats.dtype)        # (B, J, 10)
        return rearrange(stats, "b j k -> b (j k)")

    # ---- forward ----------------------------------------------------------------------------
    def encode(self, positions: torch.Tensor, frame_mask: torch.Tensor, joint_mask: torch.Tensor,
               layout_ids: torch.Tensor | None = None) -> SkeletonTokens:
        c = self.config
        b, t, j, _ = positions.shape
        if t != c.window or j != c.num_joints:
            raise ValueError(f"expected windows of shape (B, {c.window}, {c.num_joints}, 3), got {tuple(positions.shape)}")
        frame_mask = frame_mask.bool()
        joint_mask = joint_mask.bool() & self.trained_joint_mask.to(positions.device)
        if layout_ids is None:
            layout_ids = torch.full((b,), self.layout_index.get("unified", 0), dtype=torch.long)
        layout_ids = layout_ids.to(positions.device)
        feats = self._features(positions * frame_mask[..., None, None], frame_mask)
        x = self.segment_embed(rearrange(feats, "b (s f) j c -> b s j (f c)", f=c.segment))
        x = x + self.joint_embed[layout_ids][:, None] + self.time_embed[None, :, None]
        front = None
        if self.frontend is not None:
            front, context = self.frontend(positions * frame_mask[..., None, None], frame_mask, joint_mask, c.segment)
            x = x + context[:, :, None]
        seg_mask = rearrange(frame_mask, "b (s f) -> b s f", f=c.segment).any(-1)         # (B, S)
        tok_mask = seg_mask[:, :, None] & joint_mask[:, None, :]                            # (B, S, J)
        s = c.num_segments
        for spatial, temporal in zip(self.spatial, self.temporal):
            x = rearrange(spatial(rearrange(x, "b s j d -> (b s) j d"),
                                  repeat(joint_mask, "b j -> (b s) j", s=s)), "(b s) j d -> b s j d", b=b)
            x = rearrange(temporal(rearrange(x, "b s j d -> (b j) s d"),
                                   repeat(seg_mask, "b s -> (b j) s", j=j)), "(b j) s d -> b s j d", b=b)
        x = self.norm(x) * tok_mask[..., None]

        st = None
        if c.use_spatio_temporal:
            w = self.part_matrix[None, None] * tok_mask[:, :, None, :].to(x.dtype)            # (B, S, P, J)
            parts = torch.einsum("bspj,bsjd->bspd", w, x) / w.sum(-1, keepdim=True).clamp_min(1.0)
            st = rearrange(self.out_norm(parts + self.part_embed), "b s p d -> b (s p) d")
        sem = None
        flat_mask = rearrange(tok_mask, "b s j -> b (s j)")
        summary = self.stats_embed(self._statistics(feats, frame_mask, joint_mask)) if self.stats_embed else None
        if front is not None:
            summary = front if summary is None else summary + front
        if c.use_semantic:
            q = repeat(self.queries, "k d -> b k d", b=b)
            if summary is not None:
                q = q + summary[:, None]
            sem = self.out_norm(self.cross(q, rearrange(x, "b s j d -> b (s j) d"), flat_mask))
            pooled = sem.mean(dim=1)
            if front is not None:   # a direct path: the linear head reads the convolutions' summary unnormalised
                pooled = pooled + front
        else:
            pooled = _masked_mean(rearrange(x, "b s j d -> b (s j) d"), flat_mask, dim=1)
            if summary is not None:
                pooled = pooled + summary
        return SkeletonTokens(st, sem, pooled)

    def forward(self, positions: torch.Tensor, frame_mask: torch.Tensor, joint_mask: torch.Tensor,
                layout_ids: torch.Tensor | None = None, with_heads: bool = False) -> SkeletonTokens:
        """Tokens; ``with_heads`` also fills the alignment embedding and the classifier logits (stage 1)."""
        tokens = self.encode(positions, frame_mask, joint_mask, layout_ids)
        if with_heads:
            tokens.aligned = self.align_embedding(tokens)
            tokens.logits = self.classifier(tokens.pooled) if self.classifier is not None else None
            if self.config.test_mirror and not self.training and tokens.logits is not None:
                flipped, flipped_mask = mirror_windows(positions, joint_mask)
                tokens.logits = (tokens.logits + self.classify(self.encode(flipped, frame_mask, flipped_mask,
                                                                           layout_ids))) / 2
        return tokens

    def align_embedding(self, tokens: SkeletonTokens) -> torch.Tensor:
        """(B, text_dim) unit vectors of the pooled semantic summary, for contrastive alignment."""
        return F.normalize(self.align_proj(tokens.pooled), dim=-1)

    def classify(self, tokens: SkeletonTokens) -> torch.Tensor:
        if self.classifier is None:
            raise ValueError("this skeleton tokenizer has no classification head (config.labels is empty)")
        return self.classifier(tokens.pooled)

    # ---- persistence ------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2))
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(path / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "SkeletonTokenizer":
        """Load strictly: safetensors only, every weight present with the shape the saved config implies, or
        a one-line :class:`~eai_llm.model.weights.ModelLoadError` naming the folder, the file and the problem."""
        from ..model.weights import MissingModelFile, ModelLoadError, check_tensors, read_safetensors, refuse_pickled

        path = Path(path)
        cfg_file, weights = path / CONFIG_NAME, path / WEIGHTS_NAME
        refuse_pickled(path)
        for f in (cfg_file, weights):
            if not f.is_file():
                raise MissingModelFile(f"{f}: missing, expected a skeleton-tokenizer directory with {CONFIG_NAME} "
                                       f"and {WEIGHTS_NAME}")
        try:
            data = json.loads(cfg_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ModelLoadError(f"{cfg_file}: not valid JSON ({err})") from None
        model = cls(SkeletonTokenizerConfig.from_dict(data, source=str(cfg_file)))
        state = read_safetensors(path, weights)
        check_tensors(path, weights, state, model.state_dict())
        model.load_state_dict(state, strict=True)
        model.eval()
        return model
