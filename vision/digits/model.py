"""Digit-string reader: a ResNet feature extractor, stacked BiLSTMs and a CTC output layer.

The architecture follows Zhan, Wang & Lu 2017, "Handwritten digit string recognition by combination of
residual network and RNN-CTC" (config ``zhan2017``): a 5×5 stem convolution, max-pooling, residual
stages up to 512 channels, the final map read column by column as a sequence, two BiLSTM layers and
11 CTC classes (blank = 0, digit d = d + 1).

Input convention: grayscale, ink bright on a dark background, values standardised per image
(``vision.digits.data.normalize_image``), height ``config.height``, any width (``zhan2017`` expects
width 120, giving 15 time steps).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from recurrent.registry import make_config, register_model
from recurrent.seq import BiLSTMEncoder

BLANK = 0
NUM_CLASSES = 11  # blank + 10 digits


@dataclass(frozen=True)
class CRNNConfig:
    height: int = 32  # input height in pixels
    stem_channels: int = 32
    stem_kernel: int = 3
    stem_padding: int = 1
    stem_pool: bool = False  # True: stride-1 stem conv then 2×2 max-pool (the paper); False: stride-2 conv
    stage_channels: tuple[int, ...] = (64, 128, 256)
    stage_strides: tuple[tuple[int, int], ...] = ((2, 2), (2, 1), (2, 1))  # (height, width) per stage
    blocks_per_stage: int | tuple[int, ...] = 1  # residual blocks in each stage (one count for all, or one per stage)
    lstm_hidden: int = 128
    lstm_layers: int = 2
    dropout: float = 0.1
    classes: int = NUM_CLASSES  # per time step: CTC's blank + 10 digits; 2 for the word tagger (digits or else, letters)


class ResidualBlock(nn.Module):
    """Basic ResNet block (two 3×3 conv + BN) with a projection shortcut when the shape changes."""

    def __init__(self, in_ch: int, out_ch: int, stride: tuple[int, int] = (1, 1)):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        needs_projection = in_ch != out_ch or stride != (1, 1)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
            if needs_projection
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, H, W) -> (B, C', H', W'). ``columns`` (B,): valid output columns per image; the
        rest are zeroed after each convolution, as zero padding would leave them for that image alone."""
        hidden = _keep_columns(self.body[:3](x), columns)
        return _keep_columns(torch.relu(self.body[3:](hidden) + self.shortcut(x)), columns)


def _strided_size(size: int | torch.Tensor, stride: int) -> int | torch.Tensor:
    """Output length of a 3×3 (or 1×1) convolution with padding 1 (0) and ``stride``."""
    return (size - 1) // stride + 1


def _keep_columns(x: torch.Tensor, columns: torch.Tensor | None) -> torch.Tensor:
    if columns is None:
        return x
    keep = torch.arange(x.shape[-1], device=x.device) < columns.to(x.device)[:, None]
    return x * keep[:, None, None, :].to(x.dtype)


