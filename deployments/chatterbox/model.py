"""One loaded model of the Chatterbox family: voices from reference audio, and the parts of a chunk's
generation.

Composed from the package's parts (T3, S3Gen, the Perth watermarker) rather than through the classes'
`generate`, which runs one request at a time, caps T3 at 1000 tokens, reads the voice from
`self.conds` (and, in the original, fails with cfg_weight=0). Here a chunk becomes a T3 stream (its
prompt embeddings, decoded with others by the T3 batcher) and then an S3Gen item (rendered with others
by the S3Gen batcher); voice preparation is not thread-safe and the engine runs it under a lock. What
differs between the models is how text becomes tokens and a T3 prompt, and what S3Gen is given:
`model_for` picks the class.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile
import torch
import torch.nn.functional as F
from chatterbox.models.s3gen.const import S3GEN_SIL
from chatterbox.models.s3tokenizer import SPEECH_VOCAB_SIZE, drop_invalid_tokens
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.tts import Conditionals, punc_norm
from chatterbox.tts_turbo import punc_norm as turbo_punc_norm

from deployments.chatterbox import checkpoint
from deployments.chatterbox.protocol import (
    CHATTERBOX_MODELS,
    DEFAULT_LANGUAGE,
    MULTILINGUAL,
    ORIGINAL,
    TURBO,
    ChatterboxParams,
)
from deployments.chatterbox.t3_batcher import T3Stream
from deployments.chatterbox.t3_sampling import Sampling
from deployments.s3gen.batcher import S3GenItem
from ground.errors import InvalidRequest


def voice_nbytes(voice: Conditionals) -> int:
    tensors = [*vars(voice.t3).values(), *voice.gen.values()]
    return sum(t.nbytes for t in tensors if torch.is_tensor(t))


class ChatterboxModel:
    """The original: English, Llama T3 with classifier-free guidance, S3Gen in ten steps."""

    name = ORIGINAL

    def __init__(self, ckpt_dir: Path, device: str):
        self._tts, self.builtin_voice = checkpoint.load(self.name, ckpt_dir, device)
        self.device = device
        self.spec = CHATTERBOX_MODELS[self.name]

    @property
    def t3(self):
        return self._tts.t3

    @property
    def s3gen(self):
        return self._tts.s3gen

    @property
    def sr(self) -> int:
        return self._tts.sr

    @property
    def max_text_tokens(self) -> int:
        return self._tts.t3.hp.max_text_tokens

    def prepare_voice(self, wav: np.ndarray, sample_rate: int, **options) -> Conditionals:
        # prepare_conditionals reads its reference with librosa.load (resampling it), which also
        # takes a file object: an in-memory WAV, so no temporary file to clean up.
        buffer = io.BytesIO()
        soundfile.write(buffer, wav, sample_rate, format="WAV", subtype="FLOAT")
        buffer.seek(0)
        with torch.inference_mode():  # no autograd state kept for the voice's tensors
            self._tts.prepare_conditionals(buffer, **options)
        # It leaves the voice on the model; take it off so that nothing can use it by accident.
        voice, self._tts.conds = self._tts.conds, None
        return voice

    def save_voice(self, voice: Conditionals) -> bytes:
        # Saved from the CPU so that any device can load it; a copy, since `to` moves in place.
        on_cpu = Conditionals(T3Cond(**vars(voice.t3)), dict(voice.gen)).to("cpu")
        buffer = io.BytesIO()
        on_cpu.save(buffer)
        return buffer.getvalue()

    def load_voice(self, data: bytes) -> Conditionals:
        return Conditionals.load(io.BytesIO(data), map_location=self.device).to(self.device)

    def text_tokens(self, text: str, language: str | None = None) -> torch.Tensor:
        """(1, n) token ids of one chunk, after the package's punctuation clean-up."""
        return self._tts.tokenizer.text_to_tokens(punc_norm(text))

    def t3_stream(self, text_tokens: torch.Tensor, voice: Conditionals, params: ChatterboxParams,
                  seed: int) -> T3Stream:
        """A chunk's T3 prompt, laid out as T3.inference lays it out: the voice's conditioning, the
        text between its start and stop tokens (with positions), then the start-of-speech token
        twice (the initial speech token, and the BOS the loop appends). A guided stream adds the
        unconditional row: the same, with the text's token embeddings zeroed (its positions stay)."""
        t3 = self._tts.t3
        with torch.inference_mode():
            # A T3Cond of this call's own: T3 stores the prompt embedding in the one it is given, and
            # the voice may be shared through the cache.
            t3_cond = T3Cond(speaker_emb=voice.t3.speaker_emb,
                             cond_prompt_speech_tokens=voice.t3.cond_prompt_speech_tokens,
                             emotion_adv=params.exaggeration * torch.ones(1, 1, 1)).to(device=self.device)
            cond = t3.prepare_conditioning(t3_cond)
            tokens = F.pad(text_tokens.to(self.device), (1, 0), value=t3.hp.start_text_token)
            tokens = F.pad(tokens, (0, 1), value=t3.hp.stop_text_token)
            text, text_positions = t3.text_emb(tokens), t3.text_pos_emb(tokens)
            start = t3.speech_emb(torch.tensor([[t3.hp.start_speech_token]], device=self.device))
            start = start + t3.speech_pos_emb.get_fixed_embedding(0)
            rows = [torch.cat([cond, text + text_positions, start, start], dim=1)]
            if params.cfg_weight > 0:
                rows.append(torch.cat([cond, text_positions.expand_as(text), start, start], dim=1))
            prompt = torch.cat(rows)
        return T3Stream(prompt, Sampling.of(params, self.spec), seed)

    def speech_tokens(self, t3_tokens: torch.Tensor) -> torch.Tensor:
        """The tokens S3Gen can speak, of what T3 produced."""
        speech = drop_invalid_tokens(t3_tokens)
        return speech[speech < SPEECH_VOCAB_SIZE]

    def s3gen_item(self, speech: torch.Tensor, voice: Conditionals, seed: int) -> S3GenItem:
        return S3GenItem(speech.to(self.device), voice.gen, seed)

    def watermark(self, wav: np.ndarray) -> np.ndarray:
        # Under inference_mode: outside it the watermarker's torch model has been seen to keep 0.5-1 GB a call.
        with torch.inference_mode():
            return self._tts.watermarker.apply_watermark(wav, sample_rate=self.sr).astype(np.float32, copy=False)


