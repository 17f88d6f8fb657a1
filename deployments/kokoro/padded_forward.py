"""True batching for the `kokoro` package's KModel: many utterances, one forward pass.

`KModel.forward_with_tokens` takes one utterance (its `repeat_interleave` alignment fails for
a batch). This module runs the same modules of the same KModel over a padded batch:

1. Text side: token ids padded to the longest item, with per-item lengths. ALBERT gets an
   attention mask; the text encoder and the duration encoder take lengths and masks as they
   were written to; the duration LSTM runs on packed sequences, so its backward direction
   starts at each item's own last token.
2. Durations are predicted per item (each with its own speed); each item gets its own
   alignment matrix, padded with zero columns up to the longest output.
3. Frame side: the prosody predictor (F0, noise) and the decoder run over the padded batch.

Padding must not leak into the valid frames. Two things in the frame side would let it:
- AdaIN's InstanceNorm normalises over time, so padded frames would shift each channel's mean
  and variance. `_adain` computes the statistics over each item's valid frames only.
- Convolutions read their neighbours: the last valid frames would see padded frames where the
  unbatched model sees the convolution's zero padding. Every activation that feeds a
  convolution with a kernel wider than one is therefore zero past the item's length. Masks
  follow the resolution changes (x2 in the predictor and decoder, x10 and x6 in the
  generator, +1 frame of reflection padding before the iSTFT).
The cheap signal-processing steps whose edges depend on the length (the sine source with its
interpolation and noise, the STFT of the source with reflect padding, and the final iSTFT) run
per item on exactly that item's frames. The convolutions, about 94% of the work, run batched.

With that, each item's output has its unbatched length exactly (600 samples per duration
unit) and matches the unbatched model up to float rounding, given the same random source:
pass a seed per item to make the sine source's noise and phases reproducible.

Batching pays where the convolutions are compute-bound (GPUs). On a small CPU it costs more
than it saves: padded frames are computed too, and the masks add memory traffic.

The blocks below are composed from the kokoro modules' own layers and parameters (not copies
of their weights); they repeat the modules' forward logic with masks added.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

_SQRT_HALF = 1 / math.sqrt(2)
# Seeded sources reseed torch's global generator for a moment: one at a time across threads.
_SEEDED_SOURCE = threading.Lock()


@dataclass
class Synthesis:
    """One item's result: float32 audio on the CPU and its per-token durations (in duration units)."""

    audio: Tensor
    durations: Tensor


@torch.no_grad()
def forward_batch(
    model,
    input_ids: Sequence[Sequence[int]],
    ref_s: Tensor,
    speeds: Sequence[float],
    seeds: Sequence[int | None] | None = None,
    decoder_batch: int | None = None,
) -> list[Synthesis]:
    """Synthesize a batch with `model` (a KModel in eval mode).

    input_ids: per item, token ids including the 0 boundary tokens, as forward_with_tokens takes them.
    ref_s: [B, 256] styles (decoder timbre, then prosody). speeds: one per item.
    seeds: optional per-item seeds for the sine source's random phases and noise.
    decoder_batch: decode at most this many items at once (None: all), shortest first, so items of
    similar length share a pass and little is spent on padding.
    """
    if not input_ids:
        return []
    seeds = list(seeds) if seeds is not None else [None] * len(input_ids)
    if len(seeds) != len(input_ids):
        raise ValueError("seeds must have one entry per item")
    text = _text_side(model, input_ids, ref_s, speeds)
    device, batch = text.tokens.device, len(input_ids)
    frames = torch.stack([dur.sum() for dur in text.durations]).cpu()
    alignment = torch.zeros(batch, text.tokens.shape[1], int(frames.max()), device=device)
    for row, dur in enumerate(text.durations):
        token_of_frame = torch.repeat_interleave(torch.arange(len(dur), device=device), dur)
        alignment[row, token_of_frame, torch.arange(len(token_of_frame), device=device)] = 1
    en = text.d.transpose(-1, -2) @ alignment
    f0, noise = _prosody(model.predictor, en, text.style, frames)
    t_en = model.text_encoder(text.tokens, text.lengths, text.mask)
    asr = t_en @ alignment
    audio: list[Tensor] = [torch.empty(0)] * batch
    by_length = sorted(range(batch), key=lambda i: int(frames[i]))
    step = decoder_batch or batch
    for start in range(0, batch, step):
        group = by_length[start : start + step]
        rows, longest = torch.tensor(group, device=device), int(frames[group].max())
        decoded = _decode(model.decoder, asr[rows, :, :longest], f0[rows, : 2 * longest], noise[rows, : 2 * longest],
                          text.timbre[rows], frames[group], [seeds[i] for i in group])
        for i, item_audio in zip(group, decoded, strict=True):
            audio[i] = item_audio
    return [Synthesis(a.float().cpu(), dur.cpu()) for a, dur in zip(audio, text.durations)]