class CRNN(nn.Module):
    """ResNet + BiLSTM + CTC reader.

    Shape:
        images: (B, 1, H, W) float, H = ``config.height``.
        returns log-probabilities (B, T, ``config.classes``) with T = :meth:`time_steps` (W); for the reader
        11 CTC classes, blank at index 0.
    """

    def __init__(self, config: CRNNConfig):
        super().__init__()
        self.config = config
        self.stem = nn.Sequential(
            nn.Conv2d(1, config.stem_channels, config.stem_kernel, 1 if config.stem_pool else 2, config.stem_padding, bias=False),
            nn.BatchNorm2d(config.stem_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2) if config.stem_pool else nn.Identity(),
        )
        blocks, width = [], config.stem_channels
        for channels, stride, count in zip(config.stage_channels, config.stage_strides, stage_blocks(config), strict=True):
            for i in range(count):
                blocks.append(ResidualBlock(width, channels, tuple(stride) if i == 0 else (1, 1)))
                width = channels
        self.stages = nn.Sequential(*blocks)
        features = width * self._out_size(config.height, axis=0)
        self.encoder = BiLSTMEncoder(features, config.lstm_hidden, config.classes, config.lstm_layers, config.dropout)

    def _stem_size(self, size: int | torch.Tensor) -> int | torch.Tensor:
        c = self.config
        size = size + 2 * c.stem_padding - c.stem_kernel
        return (size + 1) // 2 if c.stem_pool else size // 2 + 1

    def _out_size(self, size: int | torch.Tensor, axis: int) -> int | torch.Tensor:
        size = self._stem_size(size)
        for stride in self.config.stage_strides:
            size = _strided_size(size, stride[axis])
        return size

    def time_steps(self, width: int | torch.Tensor) -> int | torch.Tensor:
        """Number of CTC time steps for input width(s) ``width``."""
        return self._out_size(width.long() if isinstance(width, torch.Tensor) else width, axis=1)

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, 1, height, W), ink bright in [0, 1], right-padded with 0 -> log-probabilities
        (B, T, classes) (the reader's: blank + digits). ``widths`` (B,): each image's width before padding; with them the
        padding reaches neither the convolutions' valid columns nor the BiLSTM, so an image reads the same
        alone or in any batch."""
        if images.ndim != 4 or images.shape[1] != 1 or images.shape[2] != self.config.height:
            raise ValueError(f"CRNN expects (B, 1, {self.config.height}, W), got {tuple(images.shape)}")
        columns = None if widths is None else self._stem_size(widths.long())
        features = _keep_columns(self.stem(images), columns)
        for block in self.stages:
            if columns is not None:
                columns = _strided_size(columns, block.body[0].stride[1])
            features = block(features, columns)  # (B, C, H', T)
        sequence = features.flatten(1, 2).transpose(1, 2)  # (B, T, C·H')
        return self.encoder(sequence, columns).log_softmax(-1)


def stage_blocks(config: CRNNConfig) -> tuple[int, ...]:
    """Residual blocks in each stage."""
    counts = config.blocks_per_stage
    return (counts,) * len(config.stage_channels) if isinstance(counts, int) else tuple(counts)


def deepened(model: CRNN, blocks_per_stage: tuple[int, ...]) -> CRNN:
    """``model`` with more residual blocks per stage, reading exactly as it does: its blocks keep their
    weights as each stage's first ones, and every added block starts as an identity (its last batch-norm
    scale and shift zero, so it adds nothing to its shortcut, and its input is already rectified) — a
    larger reader grown from trained weights rather than trained from scratch (Goyal et al. 2017's
    zero-initialised residual branches). Returns a new model; ``model`` is left as it is."""
    old_counts = stage_blocks(model.config)
    if len(blocks_per_stage) != len(old_counts) or any(n < o for n, o in zip(blocks_per_stage, old_counts)):
        raise ValueError(f"blocks_per_stage {blocks_per_stage} must keep at least {old_counts} per stage")
    grown = CRNN(replace(model.config, blocks_per_stage=tuple(blocks_per_stage)))
    grown.stem.load_state_dict(model.stem.state_dict())
    grown.encoder.load_state_dict(model.encoder.state_dict())
    old_start = new_start = 0
    for old, new in zip(old_counts, blocks_per_stage):
        for i in range(new):
            block = grown.stages[new_start + i]
            if i < old:
                block.load_state_dict(model.stages[old_start + i].state_dict())
            else:
                nn.init.zeros_(block.body[-1].weight)
                nn.init.zeros_(block.body[-1].bias)
        old_start, new_start = old_start + old, new_start + new
    return grown.train(model.training)


ZHAN2017 = CRNNConfig(
    height=50,
    stem_channels=64,
    stem_kernel=5,
    stem_padding=0,
    stem_pool=True,
    stage_channels=(64, 128, 256, 512),
    stage_strides=((1, 1), (2, 2), (2, 2), (1, 1)),
    blocks_per_stage=2,
    lstm_hidden=256,
    lstm_layers=2,
    dropout=0.0,
)


@register_model("crnn-zhan2017")
def crnn_zhan2017(**overrides) -> CRNN:
    """Zhan et al. 2017: 50×120 input -> 512×6×15 map -> 15 steps -> 2 BiLSTM(256) -> 11 classes."""
    return CRNN(make_config(ZHAN2017, overrides))


@register_model("crnn-digits")
def crnn_digits(**overrides) -> CRNN:
    """The shipped reader: height 32, any width, one step per 4 input columns (enough for 12 digits
    with repeats at any aspect the data has), 2 BiLSTM(128)."""
    return CRNN(make_config(CRNNConfig(), overrides))


WORD_TAGGER = CRNNConfig(
    stem_channels=16, stage_channels=(32, 48, 64), lstm_hidden=48, lstm_layers=1, dropout=0.0, classes=2
)


@register_model("word-tagger")
def word_tagger(**overrides) -> CRNN:
    """The reader's layout, small, tagging each time step (4 input columns) as digits or anything else
    (class 0) or letters (class 1): which columns of a string image hold a word (:mod:`vision.digits.words`)."""
    return CRNN(make_config(WORD_TAGGER, overrides))
