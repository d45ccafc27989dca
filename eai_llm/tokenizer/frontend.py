"""Temporal-convolution front-end of the skeleton tokenizer (``SkeletonTokenizerConfig.frontend = "conv"``).

Per frame, the clip is expressed in the body's own facing frame (:func:`body_frame_features`): joint positions
relative to the pelvis's floor position (pelvis height kept), turned about the vertical so that the body faces
+Z *at that frame*, divided by a posture-independent body length (bone lengths, not the pose's extent); their
velocities; the pelvis velocity in that frame and the yaw rate. Channels are standardised with statistics of the
training windows (:meth:`ConvFrontend.fit_standardisation`, saved with the weights), then three dilated 1-D
convolutions (BatchNorm, ReLU) run over time with every joint as input channels.

The front-end hands the tokenizer two things (see ``mgst.SkeletonTokenizer.encode``):

- a per-segment *context* (mean over the segment's frames, projected to the token width) added to every joint
  token of that segment, so the spatio-temporal tokens carry what the convolutions measured;
- a whole-window *summary* (masked mean + max over time, projected), which conditions the semantic queries and
  feeds the pooled summary the linear head and the alignment read.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from ..skeleton.layouts import UNIFIED

__all__ = ["body_frame_features", "ConvFrontend", "frontend_channels"]

_U = UNIFIED.index
# bones whose summed length is the body length: legs (mean of both sides) + pelvis-neck + neck-head
_LEG = (("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"))
_TRUNK = (("pelvis", "neck"), ("neck", "head"))


def frontend_channels(num_joints: int) -> int:
    """Input channels per frame: positions and velocities of every joint, pelvis velocity (3), yaw rate (1)."""
    return num_joints * 6 + 4


def _bone(pos: torch.Tensor, a: str, b: str) -> torch.Tensor:
    return (pos[:, :, _U[a]] - pos[:, :, _U[b]]).norm(dim=-1)                      # (B, T)


def body_length(positions: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """(B,) posture-independent body length: mean over valid frames of the leg chain + trunk bone lengths."""
    w = frame_mask.to(positions.dtype)
    legs = sum(_bone(positions, a, b) for a, b in _LEG) / 2
    trunk = sum(_bone(positions, a, b) for a, b in _TRUNK)
    length = ((legs + trunk) * w).sum(1) / w.sum(1).clamp_min(1.0)
    return torch.where(length > 1e-4, length, torch.ones_like(length))


def body_frame_features(positions: torch.Tensor, frame_mask: torch.Tensor, joint_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, J, 3) unified windows -> (B, T, J*6 + 4) per-frame features in the body's own facing frame.

    Invariant to a rotation about the vertical, a horizontal translation and a uniform scale of the window.
    Padded frames and absent joints are zero (before standardisation; :class:`ConvFrontend` re-zeroes them after).
    """
    b, t, j, _ = positions.shape
    fm = frame_mask.to(positions.dtype)
    lat = (positions[:, :, _U["l_hip"]] - positions[:, :, _U["r_hip"]]
           + positions[:, :, _U["l_shoulder"]] - positions[:, :, _U["r_shoulder"]])
    yaw = torch.atan2(-lat[..., 2], lat[..., 0])                 # forward = lateral x up; 0 = facing +Z
    c, s = torch.cos(yaw), torch.sin(yaw)
    pelvis = positions[:, :, _U["pelvis"]]                       # (B, T, 3)
    rel = positions - pelvis[:, :, None] * positions.new_tensor([1.0, 0.0, 1.0])
    scale = body_length(positions, frame_mask)[:, None, None]

    def turn(v: torch.Tensor, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:   # rotate (B, T[, J], 3) by -yaw
        if v.dim() == 4:
            c, s = c[..., None], s[..., None]
        x, y, z = v.unbind(-1)
        return torch.stack([c * x - s * z, y, s * x + c * z], -1)

    pose = turn(rel, c, s) / scale[..., None]                          # (B, T, J, 3)
    pair = (frame_mask[:, 1:] & frame_mask[:, :-1]).to(positions.dtype)
    vel = torch.zeros_like(pose)
    vel[:, 1:] = (pose[:, 1:] - pose[:, :-1]) * pair[..., None, None]
    root_vel = torch.zeros_like(pelvis)
    root_vel[:, 1:] = turn(pelvis[:, 1:] - pelvis[:, :-1], c[:, 1:], s[:, 1:]) / scale * pair[..., None]
    dyaw = torch.zeros_like(yaw)
    step = yaw[:, 1:] - yaw[:, :-1]
    dyaw[:, 1:] = torch.atan2(torch.sin(step), torch.cos(step)) * pair
    jm = joint_mask.to(positions.dtype)[:, None, :, None]
    per_joint = torch.cat([pose, vel], -1) * jm                  # (B, T, J, 6)
    feats = torch.cat([rearrange(per_joint, "b t j c -> b t (j c)"), root_vel, dyaw[..., None]], -1)
    return feats * fm[..., None]


def channel_mask(frame_mask: torch.Tensor, joint_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, C) True where a feature channel of :func:`body_frame_features` is present."""
    b, t = frame_mask.shape
    per_joint = joint_mask[:, :, None].expand(b, joint_mask.shape[1], 6).reshape(b, -1)
    chans = torch.cat([per_joint, torch.ones(b, 4, dtype=torch.bool, device=joint_mask.device)], 1)
    return frame_mask[:, :, None] & chans[:, None, :]


class ConvFrontend(nn.Module):
    """Body-frame features -> standardised -> dilated temporal convolutions -> (summary, per-segment context)."""

    def __init__(self, num_joints: int, dim: int, channels: int = 64, kernel: int = 5,
                 dilations: tuple[int, ...] = (1, 2, 4), dropout: float = 0.3):
        super().__init__()
        n_in = frontend_channels(num_joints)
        # standardisation of the input channels, fitted on the training windows (saved with the weights)
        self.register_buffer("feature_mean", torch.zeros(n_in))
        self.register_buffer("feature_std", torch.ones(n_in))
        layers, width = [], n_in
        for d in dilations:
            layers += [nn.Conv1d(width, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2),
                       nn.BatchNorm1d(channels), nn.ReLU()]
            width = channels
        self.convs = nn.Sequential(*layers)
        self.summary = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * channels, dim))
        self.context = nn.Linear(channels, dim)

    def standardised(self, positions: torch.Tensor, frame_mask: torch.Tensor, joint_mask: torch.Tensor) -> torch.Tensor:
        feats = body_frame_features(positions, frame_mask, joint_mask)
        keep = channel_mask(frame_mask, joint_mask).to(feats.dtype)
        return (feats - self.feature_mean) / self.feature_std * keep

    @torch.no_grad()
    def fit_standardisation(self, positions: torch.Tensor, frame_mask: torch.Tensor, joint_mask: torch.Tensor,
                            batch: int = 256) -> None:
        """Per-channel mean and std over the valid frames (and present joints) of the training windows."""
        n_in = self.feature_mean.numel()
        total = torch.zeros(n_in, dtype=torch.float64)
        sq = torch.zeros(n_in, dtype=torch.float64)
        count = torch.zeros(n_in, dtype=torch.float64)
        for i in range(0, len(positions), batch):
            p, f, jm = positions[i:i + batch], frame_mask[i:i + batch].bool(), joint_mask[i:i + batch].bool()
            x = body_frame_features(p, f, jm).double()
            w = channel_mask(f, jm).double()
            total += (x * w).sum((0, 1))
            sq += (x * x * w).sum((0, 1))
            count += w.sum((0, 1))
        mean = total / count.clamp_min(1.0)
        var = (sq / count.clamp_min(1.0) - mean ** 2).clamp_min(0.0)
        self.feature_mean.copy_(mean.float())
        self.feature_std.copy_(var.sqrt().clamp_min(1e-4).float())

    def forward(self, positions: torch.Tensor, frame_mask: torch.Tensor, joint_mask: torch.Tensor,
                segment: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(summary (B, dim), context (B, T // segment, dim))."""
        x = self.standardised(positions, frame_mask, joint_mask)
        h = self.convs(rearrange(x, "b t c -> b c t"))                          # (B, C, T)
        w = frame_mask.to(h.dtype)[:, None, :]
        mean = (h * w).sum(-1) / w.sum(-1).clamp_min(1.0)
        peak = h.masked_fill(w == 0, float("-inf")).amax(-1)
        peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
        summary = self.summary(torch.cat([mean, peak], -1))
        hs = rearrange(h * w, "b c (s f) -> b s f c", f=segment).sum(2)
        ws = rearrange(w[:, 0], "b (s f) -> b s f", f=segment).sum(2, keepdim=True).clamp_min(1.0)
        return summary, self.context(hs / ws)