@dataclass
class _Text:
    tokens: Tensor  # [B, N] padded token ids
    lengths: Tensor  # [B] on the CPU
    mask: Tensor  # [B, N], True on padding
    style: Tensor  # [B, 128] prosody half of ref_s
    timbre: Tensor  # [B, 128] decoder half of ref_s
    d: Tensor  # [B, N, hidden + style] duration encoder output
    durations: list[Tensor]  # per item, one per token


def _text_side(model, input_ids: Sequence[Sequence[int]], ref_s: Tensor, speeds: Sequence[float]) -> _Text:
    device = model.device
    batch = len(input_ids)
    if not (len(ref_s) == len(speeds) == batch):
        raise ValueError("input_ids, ref_s and speeds must have one entry per item")
    lengths = torch.tensor([len(ids) for ids in input_ids], dtype=torch.long)
    if int(lengths.max()) > model.context_length:
        raise ValueError(f"{int(lengths.max())} tokens, more than the model's context of {model.context_length}")
    tokens = torch.zeros(batch, int(lengths.max()), dtype=torch.long)
    for row, ids in enumerate(input_ids):
        tokens[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
    tokens = tokens.to(device)
    mask = (torch.arange(tokens.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)).to(device)
    ref_s = torch.as_tensor(ref_s).reshape(batch, -1).to(device=device, dtype=torch.float32)
    style, timbre = ref_s[:, 128:], ref_s[:, :128]
    speed = torch.as_tensor(list(speeds), dtype=torch.float32, device=device)

    bert_out = model.bert(tokens, attention_mask=(~mask).int())
    d_en = model.bert_encoder(bert_out).transpose(-1, -2)
    d = model.predictor.text_encoder(d_en, style, lengths, mask)
    x = _lstm(model.predictor.lstm, d, lengths)
    duration = torch.sigmoid(model.predictor.duration_proj(x)).sum(dim=-1) / speed.unsqueeze(1)
    durations = [torch.round(duration[i, :n]).clamp(min=1).long() for i, n in enumerate(lengths.tolist())]
    return _Text(tokens, lengths, mask, style, timbre, d, durations)


def frame_mask(lengths: Tensor, total: int, device: torch.device, dtype: torch.dtype = torch.float32) -> Tensor | None:
    """[B, 1, total] mask, 1 on each item's first `length` frames; None when no item is padded."""
    if int(lengths.min()) == total:
        return None  # a single item, or items of one length: nothing to hide, skip the work
    return (torch.arange(total, device=device).unsqueeze(0) < lengths.to(device).unsqueeze(1)).to(dtype).unsqueeze(1)


def _masked(x: Tensor, mask: Tensor | None) -> Tensor:
    return x if mask is None else x * mask


def _lstm(lstm: torch.nn.LSTM, x: Tensor, lengths: Tensor) -> Tensor:
    """A batch-first LSTM over [B, T, C] that stops at each item's length; zeros past it."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    lstm.flatten_parameters()
    out, _ = lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out


def _adain(adain, x: Tensor, s: Tensor, mask: Tensor | None) -> Tensor:
    """kokoro's AdaIN1d with the instance statistics taken over the valid frames only."""
    h = adain.fc(s).unsqueeze(-1)
    gamma, beta = torch.chunk(h, chunks=2, dim=1)
    if mask is None:
        return (1 + gamma) * adain.norm(x) + beta
    # Few passes over x: on a CPU this block is memory-bound, and it runs 100 times per utterance.
    masked = x * mask
    count = mask.float().sum(dim=-1, keepdim=True)
    total = masked.float().sum(dim=-1, keepdim=True)
    squares = torch.einsum("bct,bct->bc", masked.float(), masked.float()).unsqueeze(-1)
    mean = total / count
    variance = (squares / count - mean * mean).clamp(min=0)  # biased, as InstanceNorm's
    scale = torch.rsqrt(variance + adain.norm.eps)
    shift = -mean * scale
    if adain.norm.affine:
        weight, bias = adain.norm.weight.view(1, -1, 1).float(), adain.norm.bias.view(1, -1, 1).float()
        scale, shift = scale * weight, shift * weight + bias
    scale, shift = (1 + gamma) * scale.to(x.dtype), (1 + gamma) * shift.to(x.dtype) + beta
    return torch.addcmul(shift, masked, scale).mul_(mask)


def _adain_res_block(block, x: Tensor, s: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """kokoro's AdainResBlk1d (optionally upsampling x2), masked; returns the output and its mask."""
    upsampling = block.upsample_type != "none"
    out_mask = mask.repeat_interleave(2, dim=-1) if upsampling and mask is not None else mask
    residual = block.actv(_adain(block.norm1, x, s, mask))
    if upsampling:
        residual = _masked(block.pool(residual), out_mask)  # the transposed conv's bias lands on padding too
    residual = block.conv1(block.dropout(residual))
    residual = block.actv(_adain(block.norm2, residual, s, out_mask))
    residual = block.conv2(block.dropout(residual))
    shortcut = block.upsample(x)
    if block.learned_sc:
        shortcut = block.conv1x1(shortcut)
    return _masked((residual + shortcut) * _SQRT_HALF, out_mask), out_mask


def _snake(x: Tensor, alpha: Tensor) -> Tensor:
    return x + (1 / alpha) * torch.sin(alpha * x) ** 2


def _snake_res_block(block, x: Tensor, s: Tensor, mask: Tensor | None) -> Tensor:
    """kokoro's AdaINResBlock1 (the generator's Snake residual stack), masked."""
    for conv1, conv2, norm1, norm2, alpha1, alpha2 in zip(
        block.convs1, block.convs2, block.adain1, block.adain2, block.alpha1, block.alpha2
    ):
        xt = conv1(_snake(_adain(norm1, x, s, mask), alpha1))
        xt = conv2(_snake(_adain(norm2, xt, s, mask), alpha2))
        x = xt + x
    return _masked(x, mask)


def _prosody(predictor, en: Tensor, s: Tensor, frames: Tensor) -> tuple[Tensor, Tensor]:
    """ProsodyPredictor.F0Ntrain over a padded batch: F0 and noise curves at twice the frame rate."""
    x = _lstm(predictor.shared, en.transpose(-1, -2), frames).transpose(-1, -2)
    mask = frame_mask(frames, en.shape[-1], en.device)
    curves = []
    for blocks, projection in ((predictor.F0, predictor.F0_proj), (predictor.N, predictor.N_proj)):
        y, m = x, mask
        for block in blocks:
            y, m = _adain_res_block(block, y, s, m)
        curves.append(_masked(projection(y), m).squeeze(1))
    return curves[0], curves[1]


def _decode(decoder, asr: Tensor, f0_curve: Tensor, noise: Tensor, s: Tensor, frames: Tensor,
            seeds: Sequence[int | None]) -> list[Tensor]:
    """kokoro's Decoder over a padded batch; returns each item's audio, trimmed to its length."""
    dtype = next(decoder.parameters()).dtype
    asr, s = asr.to(dtype), s.to(dtype)
    mask = frame_mask(frames, asr.shape[-1], asr.device, dtype)
    f0 = _masked(decoder.F0_conv(f0_curve.to(dtype).unsqueeze(1)), mask)
    n = _masked(decoder.N_conv(noise.to(dtype).unsqueeze(1)), mask)
    x, mask = _adain_res_block(decoder.encode, torch.cat([asr, f0, n], dim=1), s, mask)
    asr_res = decoder.asr_res(asr)
    concatenate = True
    for block in decoder.decode:
        if concatenate:
            x = torch.cat([x, asr_res, f0, n], dim=1)
        x, mask = _adain_res_block(block, x, s, mask)
        if block.upsample_type != "none":
            concatenate = False
    return _generate(decoder.generator, x, s, f0_curve, frames, mask, seeds)


def _harmonic_source(generator, f0_curve: Tensor, seed: int | None) -> Tensor:
    """One item's sine source, as magnitude and phase spectra [1, n_fft + 2, frames], in float32."""
    f0 = generator.f0_upsamp(f0_curve.float()[:, None]).transpose(1, 2)
    if seed is None:
        source, _, _ = generator.m_source(f0)
    else:
        devices = [f0.device] if f0.is_cuda else []
        with _SEEDED_SOURCE, torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            source, _, _ = generator.m_source(f0)
    magnitude, phase = generator.stft.transform(source.transpose(1, 2).squeeze(1))
    return torch.cat([magnitude, phase], dim=1)


def _generate(generator, x: Tensor, s: Tensor, f0_curve: Tensor, frames: Tensor, mask: Tensor | None,
              seeds: Sequence[int | None]) -> list[Tensor]:
    """kokoro's iSTFTNet Generator over a padded batch, masked at every resolution."""
    batch = x.shape[0]
    f0_lengths = 2 * frames  # the F0 curve and x run at twice the frame rate
    sources = [_harmonic_source(generator, f0_curve[i : i + 1, : int(f0_lengths[i])], seeds[i]) for i in range(batch)]
    har = x.new_zeros(batch, sources[0].shape[1], max(src.shape[-1] for src in sources))
    for i, src in enumerate(sources):
        har[i, :, : src.shape[-1]] = src.to(x.dtype)
    lengths = f0_lengths.clone()
    for i in range(generator.num_upsamples):
        x = _masked(F.leaky_relu(x, negative_slope=0.1), mask)
        scale = generator.ups[i].stride[0]
        lengths = lengths * scale
        last = i == generator.num_upsamples - 1
        if last:
            lengths = lengths + 1  # the reflection pad before the iSTFT adds one frame
        total = int(lengths.max())
        next_mask = frame_mask(lengths, total, x.device, x.dtype)
        x_source = _snake_res_block(generator.noise_res[i], _masked(generator.noise_convs[i](har), next_mask), s, next_mask)
        x = generator.ups[i](x)
        if last:
            x = generator.reflection_pad(x)
        if x.shape[-1] != total or x_source.shape[-1] != total:
            raise RuntimeError(f"generator stage {i}: {x.shape[-1]} frames where {total} were expected")
        x = x + x_source
        summed = None
        for j in range(generator.num_kernels):
            y = _snake_res_block(generator.resblocks[i * generator.num_kernels + j], x, s, next_mask)
            summed = y if summed is None else summed + y
        x = summed / generator.num_kernels
        mask = next_mask
    x = generator.conv_post(_masked(F.leaky_relu(x), mask))
    bins = generator.post_n_fft // 2 + 1
    spec, phase = torch.exp(x[:, :bins, :].float()), torch.sin(x[:, bins:, :].float())
    return [
        generator.stft.inverse(spec[i : i + 1, :, : int(lengths[i])], phase[i : i + 1, :, : int(lengths[i])]).reshape(-1)
        for i in range(batch)
    ]
