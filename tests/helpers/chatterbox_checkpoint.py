"""A Chatterbox checkpoint with random weights, for tests on machines without the real one.

Same files and layout as the released checkpoint, loaded by the same code
(deployments.chatterbox.checkpoint), with full-size VoiceEncoder and S3Gen and a T3 of two
layers (the loader takes T3's depth from its weights; the width must stay 1024, which the
conditioning modules assume). Random weights make noise, never speech, and T3 hardly ever emits its
stop token (one chance in 8194 a step): cap `max_new_tokens`.

    python -m tests.helpers.chatterbox_checkpoint DIR    # build one by hand
"""

from __future__ import annotations

import io
import string
import sys
from pathlib import Path

import numpy as np
import soundfile
import torch
from chatterbox.models.s3gen import S3Gen
from chatterbox.models.t3.modules.t3_config import T3Config
from chatterbox.models.tokenizers import EnTokenizer
from chatterbox.models.tokenizers.tokenizer import EOT, SOT, SPACE, SPECIAL_TOKENS, UNK
from chatterbox.models.voice_encoder import VoiceEncoder
from chatterbox.tts import ChatterboxTTS
from safetensors.torch import save_file
from tokenizers import Tokenizer, models

from deployments.chatterbox import checkpoint

T3_LAYERS = 2
BUILTIN_VOICE_SR = 24_000


def text_tokenizer() -> Tokenizer:
    """Character-level: ids of T3's stop/start text tokens for [STOP]/[START], printable ASCII."""
    hp = T3Config.english_only()
    vocab = {EOT: hp.stop_text_token, UNK: 1, SPACE: 2}
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab[char] = len(vocab)
    vocab[SOT] = hp.start_text_token
    for token in SPECIAL_TOKENS:
        vocab.setdefault(token, len(vocab))
    assert len(set(vocab.values())) == len(vocab) and max(vocab.values()) < hp.text_tokens_dict_size
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    # Special tokens match as a whole ("[SPACE]" is how EnTokenizer writes a space) and keep their ids.
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return tokenizer


def build_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write a random-weight checkpoint into `path` (created if needed); the same seed, the same files.

    Like the released one it ships a built-in voice (conds.pt), made from `builtin_voice_clip()`.
    """
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    ve, t3, s3gen = VoiceEncoder().eval(), checkpoint.t3_with_layers(T3_LAYERS).eval(), S3Gen().eval()
    save_file(ve.state_dict(), path / checkpoint.VOICE_ENCODER)
    save_file(t3.state_dict(), path / checkpoint.T3_WEIGHTS)
    save_file(s3gen.state_dict(), path / checkpoint.S3GEN_WEIGHTS)
    text_tokenizer().save(str(path / checkpoint.TOKENIZER))

    tts = ChatterboxTTS(t3, s3gen, ve, EnTokenizer(str(path / checkpoint.TOKENIZER)), "cpu")
    wav = io.BytesIO()
    soundfile.write(wav, builtin_voice_clip(), BUILTIN_VOICE_SR, format="WAV", subtype="FLOAT")
    wav.seek(0)
    tts.prepare_conditionals(wav)
    tts.conds.save(path / checkpoint.BUILTIN_VOICE)
    return path


def builtin_voice_clip() -> np.ndarray:
    return harmonic_clip(1.5, BUILTIN_VOICE_SR, f0=180, seed=3)


def harmonic_clip(seconds: float, sample_rate: int, f0: float, seed: int = 0) -> np.ndarray:
    """A voice-like float32 clip: a gliding harmonic tone, syllable-rate loudness, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    wav = 0.3 * tone * syllables / 2 + 0.01 * rng.standard_normal(len(t))
    return wav.astype(np.float32)


if __name__ == "__main__":
    print(build_checkpoint(Path(sys.argv[1])))
