"""One loaded S3Gen for voice conversion: the speech tokens of an input, spoken in a target's voice.

Composed from the package's ChatterboxVC parts (S3Gen and the Perth watermarker) rather than
through `ChatterboxVC.generate`, which reads files, keeps the target on the model and converts a
whole input at once. Speech tokens come from here; S3Gen renders them in the engine's S3Gen
batcher, batched with the pieces of other conversions.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from chatterbox.models.s3gen import S3GEN_SR
from chatterbox.models.s3tokenizer import S3_SR
from chatterbox.tts import Conditionals
from chatterbox.vc import ChatterboxVC

from deployments.s3gen.batcher import S3GenItem

Target = dict  # S3Gen's reference dict: prompt tokens and mel frames, speaker embedding


def target_nbytes(target: Target) -> int:
    return sum(value.nbytes for value in target.values() if torch.is_tensor(value))


class ConversionModel:
    sr = S3GEN_SR  # output rate
    input_sr = S3_SR  # S3Gen's tokenizer hears 16 kHz

    def __init__(self, ckpt_dir: Path, device: str):
        # from_local reads s3gen.safetensors (and conds.pt, unused here) and makes the watermarker.
        self._vc = ChatterboxVC.from_local(ckpt_dir, device)
        self.device = device

    def reference_target(self, wav: np.ndarray) -> Target:
        """The target voice of a 24 kHz recording."""
        return self._vc.s3gen.embed_ref(wav, S3GEN_SR, device=self.device)

    def library_target(self, conditionals: bytes) -> Target:
        """The target voice of a library voice: S3Gen's part of the Conditionals Chatterbox prepared."""
        return Conditionals.load(io.BytesIO(conditionals), map_location=self.device).to(self.device).gen

    @property
    def s3gen(self):
        return self._vc.s3gen

    def s3gen_item(self, wav: np.ndarray, target: Target) -> S3GenItem:
        """The S3Gen item that speaks `wav` (16 kHz) in the target's voice."""
        s3gen = self._vc.s3gen
        # Padded to whole 40 ms tokens, so that the last partial token is heard too.
        (padded,) = s3gen.tokenizer.pad([torch.from_numpy(wav)], S3_SR)
        with torch.inference_mode():
            tokens, _ = s3gen.tokenizer(padded.to(self.device))
        # A fixed seed for S3Gen's starting noise: the same input and target give the same audio.
        return S3GenItem(tokens[0], target, seed=0)

    @staticmethod
    def fit(out: np.ndarray, wav: np.ndarray) -> np.ndarray:
        """S3Gen's output of `wav` cut or padded to exactly the input's length."""
        length = round(len(wav) * S3GEN_SR / S3_SR)
        return np.pad(out[:length], (0, max(0, length - len(out))))

    def watermark(self, wav: np.ndarray) -> np.ndarray:
        return self._vc.watermarker.apply_watermark(wav, sample_rate=self.sr).astype(np.float32, copy=False)
