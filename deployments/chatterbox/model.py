"""One loaded Chatterbox model: voices from reference audio, and the audio of one chunk of text.

Composed from the package's parts (T3, S3Gen, the Perth watermarker) rather than through
`ChatterboxTTS.generate`, which caps T3 at 1000 tokens, reads the voice from `self.conds` and
fails with cfg_weight=0. Not thread-safe: the engine runs one call at a time.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile
import torch
import torch.nn.functional as F
from chatterbox.models.s3tokenizer import SPEECH_VOCAB_SIZE, drop_invalid_tokens
from chatterbox.models.t3.modules.cond_enc import T3Cond
from chatterbox.tts import Conditionals, punc_norm

from deployments.chatterbox import checkpoint
from deployments.chatterbox.protocol import ChatterboxParams


def voice_nbytes(voice: Conditionals) -> int:
    tensors = [*vars(voice.t3).values(), *voice.gen.values()]
    return sum(t.nbytes for t in tensors if torch.is_tensor(t))


class ChatterboxModel:
    def __init__(self, ckpt_dir: Path, device: str):
        self._tts, self.builtin_voice = checkpoint.load(ckpt_dir, device)
        self.device = device

    @property
    def sr(self) -> int:
        return self._tts.sr

    @property
    def max_text_tokens(self) -> int:
        return self._tts.t3.hp.max_text_tokens

    def prepare_voice(self, wav: np.ndarray, sample_rate: int) -> Conditionals:
        # prepare_conditionals reads its reference with librosa.load (resampling it), which also
        # takes a file object: an in-memory WAV, so no temporary file to clean up.
        buffer = io.BytesIO()
        soundfile.write(buffer, wav, sample_rate, format="WAV", subtype="FLOAT")
        buffer.seek(0)
        self._tts.prepare_conditionals(buffer)
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

    def text_tokens(self, text: str) -> torch.Tensor:
        """(1, n) token ids of one chunk, after the package's punctuation clean-up."""
        return self._tts.tokenizer.text_to_tokens(punc_norm(text))

    def synthesize(self, text_tokens: torch.Tensor, voice: Conditionals, params: ChatterboxParams,
                   max_new_tokens: int) -> np.ndarray:
        # Unseeded calls reseed from the OS so that none replays the draws of a seeded one.
        if params.seed is None:
            torch.seed()
        else:
            torch.manual_seed(params.seed)
        t3 = self._tts.t3
        # A T3Cond of this call's own: T3 stores the prompt embedding in the one it is given, and
        # the voice may be shared through the cache.
        t3_cond = T3Cond(
            speaker_emb=voice.t3.speaker_emb,
            cond_prompt_speech_tokens=voice.t3.cond_prompt_speech_tokens,
            emotion_adv=params.exaggeration * torch.ones(1, 1, 1),
        ).to(device=self.device)
        # T3 always decodes a (conditional, unconditional) pair of rows: it stacks two
        # start-of-speech rows whatever cfg_weight is. ChatterboxTTS.generate passes a single
        # text row when cfg_weight is 0, hence its crash. With two rows and weight 0, T3 leaves
        # the second text row in place and the guided logits are exactly the conditional ones.
        tokens = text_tokens.to(self.device).repeat(2, 1)
        tokens = F.pad(tokens, (1, 0), value=t3.hp.start_text_token)
        tokens = F.pad(tokens, (0, 1), value=t3.hp.stop_text_token)
        with torch.inference_mode():
            speech = t3.inference(
                t3_cond=t3_cond,
                text_tokens=tokens,
                max_new_tokens=max_new_tokens,
                temperature=params.temperature,
                cfg_weight=params.cfg_weight,
                repetition_penalty=params.repetition_penalty,
                min_p=params.min_p,
                top_p=params.top_p,
            )[0]
            speech = drop_invalid_tokens(speech)
            speech = speech[speech < SPEECH_VOCAB_SIZE]
            if len(speech) == 0:
                return np.zeros(0, dtype=np.float32)
            # A copy of the reference dict: S3Gen converts its entries in place.
            wav, _ = self._tts.s3gen.inference(speech_tokens=speech, ref_dict=dict(voice.gen))
        wav = wav.squeeze(0).cpu().numpy()
        if not params.no_watermark:
            wav = self._tts.watermarker.apply_watermark(wav, sample_rate=self.sr)
        return wav.astype(np.float32, copy=False)
