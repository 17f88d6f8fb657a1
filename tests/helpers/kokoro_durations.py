"""Kokoro's predicted durations for one utterance, without rendering its audio, computed as kokoro's own
`KModel.forward_with_tokens` computes them (unbatched, unpadded): the reference the padded batch and the
carried benchmark durations are checked against."""

from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def continuous(model, input_ids: list[int], style: np.ndarray | torch.Tensor, speed: float) -> torch.Tensor:
    """Per-token durations (in duration units) before rounding. input_ids include the 0 boundary tokens;
    style is the voice's 256 values for this length."""
    tokens = torch.tensor([input_ids], dtype=torch.long, device=model.device)
    lengths = torch.tensor([len(input_ids)], dtype=torch.long, device=model.device)
    no_padding = torch.zeros_like(tokens, dtype=torch.bool)
    ref_s = torch.as_tensor(style, dtype=torch.float32).reshape(1, 256).to(model.device)
    bert = model.bert(tokens, attention_mask=(~no_padding).int())
    d = model.predictor.text_encoder(model.bert_encoder(bert).transpose(-1, -2), ref_s[:, 128:], lengths, no_padding)
    x, _ = model.predictor.lstm(d)
    return (torch.sigmoid(model.predictor.duration_proj(x)).sum(dim=-1) / speed)[0].cpu()


def rounded(model, input_ids: list[int], style: np.ndarray | torch.Tensor, speed: float) -> torch.Tensor:
    """The durations the model renders: rounded, at least one unit a token."""
    return torch.round(continuous(model, input_ids, style, speed)).clamp(min=1).long()