class MultilingualModel(ChatterboxModel):
    """23 languages: the original's T3 layout and guidance over a tokenizer that prepares each language's text
    and starts it with the language's token."""

    name = MULTILINGUAL

    def text_tokens(self, text: str, language: str | None = None) -> torch.Tensor:
        return self._tts.tokenizer.text_to_tokens(punc_norm(text), language_id=language or DEFAULT_LANGUAGE)


class TurboModel(ChatterboxModel):
    """GPT-2 T3 without guidance or emotion input, paralinguistic tags in the text, meanflow S3Gen."""

    name = TURBO

    def prepare_voice(self, wav: np.ndarray, sample_rate: int) -> Conditionals:
        # The package normalises the loudness itself with a float64 gain, which under NumPy 2 turns the
        # clip into float64 and fails in the S3 tokenizer's float32 mel filterbank: normalised here, in float32.
        wav = self._tts.norm_loudness(wav, sample_rate).astype(np.float32)
        try:
            return super().prepare_voice(wav, sample_rate, norm_loudness=False)
        except AssertionError as exc:  # the package's own check: a prompt longer than 5 s
            raise InvalidRequest(f"Chatterbox Turbo needs a reference clip longer than "
                                 f"{self.spec.min_reference_sec:g} s", param="reference_audio") from exc

    def text_tokens(self, text: str, language: str | None = None) -> torch.Tensor:
        # GPT-2's tokenizer reads the tags ("[laugh]") as the tokens Turbo added for them.
        return self._tts.tokenizer(turbo_punc_norm(text), return_tensors="pt").input_ids

    def t3_stream(self, text_tokens: torch.Tensor, voice: Conditionals, params: ChatterboxParams,
                  seed: int) -> T3Stream:
        """As T3.inference_turbo lays the prompt out: the voice's conditioning, the text's embeddings (GPT-2
        adds the positions), one start-of-speech token. One row: Turbo has no guidance."""
        t3 = self._tts.t3
        with torch.inference_mode():
            t3_cond = T3Cond(speaker_emb=voice.t3.speaker_emb,
                             cond_prompt_speech_tokens=voice.t3.cond_prompt_speech_tokens).to(device=self.device)
            cond = t3.prepare_conditioning(t3_cond)
            text = t3.text_emb(text_tokens.to(self.device))
            start = t3.speech_emb(torch.tensor([[t3.hp.start_speech_token]], device=self.device))
            prompt = torch.cat([cond, text, start], dim=1)
        return T3Stream(prompt, Sampling.of(params, self.spec, penalty_last=True), seed)

    def speech_tokens(self, t3_tokens: torch.Tensor) -> torch.Tensor:
        # As ChatterboxTurboTTS.generate: S3Gen's tokens only, then a little silence so that the end is not clipped.
        speech = t3_tokens[t3_tokens < SPEECH_VOCAB_SIZE]
        return torch.cat([speech, torch.full((3,), S3GEN_SIL, dtype=speech.dtype, device=speech.device)])


MODEL_CLASSES: dict[str, type[ChatterboxModel]] = {
    model.name: model for model in (ChatterboxModel, TurboModel, MultilingualModel)}


def model_for(name: str, ckpt_dir: Path, device: str) -> ChatterboxModel:
    return MODEL_CLASSES[name](ckpt_dir, device)
