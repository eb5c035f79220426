"""The ε-model: a small time-conditioned UNet sized for speed on a 2-core CPU.

Shape of the network (defaults), for 1×28×28 MNIST digits:

    x [B, 1, 28, 28] ─pixel-unshuffle(2)→ [B, 4, 14, 14] ─conv→ 14×14×C0
      level 0 (14×14): residual blocks ── skip ─────────────────────────┐
      ─stride-2 conv→ level 1 (7×7): residual blocks (+ self-attention) ─ skip ─┐
      middle (7×7): residual block, attention, residual block                   │
      level 1 up: residual blocks on [h, skip] ←────────────────────────────────┘
      ─nearest ×2 + conv→ level 0 up: residual blocks on [h, skip] ←───┘
      ─norm, SiLU, conv→ [B, 4, 14, 14] ─pixel-shuffle(2)→ ε̂ [B, 1, 28, 28]

Working at 14×14 and 7×7 after a lossless pixel-unshuffle stem costs a quarter of the FLOPs of a
28×28 first level, and at batch 16 on two cores per-op overhead matters as much as FLOPs, so the
network has few, wide-enough layers, and all blocks' time projections are one matrix product.

The model takes ``(x_t, t)`` with x_t [B, C, H, W] and t a LongTensor [B] of 0-based timestep
indices (index 0 is the paper's t = 1), and returns a tensor shaped like x_t, or with 2C channels
when it also learns the variance (``learn_sigma``: the prediction first, then the variance values
of :meth:`ddpm.diffusion.GaussianDiffusion.learned_log_variance`).

A class-conditional model (``num_classes`` > 0) also takes labels y, a LongTensor [B] in
0 … num_classes, where ``num_classes`` itself is the **null label** "no class given"; their
embedding is added to the time embedding (Dhariwal & Nichol 2021), and training that drops the
label now and then (the null label in its place) makes one network both p_θ(x_{t−1} | x_t) and
p_θ(x_{t−1} | x_t, y), as classifier-free guidance needs (Ho & Salimans 2022).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .choices import PARAMETERIZATIONS, check_choice


@dataclass
class UNetConfig:
    """Everything that defines the network's shape; saved with every checkpoint."""

    image_size: int = 28  # height = width of the input images
    in_channels: int = 1  # 1 for grayscale digits
    stem_factor: int = 2  # pixel-unshuffle factor of the stem: 28×28×1 -> 14×14×4
    channels: tuple[int, ...] = (32, 64)  # width of each level, finest first
    blocks_per_level: int = 1  # residual blocks per level on the way down (one more on the way up)
    attention_levels: tuple[int, ...] = (1,)  # levels with self-attention (0 = finest)
    middle_attention: bool = True  # self-attention between the two middle blocks
    heads: int = 4  # attention heads
    time_dim: int = 128  # width of the time embedding
    groups: int = 8  # GroupNorm groups
    dropout: float = 0.0  # dropout inside residual blocks (training only)
    timesteps: int = 1000  # T: used to scale the sinusoidal embedding of t
    parameterization: str = "eps"  # what the network outputs: one of ddpm.choices.PARAMETERIZATIONS
    num_classes: int = 0  # class labels it takes (0: unconditional); label num_classes is the null label
    learn_sigma: bool = False  # also output the variance values of σ² = "learned_range" (2C channels)
    extra: dict = field(default_factory=dict)  # free-form notes kept with the config

    def __post_init__(self) -> None:
        check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        self.channels = tuple(int(c) for c in self.channels)
        self.attention_levels = tuple(int(level) for level in self.attention_levels)
        if self.image_size % (self.stem_factor * 2 ** (len(self.channels) - 1)):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by stem_factor × 2^(levels − 1) = "
                f"{self.stem_factor * 2 ** (len(self.channels) - 1)}"
            )
        for c in (*self.channels, self.time_dim):
            if c % self.groups:
                raise ValueError(f"width {c} is not divisible by groups={self.groups}")
        if any(not 0 <= level < len(self.channels) for level in self.attention_levels):
            raise ValueError(f"attention_levels {self.attention_levels} must index channels {self.channels}")
        classes = self.num_classes
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 0:
            raise ValueError(f"num_classes must be a whole number ≥ 0, got {self.num_classes!r}")

    @property
    def variance(self) -> str:
        """The σ² of p_θ this network was trained for: ``"learned_range"`` or the fixed β̃_t."""
        return "learned_range" if self.learn_sigma else "fixed_small"

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> UNetConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown UNetConfig fields {sorted(unknown)}")
        return cls(**data)


