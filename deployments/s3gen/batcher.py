"""S3Gen for many token sequences at once: chunks of several Chatterbox streams, or pieces of one or many
voice conversions, rendered in one pass of its encoder, its flow-matching decoder and its vocoder.

Per item, as `S3Token2Wav.inference` does it: the reference's prompt tokens go before the item's
tokens through the conformer encoder, the prompt's mel frames condition the CFM decoder, whose
output past the prompt is vocoded by HiFT. Composed from the package's modules here so that:
- items of different lengths and voices are right-padded and masked. The encoder masks attention
  by length, as the package's own batched flow does, and its look-ahead sees only masked positions
  past an item; the CFM decoder (ten Euler steps of the U-Net, each on guided and unguided rows;
  most of S3Gen's work; Turbo's meanflow decoder takes two unguided steps) is causal, so padding
  after an item does not reach it; HiFT renders every item followed by silence, alone or in a batch;
- each item's starting noise comes from a generator seeded for that item, and HiFT's source
  excitation, which draws from the global generator, is drawn per item under its seed: an item
  renders the same alone or in any batch (the same tokens, audio correlating above 0.999).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F

from deployments.s3gen.limits import S3GenLimits
from ground.batch_loop import BatchLoop
from ground.futures import settle

logger = logging.getLogger(__name__)

CFM_STEPS = 10  # S3Token2Wav.flow_inference's default for the released (non-meanflow) model
MEANFLOW_STEPS = 2  # its default for Turbo's meanflow model
# What HiFT's convolutions see past an item's end: with 8 frames (160 ms) of silence after it, its
# audio no longer changes (under 1e-6) with what comes later, so it renders the same in any batch.
HIFT_TAIL_FRAMES = 8


@dataclass(eq=False)
class S3GenItem:
    tokens: torch.Tensor  # 1-D speech tokens
    reference: dict  # S3Gen's reference dict: prompt_token, prompt_feat, embedding (never modified here)
    seed: int

    @property
    def frames(self) -> int:
        """Mel frames the decoder runs for this item: two a token, the reference's prompt tokens included."""
        return 2 * (self.reference["prompt_token"].shape[-1] + self.tokens.shape[-1])


def _encode(s3gen, items: list[S3GenItem]) -> tuple[torch.Tensor, list[int]]:
    """The decoder's mu for every item, (batch, 80, longest) and zero past each item's own frames, and
    each item's frame count. Each item's prompt tokens go before its own; the encoder masks attention by
    length (as the package batches it), and every item, alone or not, is followed by at least
    `pre_lookahead_len` masked positions, all that its last frames see of what follows."""
    flow, device = s3gen.flow, s3gen.device
    tokens = [torch.cat([item.reference["prompt_token"].to(device).long()[0], item.tokens.to(device).long()])
              for item in items]
    lengths = torch.tensor([len(row) for row in tokens], device=device)
    padded = torch.zeros(len(items), max(map(len, tokens)) + flow.pre_lookahead_len, dtype=torch.long, device=device)
    for i, row in enumerate(tokens):
        padded[i, :len(row)] = row
    present = (torch.arange(padded.shape[1], device=device) < lengths[:, None]).unsqueeze(-1)
    hidden, _ = flow.encoder(flow.input_embedding(padded) * present.to(s3gen.dtype), lengths)
    mu = flow.encoder_proj(hidden).transpose(1, 2)
    frames = [item.frames for item in items]
    for i, length in enumerate(frames):
        mu[i, :, length:] = 0
    return mu, frames


def render(s3gen, items: list[S3GenItem], steps: int = CFM_STEPS) -> list[np.ndarray]:
    """Float32 mono audio at 24 kHz for each item, in order; `steps` Euler steps of the CFM decoder."""
    device, dtype, flow = s3gen.device, s3gen.dtype, s3gen.flow
    with torch.inference_mode():
        mu, frames = _encode(s3gen, items)
        cond = torch.zeros_like(mu)
        noise = torch.zeros_like(mu)
        mask = torch.zeros(len(items), 1, mu.shape[2], device=device, dtype=dtype)
        prompts = []
        for i, (item, length) in enumerate(zip(items, frames)):
            prompt_feat = item.reference["prompt_feat"].to(device=device, dtype=dtype)[0]  # (frames, 80)
            prompts.append(len(prompt_feat))
            cond[i, :, :len(prompt_feat)] = prompt_feat.transpose(0, 1)
            mask[i, :, :length] = 1
            generator = torch.Generator(device=device).manual_seed(item.seed)
            noise[i, :, :length] = torch.randn(80, length, generator=generator, device=device, dtype=dtype)
        embeddings = torch.cat([torch.atleast_2d(item.reference["embedding"].to(device=device, dtype=dtype))
                                for item in items])
        speakers = flow.spk_embed_affine_layer(F.normalize(embeddings, dim=1))
        decoder = flow.decoder
        t_span = torch.linspace(0, 1, steps + 1, device=device, dtype=dtype)
        if s3gen.meanflow:
            mels = _meanflow_euler(decoder.estimator, noise, t_span, mu=mu, mask=mask, spks=speakers, cond=cond)
        else:
            if decoder.t_scheduler == "cosine":
                t_span = 1 - torch.cos(t_span * 0.5 * torch.pi)
            mels = decoder.solve_euler(noise, t_span=t_span, mu=mu, mask=mask, spks=speakers, cond=cond)
        return _vocode(s3gen, [mels[i, :, prompt:length] for i, (prompt, length) in enumerate(zip(prompts, frames))],
                       [item.seed for item in items])


