"""Stacked bidirectional LSTM sequence encoder for CTC readers (cuDNN on CUDA through ``nn.LSTM``)."""

from __future__ import annotations

import torch
from torch import nn


class BiLSTMEncoder(nn.Module):
    """Stacked bidirectional LSTMs, each followed by a linear projection of the two directions.

    This is the CRNN layout (Shi et al. 2015): every layer is ``BiLSTM(in, hidden) -> Linear(2·hidden, out)``
    so the width between layers is ``hidden`` and the last layer projects to ``out_features``.

    Args:
        in_features: C, features per time step.
        hidden: H, LSTM units per direction.
        out_features: size of the last projection (e.g. the number of CTC classes).
        num_layers: number of stacked BiLSTM + projection layers.
        dropout: dropout on the projections' inputs between layers.

    Shape:
        x: (B, T, C) -> (B, T, out_features). ``lengths`` (B,) optional valid lengths: padded steps
        then do not influence the valid ones (packed sequences); outputs at padded steps are meaningless.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, num_layers: int = 2, dropout: float = 0.0):
        super().__init__()
        widths = [in_features] + [hidden] * (num_layers - 1)
        self.lstms = nn.ModuleList(nn.LSTM(w, hidden, batch_first=True, bidirectional=True) for w in widths)
        outs = [hidden] * (num_layers - 1) + [out_features]
        self.projections = nn.ModuleList(nn.Linear(2 * hidden, o) for o in outs)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"BiLSTMEncoder expects (B, T, C), got {tuple(x.shape)}")
        for i, (lstm, projection) in enumerate(zip(self.lstms, self.projections)):
            if i > 0:
                x = self.dropout(x)
            if lengths is None:
                x, _ = lstm(x)
            else:
                packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                x, _ = nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])
            x = projection(x)
        return x