def timestep_frequencies(dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The embedding's dim // 2 frequencies 10000^(−j / (dim/2)), float32 [dim // 2]."""
    half = dim // 2
    return torch.exp(-math.log(10_000.0) * torch.arange(half, device=device, dtype=torch.float32) / half)


def timestep_embedding(t: torch.Tensor, dim: int, timesteps: int = 1000) -> torch.Tensor:
    """Sinusoidal embedding of 0-based indices t [B] -> [B, dim] (Vaswani et al.; Ho et al. §4).

    t is scaled to [0, 1000) whatever T is, so the frequencies suit any schedule length.
    """
    freqs = timestep_frequencies(dim, t.device)
    args = (t.float() * (1000.0 / timesteps))[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv3×3 (+ time bias) → GroupNorm → SiLU → dropout → conv3×3, plus skip."""

    def __init__(self, c_in: int, c_out: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.out_channels = c_out

    def forward(self, x: torch.Tensor, time_bias: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + time_bias[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the pixels of a low-resolution feature map, residual."""

    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        d = c // self.heads
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, d, h * w).unbind(1)
        # plain matmuls: on CPU they beat scaled_dot_product_attention's fallback at 49 tokens
        weights = torch.softmax(q.transpose(-1, -2) @ k * d**-0.5, dim=-1)  # [B, heads, hw, hw]
        out = v @ weights.transpose(-1, -2)  # [B, heads, d, hw]
        return x + self.out(out.reshape(b, c, h, w))


class UNet(nn.Module):
    """ε_θ(x_t, t): [B, C, H, W], LongTensor [B] -> [B, C, H, W]. See the module docstring."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        c_stem = cfg.in_channels * cfg.stem_factor**2
        self.time_mlp = nn.Sequential(
            nn.Linear(cfg.time_dim, 4 * cfg.time_dim),
            nn.SiLU(),
            nn.Linear(4 * cfg.time_dim, 4 * cfg.time_dim),
        )
        # one row per class and one for the null label (the last); added to the time embedding
        self.label_emb = nn.Embedding(cfg.num_classes + 1, 4 * cfg.time_dim) if cfg.num_classes else None
        self.stem = nn.Conv2d(c_stem, cfg.channels[0], 3, padding=1)

        blocks: list[ResBlock] = []

        def block(c_in: int, c_out: int) -> int:
            blocks.append(ResBlock(c_in, c_out, cfg.groups, cfg.dropout))
            return len(blocks) - 1

        self.down_plan: list[list[int]] = []
        self.downsample = nn.ModuleList()
        skips = [cfg.channels[0]]
        c = cfg.channels[0]
        for level, width in enumerate(cfg.channels):
            level_blocks = []
            for _ in range(cfg.blocks_per_level):
                level_blocks.append(block(c, width))
                c = width
                skips.append(c)
            self.down_plan.append(level_blocks)
            if level + 1 < len(cfg.channels):
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.middle = [block(c, c), block(c, c)]
        self.middle_attn = Attention(c, cfg.heads, cfg.groups) if cfg.middle_attention else None
        self.up_plan: list[list[int]] = []
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(cfg.channels))):
            width = cfg.channels[level]
            level_blocks = []
            for _ in range(cfg.blocks_per_level + 1):
                level_blocks.append(block(c + skips.pop(), width))
                c = width
            self.up_plan.append(level_blocks)
            if level > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
        self.blocks = nn.ModuleList(blocks)
        self.attn = nn.ModuleDict(
            {
                str(level): Attention(cfg.channels[level], cfg.heads, cfg.groups)
                for level in cfg.attention_levels
            }
        )
        # one matrix product gives every block its per-channel time bias
        self.time_proj = nn.Linear(4 * cfg.time_dim, sum(b.out_channels for b in blocks))
        self.time_splits = [b.out_channels for b in blocks]
        self.out_norm = nn.GroupNorm(cfg.groups, c)
        self.out_conv = nn.Conv2d(c, cfg.out_channels * cfg.stem_factor**2, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x_t [B, C, H, W], t LongTensor [B], labels y LongTensor [B] or None -> [B, out_channels, H, W]."""
        return self.denoise(x, self.time_rows(t, y))

    def null_labels(self, batch: int, device: torch.device | str) -> torch.Tensor:
        """The null label ("no class given") for a batch: LongTensor [batch] of ``num_classes``."""
        return torch.full((batch,), self.config.num_classes, dtype=torch.long, device=device)

    def time_rows(self, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Every block's bias for 0-based indices t [B] (and labels y [B]), concatenated: [B, Σ widths].

        It depends on (t, y) alone, so inference can look it up in a table of all T (× classes)
        rows (:class:`ddpm.inference.InferenceUNet`) instead of running the time MLP at every step.
        An unconditional model ignores y; a conditional one takes y = None as the null label.
        """
        cfg = self.config
        emb = self.time_mlp(timestep_embedding(t, cfg.time_dim, cfg.timesteps))
        if self.label_emb is not None:
            emb = emb + self.label_emb(self.null_labels(len(t), t.device) if y is None else y)
        return self.time_proj(F.silu(emb))

    def denoise(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The network body: x_t [B, C, H, W] and ``time_rows(t)`` [B, Σ widths] -> [B, C, H, W]."""
        cfg = self.config
        biases = rows.split(self.time_splits, dim=1)
        h = self.stem(F.pixel_unshuffle(x, cfg.stem_factor))
        skips = [h]
        for level, plan in enumerate(self.down_plan):
            for i in plan:
                h = self.blocks[i](h, biases[i])
                if str(level) in self.attn:
                    h = self.attn[str(level)](h)
                skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                skips.append(h)
        h = self.blocks[self.middle[0]](h, biases[self.middle[0]])
        if self.middle_attn is not None:
            h = self.middle_attn(h)
        h = self.blocks[self.middle[1]](h, biases[self.middle[1]])
        for k, plan in enumerate(self.up_plan):
            level = len(self.up_plan) - 1 - k
            for i in plan:
                h = self.blocks[i](torch.cat([h, skips.pop()], dim=1), biases[i])
                if str(level) in self.attn:
                    h = self.attn[str(level)](h)
            if level > 0:
                h = self.upsample[k](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.out_conv(F.silu(self.out_norm(h)))
        return F.pixel_shuffle(h, cfg.stem_factor)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