def _meanflow_euler(estimator, x: torch.Tensor, t_span: torch.Tensor, **inputs) -> torch.Tensor:
    """Turbo's distilled "meanflow" decoder, as the package's basic Euler runs it: linear times, each step
    told where it ends (r), no guidance rows (it was distilled with guidance)."""
    for t, r in pairwise(t_span):
        x = x + (r - t) * estimator.forward(x, t=t[None], r=r[None], **inputs)
    return x


def _vocode(s3gen, mels: list[torch.Tensor], seeds: list[int]) -> list[np.ndarray]:
    """HiFT over all mels (80, frames) at once. Each item's source excitation (the noisy part) is drawn
    alone under its own seed, as a lone `HiFTGenerator.inference` draws it; the convolutional decoder
    then runs on the batch, every item (alone or not) followed by at least HIFT_TAIL_FRAMES of silence."""
    hift, device, dtype = s3gen.mel2wav, s3gen.device, s3gen.dtype
    sources = []
    for mel, seed in zip(mels, seeds):
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            f0 = hift.f0_predictor(mel[None].to(dtype))
            source, _, _ = hift.m_source(hift.f0_upsamp(f0[:, None]).transpose(1, 2))
        sources.append(source.transpose(1, 2)[0, 0])
    longest = max(mel.shape[1] for mel in mels) + HIFT_TAIL_FRAMES
    samples_per_frame = len(sources[0]) // mels[0].shape[1]
    batch_mel = torch.zeros(len(mels), 80, longest, device=device, dtype=dtype)
    batch_source = torch.zeros(len(mels), 1, longest * samples_per_frame, device=device, dtype=dtype)
    for i, (mel, source) in enumerate(zip(mels, sources)):
        batch_mel[i, :, :mel.shape[1]] = mel
        batch_source[i, 0, :len(source)] = source
    wavs = hift.decode(x=batch_mel, s=batch_source)
    fade = s3gen.trim_fade
    out = []
    for wav, source in zip(wavs, sources):
        wav = wav[:len(source)].clone()  # a mel frame is as many samples as its source
        wav[:len(fade)] *= fade  # as S3Token2Wav.inference: the first 20 ms are silenced, then faded in
        out.append(wav.float().cpu().numpy())
    return out


class S3GenBatcher(BatchLoop[S3GenItem, list]):
    """Items that arrive while a pass runs go together in the next one (up to `s3gen_max_batch` items and
    `s3gen_max_batch_frames` mel frames, in arrival order); a lone item starts at once. Futures hold the
    audio (float32, 24 kHz)."""

    thread_name = "s3gen-batcher"

    def __init__(self, s3gen, limits: S3GenLimits, steps: int = CFM_STEPS):
        self._s3gen = s3gen
        self.limits = limits
        self._steps = steps
        self.batch_sizes: list[int] = []  # of every pass, for tests and the benchmark
        self._start()

    def _take(self) -> list[tuple[S3GenItem, Future]]:
        batch, frames, limits = [], 0, self.limits
        while self._waiting and len(batch) < limits.s3gen_max_batch:
            item, future = self._waiting[0]
            if future.cancelled():
                self._waiting.popleft()
                continue
            if batch and frames + item.frames > limits.s3gen_max_batch_frames:
                break
            self._waiting.popleft()
            batch.append((item, future))
            frames += item.frames
        return batch

    def _run(self, batch: list[tuple[S3GenItem, Future]]) -> None:
        if not batch:
            return
        self.batch_sizes.append(len(batch))
        try:
            outputs = render(self._s3gen, [item for item, _ in batch], self._steps)
        except Exception as exc:  # a failed pass fails its items, not the replica
            logger.exception("S3Gen pass failed")
            outputs = [exc] * len(batch)
        for (_, future), output in zip(batch, outputs):
            if isinstance(output, Exception):
                settle(future, exception=output)
            else:
                settle(future, output)
