"""MossFormer2 time-domain speech separation (Zhao et al., ICASSP 2024, "MossFormer2: Combining Transformer
and RNN-Free Recurrent Network for Enhanced Time-Domain Monaural Speech Separation").

Rewritten from the structure of the official code (modelscope/ClearerVoice-Studio,
``train/speech_separation/models/mossformer2/``): a convolutional encoder, a mask network of ``R`` layers,
each a MossFormer gated single-head attention block (official ``FLASH_ShareA_FFConvM``) followed by the
RNN-free recurrent module (:class:`recurrent.fsmn.GatedFSMNBlock`), and a transposed-convolution decoder.
The named config ``mossformer2`` has the published size (55.7 M parameters for 2 speakers, 56.0 M for 3);
official checkpoints load through :func:`audio.mossformer2.convert.convert_official`.

Conventions: waveforms are mono, float, at ``config.sample_rate`` (8 kHz unless configured), shaped
``(B, T)`` in and ``(B, S, T)`` out (``S = config.num_speakers``). Inside the mask network features are
``(B, N, L)`` (channels, then encoder frames: one frame per ``config.stride`` samples) and the layers work
on ``(B, L, N)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from recurrent.fsmn import FFConvM, GatedFSMNBlock
from recurrent.registry import make_config, register_model


@dataclass(frozen=True)
class MossFormer2Config:
    num_speakers: int = 2  # S, sources separated from one mixture
    channels: int = 512  # N, encoder filters = width of every layer
    kernel_size: int = 16  # encoder / decoder filter length in samples
    stride: int = 8  # encoder hop in samples (2 ms at 8 kHz)
    num_layers: int = 24  # R, attention + recurrent layers
    query_key_dim: int = 128  # shared query / key width of the single-head attention
    group_size: int = 256  # frames per local (quadratic) attention group
    expansion_factor: float = 4.0  # hidden width of the attention values and gates, times N
    rotary_dim: int = 32  # leading query / key features rotated by the rotary embedding (official min(32, qk))
    conv_kernel_size: int = 17  # depthwise kernel of every FFConvM
    fsmn_channels: int = 256  # bottleneck of the recurrent module (official: 256 at any N)
    fsmn_lorder: int = 20  # FSMN memory order
    fsmn_depth: int = 2  # dilated dense FSMN layers
    dropout: float = 0.1  # attention weights and every FFConvM output
    causal: bool = False  # causal attention, convolutions and FSMN inside the layers (not the GroupNorms)
    sample_rate: int = 8000  # Hz, the rate the weights expect

    def __post_init__(self):
        hidden = int(self.channels * self.expansion_factor)
        if self.num_speakers < 1:
            raise ValueError(f"num_speakers must be >= 1, got {self.num_speakers}")
        if self.channels % 2 or hidden % 2:
            raise ValueError(f"channels ({self.channels}) and channels * expansion_factor ({hidden}) must be even")
        if self.rotary_dim % 2 or not 0 <= self.rotary_dim <= self.query_key_dim:
            raise ValueError(f"rotary_dim must be even and <= query_key_dim, got {self.rotary_dim}")
        if not 0 < self.stride <= self.kernel_size:
            raise ValueError(f"need 0 < stride <= kernel_size, got stride={self.stride}, kernel={self.kernel_size}")
        if self.group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {self.group_size}")


class ScaleNorm(nn.Module):
    r"""ScaleNorm (Nguyen & Salazar 2019): :math:`g \, x / \max(\lVert x \rVert_2 / \sqrt{C}, \epsilon)`, one gain.

    Shape:
        (..., C) -> (..., C).
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale = dim**-0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class ScaledSinusoidalEmbedding(nn.Module):
    r"""Absolute position embedding ``scale · [sin(t ω), cos(t ω)]``, :math:`\omega_i = 10000^{-2i/C}`, one
    learned ``scale`` (init 1); ``t = 0 … L−1`` is the encoder frame index.

    Shape:
        ``forward(length)`` -> (length, C).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("inv_freq", 10000.0 ** (-torch.arange(0, dim, 2).float() / dim), persistent=False)

    def forward(self, length: int) -> torch.Tensor:
        angles = torch.arange(length, device=self.inv_freq.device, dtype=torch.float32)[:, None] * self.inv_freq
        return torch.cat((angles.sin(), angles.cos()), dim=-1) * self.scale


class RotaryEmbedding(nn.Module):
    r"""Rotary position embedding (Su et al. 2021) of the first ``dim`` features, as ``rotary_embedding_torch``.

    Feature pairs ``(2i, 2i+1)`` at frame ``t`` are rotated by the angle :math:`t\,\theta_i`,
    :math:`\theta_i = 10000^{-2i/\mathrm{dim}}`; features from ``dim`` on pass through. Rotated queries and keys
    then have dot products that depend on the frame offset only. The frequencies are a fixed, non-saved
    buffer (``rotary_embedding_torch`` stores them as a frozen ``nn.Parameter``).

    Shape:
        (..., T, D) -> (..., T, D), ``D >= dim``; the second-to-last axis is time.
    """

    def __init__(self, dim: int, theta: float = 10000.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"rotary dim must be even, got {dim}")
        self.dim = dim
        self.register_buffer("inv_freq", theta ** (-torch.arange(0, dim, 2).float() / dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = torch.promote_types(x.dtype, torch.float32)  # angles of long sequences need >= float32
        t = torch.arange(x.shape[-2], device=x.device, dtype=dtype)
        angles = t[:, None] * self.inv_freq.to(dtype)  # (T, dim/2)
        cos, sin = angles.cos(), angles.sin()
        pairs = x[..., : self.dim].to(dtype).unflatten(-1, (-1, 2))
        a, b = pairs[..., 0], pairs[..., 1]
        rotated = torch.stack((a * cos - b * sin, b * cos + a * sin), dim=-1).flatten(-2)
        return torch.cat((rotated.to(x.dtype), x[..., self.dim :]), dim=-1)


class OffsetScale(nn.Module):
    r"""``heads`` cheap views of one tensor: :math:`y_h = x \odot \gamma_h + \beta_h` (γ ~ N(0, 0.02²), β = 0).

    Shape:
        (..., D) -> (..., heads, D).
    """

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        self.gamma = nn.Parameter(torch.empty(heads, dim))
        self.beta = nn.Parameter(torch.zeros(heads, dim))
        nn.init.normal_(self.gamma, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-2) * self.gamma + self.beta


def _shift_groups(x: torch.Tensor) -> torch.Tensor:
    """(B, G, ...) -> same shape, group g holding input group g − 1 (zeros in group 0)."""
    return torch.cat((torch.zeros_like(x[:, :1]), x[:, :-1]), dim=1)


def joint_attention(
    quad_q: torch.Tensor,
    quad_k: torch.Tensor,
    lin_q: torch.Tensor,
    lin_k: torch.Tensor,
    values: torch.Tensor,
    group_size: int,
    causal: bool = False,
    dropout: nn.Module | None = None,
) -> torch.Tensor:
    r"""MossFormer's joint local quadratic + global linear attention (FLASH: Hua et al. 2022, "Transformer
    Quality in Linear Time").

    Frames are split into consecutive groups of ``g = group_size`` (the last one zero-padded; padding adds
    nothing). Frame ``i`` of group ``G`` receives

    * local: :math:`\sum_{j \in G} \mathrm{relu}(q_i \cdot k_j / g)^2 \, v_j` (``causal``: only ``j <= i``), plus
    * global: :math:`\tilde q_i \cdot \sum_j \tilde k_j v_j^\top / T` over all frames (``causal``: over the
      earlier groups only, divided by ``g`` instead of ``T``, as in the official code).

    ``dropout`` acts on the local attention weights.

    Shape:
        ``quad_q, quad_k, lin_q, lin_k``: (B, T, d); ``values``: (B, T, E) -> (B, T, E).
    """
    B, T, E = values.shape
    g = group_size
    pad = -T % g
    tensors = [F.pad(t, (0, 0, 0, pad)) if pad else t for t in (quad_q, quad_k, lin_q, lin_k, values)]
    quad_q, quad_k, lin_q, lin_k, values = (t.unflatten(1, (-1, g)) for t in tensors)  # (B, G, g, ·)

    attn = F.relu(quad_q @ quad_k.transpose(-1, -2) / g).square()
    if dropout is not None:
        attn = dropout(attn)
    if causal:
        attn = attn.masked_fill(torch.ones(g, g, dtype=torch.bool, device=attn.device).triu(1), 0.0)
    local = attn @ values

    if causal:
        memory = _shift_groups((lin_k.transpose(-1, -2) @ values / g).cumsum(dim=1))  # (B, G, d, E)
        glob = lin_q @ memory
    else:
        memory = torch.einsum("bgnd,bgne->bde", lin_k, values) / T
        glob = lin_q @ memory.unsqueeze(1)
    return (local + glob).flatten(1, 2)[:, :T]


class MossFormerAttention(nn.Module):
    r"""MossFormer gated single-head attention block (official ``FLASH_ShareA_FFConvM``).

    ``x + to_out((A_u ⊙ v) ⊙ σ(A_v ⊙ u))`` where, after a token shift (the first half of the features
    is delayed by one frame), ``[v, u] = to_hidden(x)`` (each ``hidden/2`` wide), ``z = to_qk(x)`` is shared
    by four OffsetScale views (local q, global q, local k, global k; rotary-embedded), and ``A_v``, ``A_u``
    are :func:`joint_attention` of ``v`` and ``u``. The three projections are :class:`FFConvM` with
    :class:`ScaleNorm`.

    Args:
        dim: C.
        group_size: frames per local attention group.
        query_key_dim: width of the shared query / key.
        expansion_factor: ``hidden = int(C · expansion_factor)``; ``to_out`` reads ``hidden / 2`` features
            (the official code hard-codes ``2C``, i.e. expansion 4).
        rotary_dim: leading query / key features rotated (0: no rotary embedding).
        conv_kernel_size: depthwise kernel of the FFConvM projections.
        causal: causal attention (local mask, earlier groups only in the global term), causal convolutions.
            The official code has no causal convolutions; it keeps them centred.
        dropout: attention-weight and FFConvM dropout.
        shift_tokens: apply the token shift.

    Shape:
        (B, T, C) -> (B, T, C).
    """

    def __init__(
        self,
        dim: int,
        group_size: int = 256,
        query_key_dim: int = 128,
        expansion_factor: float = 4.0,
        rotary_dim: int = 32,
        conv_kernel_size: int = 17,
        causal: bool = False,
        dropout: float = 0.1,
        shift_tokens: bool = True,
    ):
        super().__init__()
        hidden = int(dim * expansion_factor)
        self.group_size = group_size
        self.causal = causal
        self.shift_tokens = shift_tokens

        def ffconvm(dim_in: int, dim_out: int) -> FFConvM:
            return FFConvM(dim_in, dim_out, conv_kernel_size, causal, dropout, norm_layer=ScaleNorm)

        self.to_hidden = ffconvm(dim, hidden)
        self.to_qk = ffconvm(dim, query_key_dim)
        self.qk_offset_scale = OffsetScale(query_key_dim, heads=4)
        self.to_out = ffconvm(hidden // 2, dim)
        self.rotary = RotaryEmbedding(rotary_dim) if rotary_dim else None
        self.attn_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.shift_tokens:
            shifted, passed = h.chunk(2, dim=-1)
            h = torch.cat((F.pad(shifted, (0, 0, 1, -1)), passed), dim=-1)
        v, u = self.to_hidden(h).chunk(2, dim=-1)
        qk = self.qk_offset_scale(self.to_qk(h)).movedim(-2, 1)  # (B, 4, T, d)
        if self.rotary is not None:
            qk = self.rotary(qk)
        quad_q, lin_q, quad_k, lin_k = qk.unbind(dim=1)
        att_v, att_u = joint_attention(
            quad_q, quad_k, lin_q, lin_k, torch.cat((v, u), dim=-1), self.group_size, self.causal, self.attn_dropout
        ).chunk(2, dim=-1)
        return x + self.to_out((att_u * v) * torch.sigmoid(att_v * u))


class MaskNet(nn.Module):
    r"""MossFormer2 mask network (official ``MossFormer_MaskNet`` with ``Computation_Block``).

    ``GroupNorm(1, N) → 1×1 conv → + scaled sinusoidal positions → R × [MossFormerAttention → GatedFSMNBlock]
    → LayerNorm → GroupNorm → + skip (from after the positions) → PReLU → 1×1 conv to N·S →
    tanh(1×1 conv) ⊙ sigmoid(1×1 conv) → 1×1 conv → ReLU``, one non-negative mask per speaker.

    Shape:
        (B, N, L) encoder features -> (B, S, N, L) masks.
    """

    def __init__(self, config: MossFormer2Config):
        super().__init__()
        c, n = config, config.channels
        self.num_speakers = c.num_speakers
        self.norm = nn.GroupNorm(1, n, eps=1e-8)
        self.conv_in = nn.Conv1d(n, n, 1, bias=False)
        self.pos_enc = ScaledSinusoidalEmbedding(n)
        self.attention = nn.ModuleList(
            MossFormerAttention(
                n,
                c.group_size,
                c.query_key_dim,
                c.expansion_factor,
                c.rotary_dim,
                c.conv_kernel_size,
                c.causal,
                c.dropout,
            )
            for _ in range(c.num_layers)
        )
        self.fsmn = nn.ModuleList(
            GatedFSMNBlock(n, c.fsmn_channels, c.fsmn_lorder, c.fsmn_depth, c.causal, c.dropout)
            for _ in range(c.num_layers)
        )
        self.layer_norm = nn.LayerNorm(n, eps=1e-6)
        self.group_norm = nn.GroupNorm(1, n, eps=1e-8)
        self.prelu = nn.PReLU()
        self.conv_out = nn.Conv1d(n, n * c.num_speakers, 1)
        self.output = nn.Conv1d(n, n, 1)
        self.output_gate = nn.Conv1d(n, n, 1)
        self.conv_mask = nn.Conv1d(n, n, 1, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        B, N, L = features.shape
        x = self.conv_in(self.norm(features))
        x = x + self.pos_enc(L).T.to(x.dtype)
        h = x.transpose(1, 2)  # (B, L, N)
        for attention, fsmn in zip(self.attention, self.fsmn):
            h = fsmn(attention(h))
        x = self.group_norm(self.layer_norm(h).transpose(1, 2)) + x
        x = self.conv_out(self.prelu(x)).reshape(B * self.num_speakers, N, L)
        x = torch.tanh(self.output(x)) * torch.sigmoid(self.output_gate(x))
        return F.relu(self.conv_mask(x)).reshape(B, self.num_speakers, N, L)


class MossFormer2(nn.Module):
    """Encoder → :class:`MaskNet` → decoder speech separator.

    ``Conv1d(1 → N, kernel, stride, no bias) + ReLU`` encodes the mixture, each speaker's mask multiplies the
    encoding and ``ConvTranspose1d(N → 1, kernel, stride, no bias)`` decodes it. The mixture is zero-padded at
    the end to a whole number of frames and the outputs are trimmed back, so any length ``T >= 1`` works.

    Shape:
        mixture: (B, T) float waveform at ``config.sample_rate`` -> (B, S, T) estimated sources, same scale.
    """

    def __init__(self, config: MossFormer2Config):
        super().__init__()
        self.config = config
        self.encoder = nn.Conv1d(1, config.channels, config.kernel_size, config.stride, bias=False)
        self.mask_net = MaskNet(config)
        self.decoder = nn.ConvTranspose1d(config.channels, 1, config.kernel_size, config.stride, bias=False)

    def num_frames(self, num_samples: int) -> int:
        """Encoder frames L for ``num_samples`` input samples after the end padding; at least 2 (the FSMN's
        instance norms need more than one frame)."""
        k, s = self.config.kernel_size, self.config.stride
        return 1 + max(1, math.ceil((num_samples - k) / s))

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        if mixture.ndim != 2 or mixture.shape[1] == 0 or not mixture.is_floating_point():
            raise ValueError(f"MossFormer2 expects a float waveform (B, T) with T >= 1, got {tuple(mixture.shape)}")
        B, T = mixture.shape
        c = self.config
        padded = (self.num_frames(T) - 1) * c.stride + c.kernel_size
        features = F.relu(self.encoder(F.pad(mixture, (0, padded - T)).unsqueeze(1)))  # (B, N, L)
        masks = self.mask_net(features)  # (B, S, N, L)
        separated = (features.unsqueeze(1) * masks).flatten(0, 1)  # (B·S, N, L)
        return self.decoder(separated).reshape(B, c.num_speakers, padded)[..., :T]


MOSSFORMER2 = MossFormer2Config()

MOSSFORMER2_S = MossFormer2Config(
    channels=256,
    num_layers=6,
    query_key_dim=128,
    group_size=256,
    fsmn_channels=128,
)

MOSSFORMER2_XS = MossFormer2Config(
    channels=128,
    num_layers=4,
    query_key_dim=64,
    group_size=256,
    fsmn_channels=64,
)


@register_model("mossformer2")
def mossformer2(**overrides) -> MossFormer2:
    """The published MossFormer2: N = 512, R = 24, 8 kHz; 55,735,394 parameters with 2 speakers and
    55,998,050 with ``num_speakers=3`` (the paper's 55.7 M / 56.0 M; the official code's
    ``parameters()`` adds the 16 frozen rotary frequencies, 55,735,410 / 55,998,066)."""
    return MossFormer2(make_config(MOSSFORMER2, overrides))


@register_model("mossformer2-s")
def mossformer2_s(**overrides) -> MossFormer2:
    """A CPU-trainable MossFormer2: N = 256, R = 6, FSMN bottleneck 128, 8 kHz; 4,035,866 parameters with 2 speakers
    (4,101,658 with 3)."""
    return MossFormer2(make_config(MOSSFORMER2_S, overrides))


@register_model("mossformer2-xs")
def mossformer2_xs(**overrides) -> MossFormer2:
    """The smallest MossFormer2, for training on a laptop CPU: N = 128, R = 4, query/key 64, FSMN bottleneck 64,
    8 kHz; 757,266 parameters with 2 speakers."""
    return MossFormer2(make_config(MOSSFORMER2_XS, overrides))
