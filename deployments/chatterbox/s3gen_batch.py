"""S3Gen for many token sequences at once: chunks of several Chatterbox streams, or pieces of one or many
voice conversions, rendered in one pass of the flow-matching decoder.

Per item, as `S3Token2Wav.inference` does it: the reference's prompt tokens go before the item's
tokens through the conformer encoder, the prompt's mel frames condition the CFM decoder, whose
output past the prompt is vocoded by HiFT. Composed from the package's modules here so that:
- the CFM decoder (ten Euler steps of the U-Net, each on guided and unguided rows; most of S3Gen's
  work) runs once for the whole batch, items right-padded and masked. The decoder is causal, so
  padding after an item does not reach it;
- the encoder runs per item: its look-ahead convolution would see the padding of a shorter item;
- HiFT runs per item, under the item's seed: its source excitation draws noise from the global
  generator, which a batch cannot split per item;
- each item's starting noise comes from a generator seeded for that item, so an item renders the
  same alone or in any batch.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deployments.chatterbox.futures import settle

logger = logging.getLogger(__name__)

CFM_STEPS = 10  # S3Token2Wav.flow_inference's default for the released (non-meanflow) model


@dataclass(eq=False)
class S3GenJob:
    tokens: torch.Tensor  # 1-D speech tokens
    reference: dict  # S3Gen's reference dict: prompt_token, prompt_feat, embedding (never modified here)
    seed: int


def _encode(s3gen, job: S3GenJob) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """One item's decoder inputs: mu and cond (80, frames), speaker (80,), and its prompt's frame count."""
    flow, device, dtype = s3gen.flow, s3gen.device, s3gen.dtype
    prompt_token = job.reference["prompt_token"].to(device).long()
    prompt_feat = job.reference["prompt_feat"].to(device=device, dtype=dtype)
    embedding = torch.atleast_2d(job.reference["embedding"].to(device=device, dtype=dtype))
    speaker = flow.spk_embed_affine_layer(F.normalize(embedding, dim=1))
    token = torch.cat([prompt_token, job.tokens.to(device).long()[None]], dim=1)
    hidden, _ = flow.encoder(flow.input_embedding(token), torch.tensor([token.shape[1]], device=device))
    mu = flow.encoder_proj(hidden)[0].transpose(0, 1)
    prompt_frames = prompt_feat.shape[1]
    cond = torch.zeros_like(mu)
    cond[:, :prompt_frames] = prompt_feat[0].transpose(0, 1)
    return mu, cond, speaker[0], prompt_frames


def render(s3gen, jobs: list[S3GenJob], steps: int = CFM_STEPS) -> list[np.ndarray]:
    """Float32 mono audio at 24 kHz for each job, in order; `steps` Euler steps of the CFM decoder."""
    device, dtype = s3gen.device, s3gen.dtype
    with torch.inference_mode():
        encoded = [_encode(s3gen, job) for job in jobs]
        frames = [mu.shape[1] for mu, *_ in encoded]
        longest = max(frames)
        mu = torch.zeros(len(jobs), 80, longest, device=device, dtype=dtype)
        cond = torch.zeros_like(mu)
        noise = torch.zeros_like(mu)
        mask = torch.zeros(len(jobs), 1, longest, device=device, dtype=dtype)
        for i, ((item_mu, item_cond, _, _), job, length) in enumerate(zip(encoded, jobs, frames)):
            mu[i, :, :length], cond[i, :, :length], mask[i, :, :length] = item_mu, item_cond, 1
            generator = torch.Generator(device=device).manual_seed(job.seed)
            noise[i, :, :length] = torch.randn(80, length, generator=generator, device=device, dtype=dtype)
        speakers = torch.stack([speaker for _, _, speaker, _ in encoded])
        decoder = s3gen.flow.decoder
        t_span = torch.linspace(0, 1, steps + 1, device=device, dtype=dtype)
        if decoder.t_scheduler == "cosine":
            t_span = 1 - torch.cos(t_span * 0.5 * torch.pi)
        mels = decoder.solve_euler(noise, t_span=t_span, mu=mu, mask=mask, spks=speakers, cond=cond)
        return [_vocode(s3gen, mels[i:i + 1, :, prompt:length], job.seed)
                for i, ((*_, prompt), job, length) in enumerate(zip(encoded, jobs, frames))]


def _vocode(s3gen, mel: torch.Tensor, seed: int) -> np.ndarray:
    devices = [s3gen.device] if s3gen.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        wav, _ = s3gen.mel2wav.inference(speech_feat=mel.to(s3gen.dtype),
                                         cache_source=torch.zeros(1, 1, 0, device=s3gen.device, dtype=s3gen.dtype))
    fade = s3gen.trim_fade
    wav[:, :len(fade)] *= fade  # as S3Token2Wav.inference: the first 20 ms are silenced, then faded in
    return wav[0].float().cpu().numpy()


class S3GenBatcher:
    """One loop per replica in front of S3Gen: jobs that arrive while a pass runs go together in the next
    one (up to `max_batch`); a lone job starts at once."""

    def __init__(self, s3gen, max_batch: int, steps: int = CFM_STEPS):
        self._s3gen = s3gen
        self.max_batch = max_batch
        self._steps = steps
        self._waiting: deque[tuple[S3GenJob, Future]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self.batch_sizes: list[int] = []  # of every pass, for tests and the benchmark
        self._thread = threading.Thread(target=self._loop, name="s3gen-batcher", daemon=True)
        self._thread.start()

    def submit(self, job: S3GenJob) -> Future:
        """A future of the job's audio (float32, 24 kHz)."""
        (future,) = self.submit_all([job])
        return future

    def submit_all(self, jobs: list[S3GenJob]) -> list[Future]:
        """Futures of several jobs queued at once (the pieces of one input), so that they share a pass."""
        futures = [Future() for _ in jobs]
        with self._wake:
            if self._closed:
                raise RuntimeError("the S3Gen batcher is closed")
            self._waiting.extend(zip(jobs, futures))
            self._wake.notify()
        return futures

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._waiting:
                    self._wake.wait()
                if self._closed:
                    break
                batch = []
                while self._waiting and len(batch) < self.max_batch:
                    job, future = self._waiting.popleft()
                    if not future.cancelled():
                        batch.append((job, future))
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            try:
                outputs = render(self._s3gen, [job for job, _ in batch], self._steps)
            except Exception as exc:  # a failed pass fails its jobs, not the replica
                logger.exception("S3Gen pass failed")
                outputs = [exc] * len(batch)
            for (_, future), output in zip(batch, outputs):
                if isinstance(output, Exception):
                    settle(future, exception=output)
                else:
                    settle(future, output)
        for _, future in self._waiting:
            future.cancel()
